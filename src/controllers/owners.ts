/**
 * The orphan sweeps' view of owners (src/node/sweep.ts) for a node agent: its synced, node-filtered cache first,
 * the API for what that cache cannot answer. Absence from the cache proves nothing (the object may belong to another
 * node, or be newer than the cache), so an owner is "gone" only after a live GET answered 404 or, for hashed marks,
 * a live LIST of the watched namespace(s) has no object with that mark. Answers are remembered for one sweep.
 */
import {
  isNotFound,
  type KubeClient,
  type KubeObject,
  objectKey,
  type ResourceType,
  splitKey,
} from "../kube/client.ts";
import type { ReadStore } from "../kube/store.ts";
import type { OwnerFact } from "../node/ownership.ts";
import type { OwnerSource } from "../node/sweep.ts";

/** What {@link ownerSource} needs. */
export interface OwnerSourceOptions<T extends KubeObject> {
  client: KubeClient;
  resource: ResourceType;
  store: ReadStore<T>;
  /** The agent's watched namespace; "" means all. */
  namespace: string;
  /** The object's spec.node. */
  nodeOf(obj: T): string;
  /** Whether the object's spec wants a link named `linkName`. */
  wants(obj: T, linkName: string): boolean;
  signal?: AbortSignal;
}

/** Every object of `resource` matching the options, over all pages. */
export async function listAll<T extends KubeObject>(
  client: KubeClient,
  resource: ResourceType,
  o: { namespace?: string; fieldSelector?: string; signal?: AbortSignal } = {},
): Promise<T[]> {
  const out: T[] = [];
  let cont: string | undefined;
  do {
    const page = await client.list<T>(resource, { ...o, limit: 500, continue: cont });
    out.push(...page.items);
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return out;
}

/** An owner source for one sweep (create a new one per sweep). */
export function ownerSource<T extends KubeObject>(o: OwnerSourceOptions<T>): OwnerSource {
  const fetched = new Map<string, Promise<T | null | Error>>();
  const get = (key: string) => {
    let p = fetched.get(key);
    if (!p) {
      const { namespace, name } = splitKey(key);
      p = o.client.get<T>(o.resource, namespace, name, o.signal).catch((e) =>
        isNotFound(e) ? null : e instanceof Error ? e : new Error(String(e))
      );
      fetched.set(key, p);
    }
    return p;
  };
  const present = (obj: T, linkName: string): OwnerFact => ({
    state: "present",
    node: o.nodeOf(obj),
    wants: o.wants(obj, linkName),
  });
  return {
    cachedKeys: () => o.store.keys(),
    async fact(key, linkName) {
      if (o.namespace && splitKey(key).namespace !== o.namespace) {
        return { state: "unknown", why: `${key} is outside the watched namespace ${o.namespace}` };
      }
      const cached = o.store.get(key);
      if (cached) return present(cached, linkName);
      const obj = await get(key);
      if (obj === null) return { state: "absent" };
      if (obj instanceof Error) return { state: "unknown", why: obj.message };
      return present(obj, linkName);
    },
    async liveKeys() {
      const items = await listAll<T>(o.client, o.resource, { namespace: o.namespace || undefined, signal: o.signal });
      return items.map(objectKey);
    },
  };
}
