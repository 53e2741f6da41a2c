/**
 * Writes a plan's children: creates missing ones, patches drifted ones (childPatch: whole-spec replace guarded by the
 * resourceVersion), deletes ones the plan no longer stands for, with bounded concurrency. A name held by an object
 * this plan does not control is never touched — it is reported as a NameConflict (instead of the reference's endless
 * AlreadyExists retries between two plans) — unless it is a child the Go implementation's plan controller made for
 * this plan and the plan opted in to taking it over.
 */
import { ownWrite, type OwnWrites } from "../../kube/own_writes.ts";
import { isAlreadyExists, isNotFound, type KubeClient } from "../../kube/client.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";
import { FINALIZERS } from "../../api/constants.ts";
import { removeFinalizer } from "../../kube/finalizers.ts";
import {
  ANNOTATION_TAKE_OVER,
  CHILD_FINALIZER,
  childObject,
  childPatch,
  isOwnedBy,
  type PlanIdentity,
  takeOverPatch,
  takeOverRefusal,
} from "../../plan/child.ts";
import type { DesiredInterface, PlanProblem } from "../../plan/expand.ts";
import { type InterfaceObject, INTERFACES } from "./resources.ts";

const log = logger("wgplan-controller", "children");

/** What one write pass did. */
export interface WriteResult {
  created: number;
  updated: number;
  deleted: number;
  /** Children of the Go implementation's plan controller that this plan now controls. */
  takenOver: number;
  /** Children by object name as known after the writes (fresh API responses where we wrote). */
  children: Map<string, InterfaceObject>;
  /** Names held by objects this plan does not control. */
  conflicts: PlanProblem[];
  /** Failed writes, as messages without key material. */
  errors: string[];
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Options of {@link writeChildren}. */
export interface WriteOptions {
  fieldManager: string;
  /** Maximum concurrent API writes. */
  concurrency: number;
  /** Whether a child on `node` gets the finalizer that makes its deletion wait for the node's agent. */
  waitsForAgent(node: string): boolean;
  /** The plan opted in to taking over the Go implementation's children (src/plan/child.ts takeOverRefusal). */
  takeOver: boolean;
  /** The cached WireGuardInterface of that name in the plan's namespace, if any. */
  lookup(name: string): InterfaceObject | undefined;
  /** Where each create or patch of a child is remembered, so that its watch echo costs no pass. */
  ownWrites?: OwnWrites;
}

/**
 * Brings the children in line with `desired`. `owned` are the existing children controlled by the plan (by name);
 * `held` names are left as they are.
 */
export async function writeChildren(
  client: KubeClient,
  plan: PlanIdentity,
  desired: DesiredInterface[],
  held: ReadonlySet<string>,
  owned: ReadonlyMap<string, InterfaceObject>,
  o: WriteOptions,
): Promise<WriteResult> {
  const r: WriteResult = {
    created: 0,
    updated: 0,
    deleted: 0,
    takenOver: 0,
    children: new Map(owned),
    conflicts: [],
    errors: [],
  };
  const wanted = new Set(desired.map((d) => d.objectName));
  const tracked = (name: string, write: () => Promise<InterfaceObject>) =>
    ownWrite(o.ownWrites, `${plan.namespace}/${name}`, write);
  const fail = (what: string, e: unknown) => r.errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);

