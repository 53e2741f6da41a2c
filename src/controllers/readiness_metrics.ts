/**
 * `dn42op_object_ready{kind, namespace, name, node}`: 1 while an object's Ready condition is True, else 0 (False,
 * Unknown or not yet written). Read at scrape time from the controllers' informer caches, which hold the statuses the
 * controllers wrote: no API request. Each object is exported by the process that handles it (a node agent for its
 * node's objects, the leading plan controller for plans), so an alert on `== 0 for 5m` names the object and node.
 * Several controllers in one process share the one gauge of their registry.
 */
import { Gauge, type Registry } from "prom-client";
import type { Condition } from "../api/common.ts";
import { CONDITION_TYPES } from "../api/constants.ts";
import { isConditionTrue } from "../api/conditions.ts";
import type { KubeObject } from "../kube/client.ts";

/** What the gauge reads of an object. */
export interface ReadinessSubject extends KubeObject {
  /** `spec.node` is read when present (node-scoped kinds). */
  spec?: object;
  status?: { conditions?: Condition[] };
}

/** A kind and the cache holding its objects. */
interface Source {
  kind: string;
  list(): readonly ReadinessSubject[];
}

/** Name of the gauge. */
export const READY_METRIC = "dn42op_object_ready";

function nodeOf(o: ReadinessSubject): string {
  const node = (o.spec as { node?: unknown } | undefined)?.node;
  return typeof node === "string" ? node : "";
}

/** The samples of one source (pure). */
export function readinessSamples(
  kind: string,
  objects: readonly ReadinessSubject[],
): { labels: Record<"kind" | "namespace" | "name" | "node", string>; value: number }[] {
  return objects.map((o) => ({
    labels: {
      kind,
      namespace: o.metadata.namespace ?? "",
      name: o.metadata.name ?? "",
      node: nodeOf(o),
    },
    value: isConditionTrue(o.status?.conditions, CONDITION_TYPES.Ready) ? 1 : 0,
  }));
}

const sources = new WeakMap<Registry, Source[]>();

/** Exports the readiness of the objects of `kind` in `store` (an informer's cache) through `registry`. */
export function watchReadiness(
  registry: Registry,
  kind: string,
  store: { list(): readonly ReadinessSubject[] },
): void {
  let mine = sources.get(registry);
  if (!mine) {
    const list: Source[] = [];
    sources.set(registry, mine = list);
    new Gauge({
      name: READY_METRIC,
      help: "1 while the object's Ready condition is True, else 0",
      labelNames: ["kind", "namespace", "name", "node"],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of list) {
          for (const { labels, value } of readinessSamples(s.kind, s.list())) this.set(labels, value);
        }
      },
    });
  }
  mine.push({ kind, list: () => store.list() });
}
