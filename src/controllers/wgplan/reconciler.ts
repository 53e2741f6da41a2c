/**
 * Reconcile of one WireGuardNetworkPlan (key "namespace/name"), level-triggered:
 * 1. deletion: delete the children, release the Terminating ones whose node has no agent to wait for
 *    (src/plan/agents.ts), and once no child is left delete the key Secret and remove only our finalizer — so the plan
 *    is gone only after its children, and never waits for a node whose agent is gone or never ran;
 * 2. otherwise add our finalizer, resolve the node keys (Secrets), expand the plan (pure), write the children (the
 *    child finalizer only where the node's agent is or was recently alive), release Terminating children of nodes
 *    without an agent, and write the status computed from the expansion, the problems, the children as read back and
 *    the agents' heartbeats;
 * 3. failed writes are retried with backoff (the error is thrown after the status is written).
 * Children and heartbeats are watched (see controller.ts), so a deleted or hand-edited child, or an agent that starts
 * or stops, brings the plan back here.
 */
import { CONDITION_TYPES, FINALIZERS } from "../../api/constants.ts";
import { type KubeClient, splitKey } from "../../kube/client.ts";
import { OwnWrites } from "../../kube/own_writes.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../../kube/finalizers.ts";
import { StatusWriter } from "../../kube/status.ts";
import type { ReadStore } from "../../kube/store.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";
import { allocationsOf, ANNOTATION_TAKE_OVER, isOwnedBy, type PlanIdentity } from "../../plan/child.ts";
import { expandPlan } from "../../plan/expand.ts";
import { planStatus, withAgents } from "../../plan/status.ts";
import { waitsForAgent } from "../../plan/agents.ts";
import type { AgentLiveness } from "../../kube/heartbeat.ts";
import { deleteChildren, nodeOf, releaseChildren, writeChildren, type WriteOptions } from "./children.ts";
import { deletePlanKeys, loadPlanKeys } from "./keystore.ts";
import { announcedKeys } from "../../plan/keys.ts";
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
  /**
   * The liveness of a node's wg-controller; undefined when heartbeats are not used: then every child waits for its
   * node's agent and none is released (agents that publish no heartbeat, like the Go implementation's).
   */
  agents?(node: string, nowMs: number): AgentLiveness;
}

/** Reconciles plans against the informer caches of plans and children. */
export class PlanReconciler {
  readonly #status: StatusWriter<PlanObject>;
  /** The Degraded message last announced with an Event, per plan (also before its status is back in the cache). */
  readonly #announced = new Map<string, string>();
  /** The children this controller wrote whose watch events have not come back yet (they need no pass). */
  readonly ownWrites = new OwnWrites();

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
    if (!cached) return void this.#announced.delete(key); // gone: garbage collection removes what is left
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

    // The finalizer is written while the keys are read and the plan expanded (a managed key's Secret is owned by
    // the plan, so it needs no finalizer); children are written only once it is in place.
    const finalizing = hasFinalizer(cached, PLAN_FINALIZER)
      ? Promise.resolve(cached)
      : addFinalizer(this.client, PLANS, cached, PLAN_FINALIZER, { fieldManager: this.o.fieldManager });
    finalizing.catch(() => {}); // awaited below; a failure surfaces there unless the keys fail first

