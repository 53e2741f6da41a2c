/**
 * The least-privilege matrix of deploy/'s RBAC: per ServiceAccount, what `kubectl auth can-i` must answer (what the
 * program uses yes, its neighbours no), in the watched namespace, the programs' own and others.
 */
import { canI, type Namespaces, SERVICE_ACCOUNTS } from "../../kit/deploy.ts";
import { until } from "../../kit/wait.ts";

const G = "networking.dn42.io";

/**
 * [verb, resource, expected answer, where?]: where is the watched namespace when absent, "system" the programs' own
 * namespace, "heartbeats" the heartbeat Leases' namespace, "other" another namespace, "*" all namespaces.
 */
export type Row = [string, string, boolean, ("system" | "heartbeats" | "other" | "*")?];

/** The heartbeat rows of a node agent: create and patch Leases only in the heartbeats namespace. */
const AGENT_HEARTBEATS: Row[] = [
  ["create", "leases.coordination.k8s.io", true, "heartbeats"],
  ["patch", "leases.coordination.k8s.io/wg-controller-lax1", true, "heartbeats"],
  ["get", "leases.coordination.k8s.io/wg-controller-lax1", false, "heartbeats"],
  ["delete", "leases.coordination.k8s.io/wg-controller-lax1", false, "heartbeats"],
  ["list", "leases.coordination.k8s.io", false, "heartbeats"],
  ["create", "leases.coordination.k8s.io", false, "system"],
  ["patch", "leases.coordination.k8s.io/wgplan-controller", false, "system"],
  ["create", "leases.coordination.k8s.io", false],
];

export const MATRIX: Record<keyof typeof SERVICE_ACCOUNTS, Row[]> = {
  "wg-controller": [
    ...["get", "list", "watch", "patch"].map((v): Row => [v, `wireguardinterfaces.${G}`, true]),
    ["update", `wireguardinterfaces.${G}`, false],
    ["create", `wireguardinterfaces.${G}`, false],
    ["delete", `wireguardinterfaces.${G}`, false],
    ["update", `wireguardinterfaces.${G}/status`, true],
    ["patch", `wireguardinterfaces.${G}/status`, false],
    ["get", "secrets", true],
    ["list", "secrets", false],
    ["watch", "secrets", false],
    ["create", "secrets", false],
    ["get", "secrets", false, "system"],
    ["get", "secrets", false, "other"],
    ["list", "secrets", false, "*"],
    ["create", "events", true],
    ["patch", "events", true],
    ["get", `netlinkinterfaces.${G}`, false],
    ["get", `wireguardnetworkplans.${G}`, false],
    ["delete", `wireguardnetworkplans.${G}`, false],
    ["get", `wireguardinterfaces.${G}`, false, "system"],
    ["get", `wireguardinterfaces.${G}`, false, "other"],
    ["create", "pods", false],
    ["get", "nodes", false, "*"],
    ...AGENT_HEARTBEATS,
  ],
  "nl-controller": [
    ...["get", "list", "watch", "patch"].map((v): Row => [v, `netlinkinterfaces.${G}`, true]),
    ["create", `netlinkinterfaces.${G}`, false],
    ["delete", `netlinkinterfaces.${G}`, false],
    ["update", `netlinkinterfaces.${G}/status`, true],
    ["create", "events", true],
    ["patch", "events", true],
    ["get", "secrets", false],
    ["get", `wireguardinterfaces.${G}`, false],
    ["list", `netlinkinterfaces.${G}`, false, "*"],
    ["get", `netlinkinterfaces.${G}`, false, "system"],
    ...AGENT_HEARTBEATS,
  ],
  "wgplan-controller": [
    ...["get", "list", "watch", "patch"].map((v): Row => [v, `wireguardnetworkplans.${G}`, true]),
    ["create", `wireguardnetworkplans.${G}`, false],
    ["delete", `wireguardnetworkplans.${G}`, false],
    ["update", `wireguardnetworkplans.${G}/status`, true],
    ["update", `wireguardnetworkplans.${G}/finalizers`, true],
    ...["get", "list", "watch", "create", "patch", "delete"].map((v): Row => [v, `wireguardinterfaces.${G}`, true]),
    ["update", `wireguardinterfaces.${G}/status`, false],
    ...["get", "create", "update", "delete"].map((v): Row => [v, "secrets", true]),
    ["list", "secrets", false],
    ["watch", "secrets", false],
    ["get", "secrets", false, "system"],
    ["get", "secrets", false, "other"],
    ["list", "secrets", false, "*"],
    ["create", "events", true],
    // The Lease is in the programs' own namespace (-leader-elect-namespace=$(POD_NAMESPACE)), not the watched one.
    ["create", "leases.coordination.k8s.io", true, "system"],
    ["get", "leases.coordination.k8s.io/wgplan-controller", true, "system"],
    ["update", "leases.coordination.k8s.io/wgplan-controller", true, "system"],
    ["get", "leases.coordination.k8s.io/other", false, "system"],
    ["update", "leases.coordination.k8s.io/other", false, "system"],
    ["delete", "leases.coordination.k8s.io/wgplan-controller", false, "system"],
    ["create", "leases.coordination.k8s.io", false],
    ["get", "leases.coordination.k8s.io/wgplan-controller", false],
    ["get", `wireguardnetworkplans.${G}`, false, "system"],
    ["get", `netlinkinterfaces.${G}`, false],
    ["create", `wireguardnetworkplans.${G}`, false, "other"],
    // The node agents' heartbeats: read (an informer), never written.
    ["list", "leases.coordination.k8s.io", true, "heartbeats"],
    ["watch", "leases.coordination.k8s.io", true, "heartbeats"],
    ["create", "leases.coordination.k8s.io", false, "heartbeats"],
    ["patch", "leases.coordination.k8s.io/wg-controller-lax1", false, "heartbeats"],
  ],
};

/** Runs the matrix for the ServiceAccounts of `ns.system` in the namespaces `ns`; returns the mismatches. */
export async function matrixMismatches(ns: Namespaces): Promise<string[]> {
  const { system, watched } = ns;
  const where = { system, heartbeats: ns.heartbeats ?? system, other: "kube-public", "*": "*" };
  const wrong: string[] = [];
  for (const [program, all] of Object.entries(MATRIX)) {
    const sa = SERVICE_ACCOUNTS[program as keyof typeof SERVICE_ACCOUNTS];
    const first = all[0];
    // The RoleBindings take effect at once, but let the first row (allowed, watched) wait for the authorizer's cache.
    await until("RBAC in effect", () => canI(system, sa, first[0], first[1], watched), 30_000, 200);
    for (const [verb, resource, want, ns] of all) {
      const got = await canI(system, sa, verb, resource, ns === undefined ? watched : where[ns]);
      if (got !== want) wrong.push(`${sa}: can-i ${verb} ${resource} in ${ns ?? "watched"}: ${got}`);
    }
  }
  return wrong;
}
