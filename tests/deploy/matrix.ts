/**
 * The least-privilege matrix of deploy/'s RBAC: per ServiceAccount, what `kubectl auth can-i` must answer (what the
 * program uses yes, its neighbours no), in the watched namespace, the programs' own and others.
 */
import { canI, SERVICE_ACCOUNTS } from "./support.ts";
import { until } from "../../kit/wait.ts";

const G = "networking.dn42.io";

/**
 * [verb, resource, expected answer, where?]: where is the watched namespace when absent, "system" the programs' own
 * namespace, "other" a third namespace, "*" all namespaces.
 */
export type Row = [string, string, boolean, ("system" | "other" | "*")?];

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
  ],
};

/** Runs the matrix for the ServiceAccounts of `system`, with the watched namespace `watched`; returns the mismatches. */
export async function matrixMismatches(system: string, watched: string): Promise<string[]> {
  const where = { system, other: "kube-public", "*": "*" };
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