    const recorded = new Map(
      (cached.status?.nodes ?? []).flatMap((n) => n.publicKey ? [[n.nodeName, n.publicKey]] : []),
    );
    const announced = announcedKeys(cached.metadata.annotations);
    const keys = await loadPlanKeys(this.client, plan, cached.spec, this.o.fieldManager, recorded, announced);
    const owned = this.ownedChildren(plan);
    const agents = this.#agents(cached, owned.values());
    const writeOptions: WriteOptions = {
      ...this.o,
      waitsForAgent: this.#waits(agents),
      takeOver: cached.metadata.annotations?.[ANNOTATION_TAKE_OVER] === "true",
      lookup: (name) => this.children.get(`${namespace}/${name}`),
      ownWrites: this.ownWrites,
    };
    const expansion = expandPlan(cached.spec, keys.keys, allocationsOf(owned.values()));
    trace(log, "plan-expanded", key);
    const current = await finalizing;
    if (!current) return;
    const written = await writeChildren(
      this.client,
      plan,
      expansion.interfaces,
      new Set(expansion.held),
      owned,
      writeOptions,
    );
    const release = await this.#release(current, owned.values(), writeOptions);
    written.errors.push(...release.errors);
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
          agents,
          now: new Date(),
        }),
      current,
    );
    if (result.written) trace(log, "plan-status-written", key);
    const after = result.object.status?.conditions?.find((c) => c.type === CONDITION_TYPES.Degraded);
    const said = this.#announced.get(key);
    const news = said === undefined
      ? before?.status !== "True" || before.message !== after?.message
      : said !== after?.message;
    if (after?.status === "True") this.#announced.set(key, after.message);
    else this.#announced.delete(key);
    if (after?.status === "True" && news) {
      void this.recorder.record(result.object, "Warning", after.reason, after.message);
    }
    const { created, updated, deleted, takenOver } = written;
    if (created + updated + deleted + takenOver > 0) {
      const message = `created ${created}, updated ${updated}, deleted ${deleted} WireGuardInterfaces` +
        (takenOver ? `; took over ${takenOver} made by the Go implementation's plan controller` : "");
      log.info("plan {plan}: {message}", { plan: key, message });
      void this.recorder.record(result.object, "Normal", "InterfacesWritten", message);
    }
    if (written.errors.length) {
      throw new Error(`plan ${key}: ${written.errors.length} writes failed, first: ${written.errors[0]}`);
    }
  };

  /** The liveness of the agents of the plan's nodes and of its children's nodes; undefined without heartbeats. */
  #agents(plan: PlanObject, children: Iterable<InterfaceObject>): Map<string, AgentLiveness> | undefined {
    const liveness = this.o.agents;
    if (!liveness) return undefined;
    const nodes = new Set([...(plan.spec.nodes ?? []).map((n) => n.nodeName), ...[...children].map(nodeOf)]);
    const now = Date.now();
    return new Map([...nodes].map((n) => [n, liveness(n, now)]));
  }

  #waits(agents: Map<string, AgentLiveness> | undefined): (node: string) => boolean {
    return (node) => !agents || waitsForAgent(agents.get(node)?.state ?? "None", true);
  }

  /** Releases Terminating children whose node has no agent to wait for; one Event on the plan names them. */
  async #release(plan: PlanObject, children: Iterable<InterfaceObject>, o: Parameters<typeof releaseChildren>[2]) {
    const r = await releaseChildren(this.client, children, o);
    if (r.released.length) {
      const names = r.released.sort();
      const message = `released ${names.length} WireGuardInterfaces whose node has no running wg-controller: ` +
        `${names.slice(0, 10).join(", ")}${names.length > 10 ? ` and ${names.length - 10} more` : ""}`;
      log.info("plan {plan}: {message}", { plan: `${plan.metadata.namespace}/${plan.metadata.name}`, message });
      void this.recorder.record(plan, "Normal", "ChildrenReleased", message);
    }
    return r;
  }

  async #finalize(cached: PlanObject, plan: PlanIdentity): Promise<void> {
    if (!hasFinalizer(cached, PLAN_FINALIZER)) return;
    const owned = this.ownedChildren(plan);
    const agents = this.#agents(cached, owned.values());
    const o = { ...this.o, waitsForAgent: this.#waits(agents) };
    const errors = await deleteChildren(this.client, plan.namespace, owned.values(), this.o.concurrency);
    errors.push(...(await this.#release(cached, owned.values(), o)).errors);
    if (errors.length) throw new Error(`plan ${plan.namespace}/${plan.name}: ${errors[0]}`);
    if (owned.size > 0) {
      // Their deletions, releases and the agents' state changes bring the plan back here; until then the status says
      // which agents it waits for.
      if (agents && cached.status) {
        const status = withAgents(cached.status, cached.status.conditions, agents, plan.generation, new Date());
        await this.#status.update(
          plan.namespace,
          plan.name,
          (obj) => obj.metadata.uid === plan.uid ? status : undefined,
          cached,
        );
      }
      return;
    }
    await deletePlanKeys(this.client, plan);
    log.info("plan {plan} deleted: its WireGuardInterfaces are gone, finalizer removed", {
      plan: `${plan.namespace}/${plan.name}`,
    });
    await removeFinalizer(this.client, PLANS, cached, PLAN_FINALIZER, { fieldManager: this.o.fieldManager });
  }
}
