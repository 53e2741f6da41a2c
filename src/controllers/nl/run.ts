/**
 * nl-controller wiring: informer (own node only, server-side field selector spec.node) → queue → reconciler;
 * namespace resolver + drift monitor feeding the same queue from rtnetlink events; periodic full resync and
 * garbage collection; /metrics, /healthz, /readyz.
 */
import { FIELD_MANAGERS, KINDS, NODE_FIELD } from "../../api/constants.ts";
import { KubeClient, objectKey } from "../../kube/client.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { sleep } from "../../kube/clock.ts";
import { Controller, specOrLifecycleChanged } from "../../kube/controller.ts";
import { EventRecorder } from "../../kube/events.ts";
import { Informer } from "../../kube/informer.ts";
import { ControllerMetrics } from "../../kube/metrics.ts";
import { type OpsServerOptions, startOpsServer } from "../../kube/server.ts";
import { logger } from "../../log/mod.ts";
import { DockerClient } from "../../node/container.ts";
import { DriftMonitor } from "../../node/monitor.ts";
import { NamespaceResolver } from "../../node/placement.ts";
import { watchReadiness } from "../readiness_metrics.ts";
import { containerKeys, followContainers } from "./containers.ts";
import type { NetlinkInterface } from "../../api/netlink_interface.ts";
import { NETLINK_INTERFACES, NlReconciler } from "./reconciler.ts";

const log = logger("nl-controller");

/** Settings of one nl-controller process. */
export interface NlControllerConfig {
  kubeconfig: string;
  master: string;
  /** "" = all namespaces. */
  namespace: string;
  nodename: string;
  workers: number;
  resyncSeconds: number;
  dryRun: boolean;
  /** Where /metrics, /healthz, /readyz listen; undefined: no server. */
  ops?: Pick<OpsServerOptions, "address" | "fallbackToFreePort">;
  /** DOCKER_HOST-style value; "" = environment / default socket. */
  dockerHost: string;
}

/** Runs until `signal` aborts; returns the exit status. */
export async function runNlController(c: NlControllerConfig, signal: AbortSignal): Promise<number> {
  if (!c.nodename) log.warn("-nodename is empty: only objects with an empty spec.node would match; none will");
  const client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfig, master: c.master }));
  const informer = new Informer<NetlinkInterface>(client, {
    resource: NETLINK_INTERFACES,
    namespace: c.namespace || undefined,
    fieldSelector: `${NODE_FIELD}=${c.nodename}`,
    resyncPeriodMs: c.resyncSeconds * 1000,
  });
  const metrics = new ControllerMetrics();
  const docker = new DockerClient(c.dockerHost ? { dockerHost: c.dockerHost } : {});
  const resolver = new NamespaceResolver({ docker });
  // events may arrive before the controller exists: forward through a sink it is plugged into
  const sink = { enqueue: (_key: string) => {} };
  const enqueueAll = () => informer.store.keys().forEach((k) => sink.enqueue(k));
  const monitor = new DriftMonitor({
    agent: { kind: "nl", node: c.nodename, namespace: c.namespace },
    enqueue: (k) => sink.enqueue(k),
    resyncAll: (reason) => {
      log.info("full resync", { reason });
      enqueueAll();
    },
    knownKeys: () => informer.store.keys(),
  });
  resolver.listen(monitor);
  const reconciler = new NlReconciler({
    client,
    store: informer.store,
    resolver,
    monitor,
    events: new EventRecorder(client, { component: FIELD_MANAGERS.nlController, host: c.nodename }),
    nodename: c.nodename,
    namespace: c.namespace,
    dryRun: c.dryRun,
    metrics,
  });
  const ctl = new Controller<NetlinkInterface>({
    name: "nl-controller",
    informer,
    reconcile: reconciler.reconcile,
    workers: c.workers,
    metrics,
    shouldEnqueueUpdate: specOrLifecycleChanged,
  });
  sink.enqueue = (k) => ctl.enqueue(k);
  metrics.watchInformers([informer]);
  watchReadiness(metrics.registry, KINDS.NetlinkInterface.kind, informer.store);
  metrics.customGauge("dn42op_managed_links", "Links managed by this agent.", ["kind"], () => [
    { labels: { kind: "nl" }, value: reconciler.managedLinks() },
  ]);
  metrics.customGauge("dn42op_netlink_events", "rtnetlink events received.", [], () => [
    { labels: {}, value: monitor.events },
  ]);
  const ops = c.ops === undefined ? undefined : await startOpsServer({
    ...c.ops,
    metrics: () => metrics.exposition(),
    readyz: [ctl.readyCheck()],
  });
  if (c.dryRun) log.info("dry-run: no link, address, status or finalizer will be changed");
  const gc = async () => {
    if (!informer.hasSynced()) return;
    try {
      await reconciler.collectGarbage(signal);
    } catch (e) {
      log.error("garbage collection failed", { error: String(e) });
    }
  };
  const gcLoop = (async () => {
    if (!(await informer.waitForSync(signal))) return;
    await gc();
    while (!signal.aborted) {
      await sleep(c.resyncSeconds * 1000, signal);
      if (!signal.aborted) await gc();
    }
  })();
  const containers = followContainers(docker, (keys) => {
    for (const o of informer.store.list()) {
      if (containerKeys(o.spec, o.metadata.namespace ?? "").some((k) => keys.includes(k))) ctl.enqueue(objectKey(o));
    }
  }, signal);
  try {
    await ctl.run(signal);
    await containers;
    await gcLoop;
  } finally {
    await reconciler.close();
    await informer.stop();
    await monitor.stop();
    await resolver.close();
    docker.close();
    await ops?.shutdown();
  }
  return 0;
}
