/**
 * Reconcile of one WireGuardNetworkPlan (key "namespace/name"), level-triggered:
 * 1. deletion: delete the children and the key Secret, then remove only our finalizer;
 * 2. otherwise add our finalizer, resolve the node keys (Secrets), expand the plan (pure), write the children, and
 *    write the status computed from the expansion, the problems and the children as read back;
 * 3. failed writes are retried with backoff (the error is thrown after the status is written).
 * Children are watched (see controller.ts), so a deleted or hand-edited child brings the plan back here.
 */
import { CONDITION_TYPES, FINALIZERS } from "../../api/constants.ts";
import { type KubeClient, splitKey } from "../../kube/client.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../../kube/finalizers.ts";
import { StatusWriter } from "../../kube/status.ts";
import type { ReadStore } from "../../kube/store.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";
import { allocationsOf, isOwnedBy, type PlanIdentity } from "../../plan/child.ts";
import { expandPlan } from "../../plan/expand.ts";
import { planStatus } from "../../plan/status.ts";
import { deleteChildren, writeChildren } from "./children.ts";
import { deletePlanKeys, loadPlanKeys } from "./keystore.ts";
import { type InterfaceObject, type PlanObject, PLANS } from "./resources.ts";

const log = logger("wgplan-controller", "reconcile");

/** The finalizer this controller puts on plans (the string of the reference's plan example). */
export const PLAN_FINALIZER = FINALIZERS.wireGuardNetworkPlan;

/** Options of the reconciler. */
export interface PlanReconcilerOptions {
  /** Field manager of every write (the reference's "wgplan-controller"). */
  fieldManager: string;
  /** Maximum concurrent child writes per plan. */
  concurrency: number;
}

/** Reconciles plans against the informer caches of plans and children. */
export class PlanReconciler {
  readonly #status: StatusWriter<PlanObject>;

  constructor(
    private readonly client: KubeClient,
    private readonly plans: ReadStore<PlanObject>,
    private readonly children: ReadStore<InterfaceObject>,
    private readonly recorder: EventRecorder,
    private readonly o: PlanReconcilerOptions,
  ) {
    this.#status = new StatusWriter<PlanObject>(client, PLANS, o.fieldManager);
  }

  /** The children of a plan in the cache, by object name. */
  ownedChildren(plan: PlanIdentity): Map<string, InterfaceObject> {
    const out = new Map<string, InterfaceObject>();
    for (const c of this.children.list()) {
      if (c.metadata.namespace === plan.namespace && isOwnedBy(c, plan.uid)) out.set(c.metadata.name ?? "", c);
    }
    return out;
  }

  /** The reconcile function for the controller harness. */
  reconcile = async (key: string): Promise<ReconcileResult> => {
    const cached = this.plans.get(key);
    if (!cached) return; // gone: owner references let garbage collection remove what is left
    const { namespace, name } = splitKey(key);
    const plan: PlanIdentity = {
      name,
      namespace,
      uid: cached.metadata.uid ?? "",
      generation: cached.metadata.generation ?? 0,
    };
    if (cached.metadata.deletionTimestamp) {
      trace(log, "plan-deleting", key);
      return await this.#finalize(cached, plan);
    }
    trace(log, "plan-reconcile", key, { generation: plan.generation });

    const current = hasFinalizer(cached, PLAN_FINALIZER)
      ? cached
      : await addFinalizer(this.client, PLANS, cached, PLAN_FINALIZER, this.o.fieldManager);
    if (!current) return;

    const recorded = new Map(
      (cached.status?.nodes ?? []).flatMap((n) => n.publicKey ? [[n.nodeName, n.publicKey]] : []),
    );
    const keys = await loadPlanKeys(this.client, plan, cached.spec, this.o.fieldManager, recorded);
    const owned = this.ownedChildren(plan);
    const expansion = expandPlan(cached.spec, keys.keys, allocationsOf(owned.values()));
    trace(log, "plan-expanded", key);
    const written = await writeChildren(
      this.client,
      plan,
      expansion.interfaces,
      new Set(expansion.held),
      owned,
      this.o,
    );
    const problems = [...keys.problems, ...expansion.problems, ...written.conflicts];
    const before = current.status?.conditions?.find((c) => c.type === CONDITION_TYPES.Degraded);
    const result = await this.#status.update(
      namespace,
      name,
      (obj) =>
        obj.metadata.uid !== plan.uid ? undefined : planStatus({
          generation: plan.generation,
          previous: obj.status,
          interfaces: expansion.interfaces,
          problems,
          writeErrors: written.errors,
          nodes: keys.nodes,
          children: written.children,
          now: new Date(),
        }),
      current,
    );
    if (result.written) trace(log, "plan-status-written", key);
    const after = result.object.status?.conditions?.find((c) => c.type === CONDITION_TYPES.Degraded);
    if (after?.status === "True" && (before?.status !== "True" || before.message !== after.message)) {
      void this.recorder.record(result.object, "Warning", after.reason, after.message);
    }
    const { created, updated, deleted } = written;
    if (created + updated + deleted > 0) {
      const message = `created ${created}, updated ${updated}, deleted ${deleted} WireGuardInterfaces`;
      log.info("plan {plan}: {message}", { plan: key, message });
      void this.recorder.record(result.object, "Normal", "InterfacesWritten", message);
    }
    if (written.errors.length) {
      throw new Error(`plan ${key}: ${written.errors.length} writes failed, first: ${written.errors[0]}`);
    }
  };

  async #finalize(cached: PlanObject, plan: PlanIdentity): Promise<void> {
    if (!hasFinalizer(cached, PLAN_FINALIZER)) return;
    const owned = this.ownedChildren(plan);
    const errors = await deleteChildren(this.client, plan.namespace, owned.values(), this.o.concurrency);
    if (errors.length) throw new Error(`plan ${plan.namespace}/${plan.name}: ${errors[0]}`);
    await deletePlanKeys(this.client, plan);
    log.info("plan {plan} deleted: {n} WireGuardInterfaces deleted, finalizer removed", {
      plan: `${plan.namespace}/${plan.name}`,
      n: owned.size,
    });
    await removeFinalizer(this.client, PLANS, cached, PLAN_FINALIZER, this.o.fieldManager);
  }
}
