/**
 * wg-controller: one per node. Converges this node's WireGuardInterface objects (spec.node = -nodename) to the
 * kernel: links, addresses, MTU, WireGuard devices (kernel module or wireguard-go), in the host namespace or
 * moved into a container's namespace. Reference flags plus ours (-wg-poll-interval, -wg-status-stats-interval,
 * -wg-backend, -docker-host, -metrics-bind-address, -wg-state-dir).
 */
import { Gauge } from "prom-client";
import { KINDS, NODE_FIELD } from "../api/constants.ts";
import type { WireGuardInterface } from "../api/wireguard_interface.ts";
import { watchReadiness } from "../controllers/readiness_metrics.ts";
import { PeerMetrics } from "../controllers/wg/peer_metrics.ts";
import { WGI_RESOURCE, WgReconciler } from "../controllers/wg/reconciler.ts";
import { KubeClient, objectKey } from "../kube/client.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { Controller, specOrLifecycleChanged } from "../kube/controller.ts";
import { EventRecorder } from "../kube/events.ts";
import { Informer } from "../kube/informer.ts";
import { ControllerMetrics } from "../kube/metrics.ts";
import { opsListen, type OpsServer, startOpsServer } from "../kube/server.ts";
import { logger } from "../log/mod.ts";
import { DockerClient } from "../node/container.ts";
import { DriftMonitor } from "../node/monitor.ts";
import { NamespaceResolver } from "../node/placement.ts";
import { agentStateDir, WgNode } from "../node/wireguard/executor.ts";
import type { BackendChoice } from "../wireguard/client.ts";
import { COMMON_FLAGS, metricsAddressFlag, NODE_FLAGS, runProgram } from "./program.ts";

const PROGRAM = "wg-controller";

/** Flags of wg-controller. */
export const WG_CONTROLLER_FLAGS = {
  ...COMMON_FLAGS,
  ...NODE_FLAGS,
  "num-workers": {
    ...COMMON_FLAGS["num-workers"],
    default: 8,
    usage: "Number of reconcile workers (the reference's default is 1; starting wireguard-go daemons one at a time " +
      "makes a cold start of many interfaces needlessly slow).",
  },
  "default-resync-period": {
    ...COMMON_FLAGS["default-resync-period"],
    usage: "Seconds between full resyncs of every object (drift detection). Keys from Secrets are read again at " +
      "least this often (and on every spec change): a rotated Secret is applied within this period plus " +
      "-wg-poll-interval.",
  },
  "wg-poll-interval": {
    type: "int",
    default: 10,
    min: 1,
    usage: "Seconds between WireGuard device polls (peer, key and port drift cannot be watched).",
  },
  "wg-status-stats-interval": {
    type: "int",
    default: 60,
    min: 0,
    usage: "Seconds between status writes that only update peer counters (latest handshake, bytes) of an " +
      "object; other status changes are written at once. 0 writes counters on every change.",
  },
  "wg-backend": {
    type: "string",
    default: "auto",
    choices: ["auto", "kernel", "userspace"],
    usage: "WireGuard implementation: auto (kernel module if present, else wireguard-go), kernel, userspace.",
  },
  "docker-host": {
    type: "string",
    default: "",
    usage: "Docker Engine API socket as unix:///path (default $DOCKER_HOST, else /var/run/docker.sock).",
  },
  "metrics-bind-address": metricsAddressFlag(":8080"),
  "wg-state-dir": {
    type: "string",
    default: "",
    usage: "Directory of this agent's wireguard-go PID, log and UAPI socket files (daemons found there after a " +
      "restart are adopted; daemons of other directories are never touched). Empty: " +
      "/run/dn42op/wireguard-go/<-namespace, _all for all>/<-nodename>, one per agent.",
  },
} as const;