  await eachLimited(desired, o.concurrency, async (d) => {
    const want = childObject(plan, d, o.waitsForAgent(d.fromNode));
    /** Patches a child of this plan into shape (one being deleted is left to finish; it is recreated later). */
    const align = async (have: InterfaceObject) => {
      r.children.set(d.objectName, have);
      const ops = have.metadata.deletionTimestamp ? undefined : childPatch(have, want);
      if (!ops) return;
      const patched = await tracked(
        d.objectName,
        () =>
          client.patch<InterfaceObject>(INTERFACES, plan.namespace, d.objectName, "json", ops, {
            fieldManager: o.fieldManager,
          }),
      );
      r.children.set(d.objectName, patched);
      r.updated++;
      trace(log, "child-written", `${plan.namespace}/${d.objectName}`, { op: "patch" });
    };
    try {
      const have = owned.get(d.objectName);
      if (have) return await align(have);
      let other = o.lookup(d.objectName);
      if (!other) {
        try {
          const created = await tracked(
            d.objectName,
            () => client.create(INTERFACES, plan.namespace, want, o.fieldManager),
          );
          r.children.set(d.objectName, created);
          r.created++;
          trace(log, "child-written", `${plan.namespace}/${d.objectName}`, { op: "create" });
          return;
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
        other = await client.get<InterfaceObject>(INTERFACES, plan.namespace, d.objectName);
      }
      // The name is taken: our own child not (yet) in the cache is aligned now, a child of the Go implementation's
      // plan controller for this plan is taken over if the plan says so; anything else is left alone.
      if (isOwnedBy(other, plan.uid)) return await align(other);
      const refusal = takeOverRefusal(other, want);
      if (!refusal && o.takeOver) {
        const ops = takeOverPatch(other, want);
        const taken = await tracked(
          d.objectName,
          () =>
            client.patch<InterfaceObject>(INTERFACES, plan.namespace, d.objectName, "json", ops, {
              fieldManager: o.fieldManager,
            }),
        );
        r.takenOver++;
        return await align(taken);
      }
      const what = `WireGuardInterface ${plan.namespace}/${d.objectName} (link ${d.fromNode} → ${d.toNode})`;
      r.conflicts.push({
        reason: "NameConflict",
        message: refusal
          ? `${what} exists and is not controlled by this plan (${refusal}); it is left alone`
          : `${what} was made for this plan by another plan controller (the Go implementation's) and is left alone; ` +
            `annotate the plan with ${ANNOTATION_TAKE_OVER}="true" to take it over`,
      });
    } catch (e) {
      fail(`write WireGuardInterface ${d.objectName}`, e);
    }
  });

  const stale = [...owned.values()].filter((c) => {
    const name = c.metadata.name ?? "";
    return !wanted.has(name) && !held.has(name) && !c.metadata.deletionTimestamp;
  });
  await eachLimited(stale, o.concurrency, async (c) => {
    const name = c.metadata.name ?? "";
    try {
      await client.delete(INTERFACES, plan.namespace, name, { preconditions: { uid: c.metadata.uid } });
      r.deleted++;
    } catch (e) {
      if (!isNotFound(e)) fail(`delete WireGuardInterface ${name}`, e);
    }
    r.children.delete(name);
  });
  return r;
}

/** Deletes every child (plan deletion); NotFound counts as done. Returns failure messages. */
export async function deleteChildren(
  client: KubeClient,
  namespace: string,
  owned: Iterable<InterfaceObject>,
  concurrency: number,
): Promise<string[]> {
  const errors: string[] = [];
  const list = [...owned].filter((c) => !c.metadata.deletionTimestamp);
  await eachLimited(list, concurrency, async (c) => {
    try {
      await client.delete(INTERFACES, namespace, c.metadata.name ?? "", { preconditions: { uid: c.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e)) errors.push(`delete WireGuardInterface ${c.metadata.name}: ${(e as Error).message}`);
    }
  });
  return errors;
}

/** The finalizers that wait for a node's agent: the plan's on its children and the agent's own. */
const AGENT_FINALIZERS = [CHILD_FINALIZER, FINALIZERS.wireGuardInterface];

/**
 * Releases the Terminating children whose node's agent will not come (`waitsForAgent` false): removes the finalizers
 * that wait for it, so the deletion completes. Returns the names released and failure messages.
 */
export async function releaseChildren(
  client: KubeClient,
  owned: Iterable<InterfaceObject>,
  o: Pick<WriteOptions, "fieldManager" | "concurrency" | "waitsForAgent">,
): Promise<{ released: string[]; errors: string[] }> {
  const r = { released: [] as string[], errors: [] as string[] };
  const list = [...owned].filter((c) =>
    c.metadata.deletionTimestamp && !o.waitsForAgent(nodeOf(c)) &&
    AGENT_FINALIZERS.some((f) => c.metadata.finalizers?.includes(f))
  );
  await eachLimited(list, o.concurrency, async (c) => {
    try {
      let current: InterfaceObject | undefined = c;
      for (const f of AGENT_FINALIZERS) {
        if (current) current = await removeFinalizer(client, INTERFACES, current, f, { fieldManager: o.fieldManager });
      }
      r.released.push(c.metadata.name ?? "");
    } catch (e) {
      r.errors.push(`release WireGuardInterface ${c.metadata.name}: ${(e as Error).message}`);
    }
  });
  return r;
}

/** The node a child is for. */
export function nodeOf(child: InterfaceObject): string {
  const node = (child.spec as { node?: unknown } | undefined)?.node;
  return typeof node === "string" ? node : "";
}
