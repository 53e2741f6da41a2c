/**
 * wgplan-controller wiring: informers on plans and on the WireGuardInterfaces of the same namespace (no label
 * selector: a child belongs to its plan by its controller owner reference, so a child whose labels were edited stays in
 * the cache and is restored) and, with heartbeats, on the wg-controllers' heartbeat Leases (agents.ts), feeding one
 * controller, run by the {@link Manager} under leader election when configured (only the leader
 * watches and writes; a replica that loses the Lease stops and exits so it restarts as a standby).
 */
import { KubeClient, objectKey } from "../../kube/client.ts";
import type { ClientConfigInput } from "../../kube/credentials.ts";
import { Controller, specOrLifecycleChanged } from "../../kube/controller.ts";
import { EventRecorder } from "../../kube/events.ts";
import { Informer } from "../../kube/informer.ts";
import { type LeaderElectionSettings, Manager } from "../../kube/manager.ts";
import type { OpsServer, OpsServerOptions } from "../../kube/server.ts";
import { KINDS, PLAN_ROTATED_KEYS_ANNOTATION } from "../../api/constants.ts";
import { ANNOTATION_TAKE_OVER } from "../../plan/child.ts";
import { watchReadiness } from "../readiness_metrics.ts";
import { AgentTracker } from "./agents.ts";
import { nodeOf } from "./children.ts";
import { PlanReconciler } from "./reconciler.ts";
import { type InterfaceObject, INTERFACES, type PlanObject, PLANS } from "./resources.ts";

/** Name of the program: field manager, Event component, metrics label. */
export const PROGRAM = "wgplan-controller";

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
  /** Where /metrics /healthz /readyz listen; undefined: no server. */
  ops?: Pick<OpsServerOptions, "address" | "fallbackToFreePort">;
  /** Host name for Events. */
  host: string;
  /** Called once the ops server listens (tests read the port). */
  onOpsListening?(server: OpsServer): void;
  /**
   * The node agents' heartbeats (src/controllers/wgplan/agents.ts): the Leases' namespace and the grace period after
   * which a stopped agent counts as gone. Undefined: heartbeats are not used, every child waits for its node's agent.
   */
  agents?: { namespace: string; graceMs: number };
}

/** The owning plan's cache key of a child: its controller owner reference of kind WireGuardNetworkPlan. */
function planKeyOf(child: InterfaceObject): string[] {
  const ref = child.metadata.ownerReferences?.find((r) => r.controller && r.kind === "WireGuardNetworkPlan");
  return ref ? [`${child.metadata.namespace}/${ref.name}`] : [];
}

/** Builds the wgplan-controller's manager; `run(signal)` returns 1 when leadership was lost. */
export function wgplanController(o: WgplanControllerOptions): Manager {
  const client = new KubeClient(o.kubeConfig);
  const manager = new Manager({
    name: PROGRAM,
    client,
    ops: o.ops,
    onOpsListening: o.onOpsListening,
    leaderElection: o.leaderElection,
  });
  const namespace = o.namespace || undefined;
  const plans = new Informer<PlanObject>(client, { resource: PLANS, namespace, resyncPeriodMs: o.resyncPeriodMs });
  const children = new Informer<InterfaceObject>(client, { resource: INTERFACES, namespace, name: "plan-children" });
  const recorder = new EventRecorder(client, { component: PROGRAM, host: o.host });
  const tracker = o.agents && new AgentTracker(client, {
    ...o.agents,
    // the plans that name the node, and those with a child on it (a node removed from a plan can still hold one)
    onChange: (node) => {
      const keys = new Set<string>();
      for (const p of plans.store.list()) if (p.spec.nodes?.some((n) => n.nodeName === node)) keys.add(objectKey(p));
      for (const c of children.store.list()) if (nodeOf(c) === node) planKeyOf(c).forEach((k) => keys.add(k));
      keys.forEach((k) => controller.enqueue(k));
    },
  });
  if (tracker) manager.onStop("agent tracker", () => tracker.stop());
  const reconciler = new PlanReconciler(client, plans.store, children.store, recorder, {
    fieldManager: PROGRAM,
    concurrency: o.writeConcurrency,
    agents: tracker && ((node, now) => tracker.liveness(node, now)),
  });
  const controller = new Controller<PlanObject>({
    name: PROGRAM,
    informer: plans,
    reconcile: reconciler.reconcile,
    workers: o.workers,
    metrics: manager.metrics,
    shouldEnqueueUpdate: (a, b) => specOrLifecycleChanged(a, b) || actionAnnotationsChanged(a, b),
  });
  controller.watch(children, planKeyOf, reconciler.ownWrites); // the echoes of its own child writes need no pass
  if (tracker) controller.watch(tracker.informer, () => []); // started and synced with the others
  manager.addController(controller, { needLeaderElection: true });
  watchReadiness(manager.metrics.registry, KINDS.WireGuardNetworkPlan.kind, plans.store);
  return manager;
}

/** The plan annotations that ask for action now (a take-over, a key rotation): a change is worth a pass. */
const ACTION_ANNOTATIONS = [ANNOTATION_TAKE_OVER, PLAN_ROTATED_KEYS_ANNOTATION];

function actionAnnotationsChanged(a: PlanObject, b: PlanObject): boolean {
  return ACTION_ANNOTATIONS.some((k) => a.metadata.annotations?.[k] !== b.metadata.annotations?.[k]);
}

/**
 * Runs until `signal` aborts. Returns 0 after a clean shutdown, 1 when leadership was lost (the process should exit
 * and be restarted as a standby, as client-go controllers do).
 */
export function runWgplanController(o: WgplanControllerOptions, signal: AbortSignal): Promise<number> {
  return wgplanController(o).run(signal);
}
