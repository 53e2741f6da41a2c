/**
 * The wgplan-controller process body: informers on plans and on their children (label selector: the
 * is-controlled-by label exists), the reconcile harness, leader election through a coordination.k8s.io Lease (only
 * the leader watches and writes; a replica that loses the Lease stops and exits so it restarts as a standby), and the
 * /metrics /healthz /readyz server.
 */
import { KubeClient } from "../../kube/client.ts";
import type { ClientConfigInput } from "../../kube/credentials.ts";
import { Controller, specOrLifecycleChanged } from "../../kube/controller.ts";
import { EventRecorder } from "../../kube/events.ts";
import { Informer } from "../../kube/informer.ts";
import { LeaderElector } from "../../kube/leaderelection.ts";
import { ControllerMetrics } from "../../kube/metrics.ts";
import { type OpsServer, type OpsServerOptions, startOpsServer } from "../../kube/server.ts";
import { logger } from "../../log/mod.ts";
import { LABEL_CONTROLLED_BY } from "../../plan/child.ts";
import { KINDS } from "../../api/constants.ts";
import { watchReadiness } from "../readiness_metrics.ts";
import { PlanReconciler } from "./reconciler.ts";
import { type InterfaceObject, INTERFACES, type PlanObject, PLANS } from "./resources.ts";

const log = logger("wgplan-controller");

/** Name of the program: field manager, Event component, metrics label. */
export const PROGRAM = "wgplan-controller";

/** Leader election settings. */
export interface LeaderElectionSettings {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Everything the controller needs, decided by the entry point from flags. */
export interface WgplanControllerOptions {
  kubeConfig: ClientConfigInput;
  /** Namespace of the plans; "" means all namespaces. */
  namespace: string;
  workers: number;
  resyncPeriodMs: number;
  /** Maximum concurrent child writes per plan. */
  writeConcurrency: number;
  /** Undefined: no leader election (a single replica). */
  leaderElection?: LeaderElectionSettings;
  /** Listen address of /metrics /healthz /readyz; undefined: no server. */
  ops?: Pick<OpsServerOptions, "address" | "fallbackToFreePort">;
  /** Host name for Events. */
  host: string;
  /** Called once the ops server listens (tests read the port). */
  onOpsListening?(server: OpsServer): void;
}

/** The owning plan's cache key of a child: its controller owner reference of kind WireGuardNetworkPlan. */
function planKeyOf(child: InterfaceObject): string[] {
  const ref = child.metadata.ownerReferences?.find((r) => r.controller && r.kind === "WireGuardNetworkPlan");
  return ref ? [`${child.metadata.namespace}/${ref.name}`] : [];
}

/** Builds the controller (informers not yet started). */
function buildController(client: KubeClient, o: WgplanControllerOptions, metrics: ControllerMetrics) {
  const namespace = o.namespace || undefined;
  const plans = new Informer<PlanObject>(client, { resource: PLANS, namespace, resyncPeriodMs: o.resyncPeriodMs });
  const children = new Informer<InterfaceObject>(client, {
    resource: INTERFACES,
    namespace,
    labelSelector: LABEL_CONTROLLED_BY,
    name: "plan-children",
  });
  const recorder = new EventRecorder(client, { component: PROGRAM, host: o.host });
  const reconciler = new PlanReconciler(client, plans.store, children.store, recorder, {
    fieldManager: PROGRAM,
    concurrency: o.writeConcurrency,
  });
  const controller = new Controller<PlanObject>({
    name: PROGRAM,
    informer: plans,
    reconcile: reconciler.reconcile,
    workers: o.workers,
    metrics,
    shouldEnqueueUpdate: specOrLifecycleChanged,
  });
  controller.watch(children, planKeyOf);
  watchReadiness(metrics.registry, KINDS.WireGuardNetworkPlan.kind, plans.store);
  /** Runs the controller until `signal` aborts, then stops its informers (the harness leaves them running). */
  const run = async (signal: AbortSignal) => {
    try {
      await controller.run(signal);
    } finally {
      await Promise.all([plans.stop(), children.stop()]);
    }
  };
  return { controller, run };
}

/**
 * Runs until `signal` aborts. Returns 0 after a clean shutdown, 1 when leadership was lost (the process should exit
 * and be restarted as a standby, as client-go controllers do).
 */
export async function runWgplanController(o: WgplanControllerOptions, signal: AbortSignal): Promise<number> {
  const client = new KubeClient(o.kubeConfig);
  const metrics = new ControllerMetrics();
  const { controller, run } = buildController(client, o, metrics);
  const stop = new AbortController();
  const done = AbortSignal.any([signal, stop.signal]);
  let elector: LeaderElector | undefined;
  let running: Promise<void> | undefined;
  let lost = false;

  const ops = o.ops === undefined ? undefined : await startOpsServer({
    ...o.ops,
    metrics: () => metrics.exposition(),
    healthz: [{ name: "leader-election", check: () => elector?.healthy() ?? true }],
    readyz: [{
      name: "informers-synced",
      check: () => !elector || elector.isLeader() ? controller.hasSynced() || "caches not synced" : true,
    }],
  });
  if (ops) o.onOpsListening?.(ops);
  try {
    if (!o.leaderElection) {
      await run(done);
      return 0;
    }
    const le = o.leaderElection;
    elector = new LeaderElector(client, {
      namespace: le.namespace,
      name: le.leaseName,
      identity: le.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      onStartedLeading: (leading) => {
        running = run(AbortSignal.any([done, leading])).catch((e) => {
          log.error("controller stopped: {error}", { error: String((e as Error).message ?? e) });
          stop.abort();
        });
      },
      onStoppedLeading: () => {
        if (!signal.aborted) {
          lost = true;
          log.error("lost leadership of lease {ns}/{name}; stopping", { ns: le.namespace, name: le.leaseName });
        }
        stop.abort();
      },
      onNewLeader: (id) => log.info("leader is {id}", { id }),
    });
    await elector.run(done);
    await running;
    return lost ? 1 : 0;
  } finally {
    await ops?.shutdown();
    client.close();
  }
}
