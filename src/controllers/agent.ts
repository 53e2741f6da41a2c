/**
 * What the two node agents (wg-controller, nl-controller) share, on top of the {@link Manager}: the informer on this
 * node's objects (server-side field selector spec.node), the Docker client and namespace resolver, the drift monitor
 * feeding the controller's queue from rtnetlink events, the Event recorder, the controller itself, the orphan sweep
 * (once the cache has synced, then every resync period), the heartbeat Lease (not in a dry run), the agent metrics (`dn42op_managed_links` and
 * `dn42op_netlink_events`, each labelled `kind`; `dn42op_object_ready`) and the shutdown order of these parts.
 */
import { NODE_FIELD } from "../api/constants.ts";
import { KubeClient, type KubeObject, type ResourceType } from "../kube/client.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { OwnWrites } from "../kube/own_writes.ts";
import { Controller, type Reconciler, specOrLifecycleChanged } from "../kube/controller.ts";
import { EventRecorder } from "../kube/events.ts";
import { HeartbeatPublisher } from "../kube/heartbeat.ts";
import { Informer } from "../kube/informer.ts";
import { ConfigError, Manager } from "../kube/manager.ts";
import type { OpsServerOptions } from "../kube/server.ts";
import { logger } from "../log/mod.ts";
import { DockerClient } from "../node/container.ts";
import { DriftMonitor } from "../node/monitor.ts";
import type { OwnerKind } from "../node/ownership.ts";
import { NamespaceResolver } from "../node/placement.ts";
import { watchReadiness } from "./readiness_metrics.ts";

/** Settings of a node agent, from the flags both share. */
export interface AgentConfig {
  kubeconfig: string;
  master: string;
  /** "" = all namespaces. */
  namespace: string;
  nodename: string;
  workers: number;
  resyncSeconds: number;
  dryRun: boolean;
  /** Where /metrics, /healthz, /readyz listen (src/kube/server.ts `opsListen`); undefined: no server. */
  ops?: Pick<OpsServerOptions, "address" | "fallbackToFreePort">;
  /** DOCKER_HOST-style value; "" = environment / default socket. */
  dockerHost: string;
  /** Namespace and duration (seconds) of this agent's heartbeat Lease. */
  heartbeat: { namespace: string; leaseDurationSeconds: number };
}

/** The parts an agent's reconciler is built from. */
export interface AgentParts<T extends KubeObject> {
  manager: Manager;
  client: KubeClient;
  informer: Informer<T>;
  docker: DockerClient;
  resolver: NamespaceResolver;
  monitor: DriftMonitor;
  events: EventRecorder;
  /** Queues a key on the agent's controller. */
  enqueue(key: string): void;
  /** Pass it to the finalizer writes: the controller drops their echoes (src/kube/own_writes.ts). */
  ownWrites: OwnWrites;
}

/** What an agent's reconciler offers the runtime. */
export interface AgentReconciler {
  reconcile: Reconciler;
  /** Removes this agent's marked links (and daemons) whose owner is proven gone; once synced, then every resync. */
  sweep(signal?: AbortSignal): Promise<void>;
  /** Links currently managed (dn42op_managed_links). */
  managedLinks(): number;
  /** Flushes pending status writes. */
  close(): Promise<void>;
}

/** The shape of one node agent. */
export interface AgentSpec<T extends KubeObject> {
  program: string;
  /** Source component of the agent's Events (its field manager name). */
  component: string;
  /** Owner-mark kind of its links; also the `kind` label of the agent metrics. */
  kind: OwnerKind;
  /** The custom resource's kind, for `dn42op_object_ready`. */
  objectKind: string;
  resource: ResourceType;
  /** Builds the reconciler from the shared parts (may register more runnables on `parts.manager`). */
  reconciler(parts: AgentParts<T>): AgentReconciler;
}

/** Builds a node agent's manager; `run(signal)` it. Throws {@link ConfigError} for an unusable -docker-host. */
export function nodeAgent<T extends KubeObject>(c: AgentConfig, spec: AgentSpec<T>): Manager {
  const log = logger(spec.program);
  let docker: DockerClient;
  try {
    docker = new DockerClient({ dockerHost: c.dockerHost || undefined });
  } catch (e) {
    throw new ConfigError(`invalid -docker-host: ${(e as Error).message}`);
  }
  const client = new KubeClient(loadKubeConfig({ kubeconfig: c.kubeconfig, master: c.master }));
  const manager = new Manager({
    name: spec.program,
    client,
    ops: c.ops,
  });
  const informer = new Informer<T>(client, {
    resource: spec.resource,
    namespace: c.namespace || undefined,
    fieldSelector: `${NODE_FIELD}=${c.nodename}`,
    resyncPeriodMs: c.resyncSeconds * 1000,
  });
  const resolver = new NamespaceResolver({ docker });
  // events may arrive before the controller exists: they go through a sink it is plugged into
  const sink = { enqueue: (_key: string) => {} };
  const ownWrites = new OwnWrites();
  const monitor = new DriftMonitor({
    agent: { kind: spec.kind, node: c.nodename, namespace: c.namespace },
    enqueue: (k) => sink.enqueue(k),
    resyncAll: (reason) => {
      log.info("full resync", { reason });
      informer.store.keys().forEach((k) => sink.enqueue(k));
    },
    knownKeys: () => informer.store.keys(),
  });
  resolver.listen(monitor);
  manager.onStop("docker client", () => docker.close());
  manager.onStop("namespace resolver", () => resolver.close());
  manager.onStop("drift monitor", () => monitor.stop());
  const reconciler = spec.reconciler({
    manager,
    client,
    informer,
    docker,
    resolver,
    monitor,
    events: new EventRecorder(client, { component: spec.component, host: c.nodename }),
    enqueue: (k) => sink.enqueue(k),
    ownWrites,
  });
  manager.onStop("status writes", () => reconciler.close());
  const ctl = new Controller<T>({
    name: spec.program,
    informer,
    reconcile: reconciler.reconcile,
    workers: c.workers,
    metrics: manager.metrics,
    shouldEnqueueUpdate: specOrLifecycleChanged,
    ownWrites,
  });
  sink.enqueue = (k) => ctl.enqueue(k);
  manager.addController(ctl);
  manager.addPeriodic({
    name: "sweep",
    periodMs: c.resyncSeconds * 1000,
    ready: (signal) => informer.waitForSync(signal),
    run: (signal) => reconciler.sweep(signal),
  });
  manager.metrics.customGauge("dn42op_managed_links", "Links this agent manages, by kind (wg, nl).", ["kind"], () => [
    { labels: { kind: spec.kind }, value: reconciler.managedLinks() },
  ]);
  watchReadiness(manager.metrics.registry, spec.objectKind, informer.store);
  manager.metrics.customGauge("dn42op_netlink_events", "rtnetlink events received, by agent kind.", ["kind"], () => [
    { labels: { kind: spec.kind }, value: monitor.events },
  ]);
  // A dry run releases no finalizer, so it must not make deletions wait for it: no heartbeat.
  if (!c.dryRun && c.nodename) {
    const heartbeat = new HeartbeatPublisher(client, { ...c.heartbeat, program: spec.program, node: c.nodename });
    manager.add({ name: "heartbeat", start: (signal) => heartbeat.run(signal) });
  }
  if (c.dryRun) log.info("dry-run: no link, address, status or finalizer on this node will be changed");
  return manager;
}
