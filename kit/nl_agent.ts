/**
 * nl-controller helpers of tests and benchmarks on top of the shared agent harness (kit/agent.ts): the controller as a real
 * process confined to a throwaway network namespace, NetlinkInterface objects, readiness.
 */
import type * as k8s from "@kubernetes/client-node";
import { type Agent, startAgent } from "./agent.ts";
import { until } from "./wait.ts";

export { customApi } from "./agent.ts";
export type { Agent };

/** Module loading alone takes 10–20 s on a loaded host: waits are sized for that. */
export const WAIT_MS = 120_000;

/** The NetlinkInterface resource path parts. */
export const NLI = { group: "networking.dn42.io", version: "v1alpha1", plural: "netlinkinterfaces" };

/**
 * Starts nl-controller for `nodename` on objects of `namespace` (host namespace dn42op-<netnsTag, default na>-…). The API pipe's deno
 * process can take longer than the shared harness waits on a loaded host: its failure is retried twice.
 */
export async function startNlAgent(
  o: { nodename: string; namespace: string; args?: string[]; netnsTag?: string },
): Promise<Agent> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startAgent({ netnsTag: "na", ...o, program: "src/cmd/nl-controller.ts" });
    } catch (e) {
      if (attempt >= 3 || !/API pipe did not come up/.test(String(e))) throw e;
    }
  }
}

/** A NetlinkInterface manifest. */
export function nli(namespace: string, name: string, spec: object) {
  return { apiVersion: "networking.dn42.io/v1alpha1", kind: "NetlinkInterface", metadata: { name, namespace }, spec };
}

// deno-lint-ignore no-explicit-any
export type Obj = any;

/** Creates an object. */
export async function create(api: k8s.CustomObjectsApi, body: Obj): Promise<Obj> {
  return await api.createNamespacedCustomObject({ ...NLI, namespace: body.metadata.namespace, body });
}

/** Reads an object (null when gone). */
export async function read(api: k8s.CustomObjectsApi, namespace: string, name: string): Promise<Obj | null> {
  try {
    return await api.getNamespacedCustomObject({ ...NLI, namespace, name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return null;
    throw e;
  }
}

/** Ready=True with observedGeneration = generation. */
export function isReady(o: Obj | null): boolean {
  return !!o && o.status?.observedGeneration === o.metadata.generation &&
    o.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True");
}

/** Waits until object `name` is Ready and returns it. */
export function ready(api: k8s.CustomObjectsApi, namespace: string, name: string): Promise<Obj> {
  return until(`${name} Ready`, async () => {
    const o = await read(api, namespace, name);
    return isReady(o) && o;
  }, WAIT_MS);
}
