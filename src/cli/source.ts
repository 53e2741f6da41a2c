/**
 * The objects the CLI reads: plans and interfaces from the API server (paged lists), or from a file as kubectl
 * prints them (`kubectl get wgp,wgi -o yaml|json`: a List, or several YAML documents).
 */
import { parseAllDocuments } from "yaml";
import { API_VERSION, GROUP, KINDS, VERSION } from "../api/constants.ts";
import type { WireGuardInterface } from "../api/wireguard_interface.ts";
import type { WireGuardNetworkPlan } from "../api/wireguard_network_plan.ts";
import type { KubeClient, KubeObject, ResourceType } from "../kube/client.ts";

/** Plans. */
export const PLANS: ResourceType = { group: GROUP, version: VERSION, plural: KINDS.WireGuardNetworkPlan.plural };
/** WireGuardInterfaces. */
export const INTERFACES: ResourceType = { group: GROUP, version: VERSION, plural: KINDS.WireGuardInterface.plural };

/** Secrets (the plan's key Secret). */
export const SECRETS: ResourceType = { group: "", version: "v1", plural: "secrets" };

/** What the views are made of. */
export interface Objects {
  plans: WireGuardNetworkPlan[];
  wgis: WireGuardInterface[];
}

/** Every object of a resource (namespace undefined: all namespaces), following `continue` tokens. */
export async function listAll<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  namespace?: string,
  labelSelector?: string,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await client.list<T>(rt, { namespace, labelSelector, limit: 500, continue: token });
    out.push(...page.items);
    token = page.metadata.continue || undefined;
  } while (token);
  return out;
}

/** Plans and interfaces from the API server. */
export async function fetchObjects(client: KubeClient, namespace: string | undefined): Promise<Objects> {
  const [plans, wgis] = await Promise.all([
    listAll<WireGuardNetworkPlan>(client, PLANS, namespace),
    listAll<WireGuardInterface>(client, INTERFACES, namespace),
  ]);
  return { plans, wgis };
}

/**
 * Plans and interfaces in a file's text (pure): JSON or YAML, one object, a `List` (kubectl's `-o` output) or
 * several documents; other kinds are ignored. Throws naming the document that is not an object.
 */
export function objectsFromText(text: string, namespace?: string): Objects {
  const items: KubeObject[] = [];
  const add = (o: unknown, where: string) => {
    if (!o || typeof o !== "object" || Array.isArray(o)) throw new Error(`${where}: not a Kubernetes object`);
    const obj = o as KubeObject & { items?: unknown[] };
    if (Array.isArray(obj.items)) obj.items.forEach((i, n) => add(i, `${where} items[${n}]`));
    else items.push(obj);
  };
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length) throw new Error(`document ${i + 1}: ${doc.errors[0].message.split("\n")[0]}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) add(value, `document ${i + 1}`);
  }
  const ours = items.filter((o) =>
    o.apiVersion === API_VERSION && (!namespace || (o.metadata?.namespace ?? "default") === namespace)
  );
  return {
    plans: ours.filter((o) => o.kind === KINDS.WireGuardNetworkPlan.kind) as WireGuardNetworkPlan[],
    wgis: ours.filter((o) => o.kind === KINDS.WireGuardInterface.kind) as WireGuardInterface[],
  };
}
