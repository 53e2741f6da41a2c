/**
 * Writes a plan's children: creates missing ones, patches drifted ones (childPatch: whole-spec replace guarded by the
 * resourceVersion), deletes ones the plan no longer stands for, with bounded concurrency. A name held by an object
 * this plan does not control is never touched: it is reported as a NameConflict (the reference's AlreadyExists loop
 * between two plans, §5 item 19).
 */
import { isAlreadyExists, isNotFound, type KubeClient } from "../../kube/client.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";
import { childObject, childPatch, isOwnedBy, type PlanIdentity } from "../../plan/child.ts";
import type { DesiredInterface, PlanProblem } from "../../plan/expand.ts";
import { type InterfaceObject, INTERFACES } from "./resources.ts";

const log = logger("wgplan-controller", "children");

/** What one write pass did. */
export interface WriteResult {
  created: number;
  updated: number;
  deleted: number;
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
  const r: WriteResult = { created: 0, updated: 0, deleted: 0, children: new Map(owned), conflicts: [], errors: [] };
  const wanted = new Set(desired.map((d) => d.objectName));
  const fail = (what: string, e: unknown) => r.errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);

  await eachLimited(desired, o.concurrency, async (d) => {
    const want = childObject(plan, d);
    const have = owned.get(d.objectName);
    try {
      if (!have) {
        r.children.set(d.objectName, await client.create(INTERFACES, plan.namespace, want, o.fieldManager));
        r.created++;
        trace(log, "child-written", `${plan.namespace}/${d.objectName}`, { op: "create" });
        return;
      }
      if (have.metadata.deletionTimestamp) return; // being deleted; recreated once it is gone
      const ops = childPatch(have, want);
      if (!ops) return;
      r.children.set(
        d.objectName,
        await client.patch(INTERFACES, plan.namespace, d.objectName, "json", ops, { fieldManager: o.fieldManager }),
      );
      r.updated++;
      trace(log, "child-written", `${plan.namespace}/${d.objectName}`, { op: "patch" });
    } catch (e) {
      if (isAlreadyExists(e)) {
        const other = await client.get<InterfaceObject>(INTERFACES, plan.namespace, d.objectName).catch(() =>
          undefined
        );
        if (other && isOwnedBy(other, plan.uid)) {
          r.children.set(d.objectName, other); // our own child, not yet in the cache; patched on the next pass
          return;
        }
        r.conflicts.push({
          reason: "NameConflict",
          message: `WireGuardInterface ${plan.namespace}/${d.objectName} (link ${d.fromNode} → ${d.toNode}) exists ` +
            "and is not controlled by this plan; it is left alone",
        });
        return;
      }
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