if (import.meta.main) {
  await runProgram(PROGRAM, WG_CONTROLLER_FLAGS, async (f, signal) => {
    const log = logger(PROGRAM);
    if (!f.nodename) {
      log.error("-nodename is required");
      return 2;
    }
    let docker: DockerClient;
    try {
      docker = new DockerClient({ dockerHost: f["docker-host"] || undefined });
    } catch (e) {
      log.error("invalid -docker-host", { error: (e as Error).message });
      return 2;
    }
    const client = new KubeClient(loadKubeConfig({ kubeconfig: f.kubeconfig, master: f.master }));
    const informer = new Informer<WireGuardInterface>(client, {
      resource: WGI_RESOURCE,
      namespace: f.namespace || undefined,
      fieldSelector: `${NODE_FIELD}=${f.nodename}`,
      resyncPeriodMs: f["default-resync-period"] * 1000,
    });
    const resolver = new NamespaceResolver({ docker });
    const agent = { node: f.nodename, namespace: f.namespace };
    const node = new WgNode(resolver.host.ns, {
      agent,
      backend: f["wg-backend"] as BackendChoice,
      // a loaded node can take seconds to start a daemon; killing and retrying it would only add work
      wireguardGo: { stateDir: f["wg-state-dir"] || agentStateDir(agent), startTimeoutMs: 30_000 },
    });
    const enqueueAll = () => informer.store.list().forEach((o) => ctl.enqueue(objectKey(o)));
    const monitor = new DriftMonitor({
      agent: { kind: "wg", ...agent },
      enqueue: (k) => ctl.enqueue(k),
      resyncAll: enqueueAll,
      knownKeys: () => informer.store.list().map(objectKey),
    });
    const metrics = new ControllerMetrics();
    const reconciler = new WgReconciler({
      client,
      informer,
      resolver,
      node,
      monitor,
      events: new EventRecorder(client, { component: PROGRAM, host: f.nodename }),
      nodename: f.nodename,
      namespace: f.namespace,
      dryRun: f["dry-run"],
      pollIntervalMs: f["wg-poll-interval"] * 1000,
      statsIntervalMs: f["wg-status-stats-interval"] * 1000,
      keyMaxAgeMs: f["default-resync-period"] * 1000,
      metrics,
      controllerName: PROGRAM,
      peers: new PeerMetrics(metrics.registry, f.nodename),
    });
    const ctl: Controller<WireGuardInterface> = new Controller({
      name: PROGRAM,
      informer,
      reconcile: reconciler.reconcile,
      workers: f["num-workers"],
      metrics,
      shouldEnqueueUpdate: specOrLifecycleChanged,
    });
    resolver.listen(monitor);
    resolver.listen({ closing: (t) => node.forget(t.ns) });
    new Gauge({
      name: "dn42op_managed_links",
      help: "WireGuard links this agent manages",
      registers: [metrics.registry],
      collect() {
        this.set(reconciler.managed);
      },
    });
    metrics.watchInformers([informer]);
    watchReadiness(metrics.registry, KINDS.WireGuardInterface.kind, informer.store);
    const listen = opsListen(f["metrics-bind-address"], ":8080");
    let ops: OpsServer | undefined;
    if (listen) {
      ops = await startOpsServer({
        ...listen,
        metrics: () => metrics.exposition(),
        readyz: [ctl.readyCheck()],
      });
    }
    if (f["dry-run"]) log.info("dry-run: nothing on this node will be changed");

    // Orphan sweep: once the cache has synced, then every resync period.
    const sweep = async () => {
      if (await informer.waitForSync(signal)) {
        await reconciler.sweep(signal).catch((e) => log.error("sweep failed", { error: String(e) }));
      }
    };
    const sweeper = setInterval(sweep, f["default-resync-period"] * 1000);
    void sweep();
    try {
      await ctl.run(signal);
    } finally {
      clearInterval(sweeper);
      await reconciler.close();
      await monitor.stop();
      await informer.stop();
      await resolver.close();
      await ops?.shutdown();
    }
    return 0;
  });
}
