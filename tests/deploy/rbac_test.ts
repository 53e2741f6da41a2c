/**
 * Least privilege of deploy/'s RBAC against the real API server: a `kubectl auth can-i` matrix per ServiceAccount
 * (what each program uses: yes; the neighbours: no), and the plan controller doing its whole job as its
 * ServiceAccount (so the Role is also enough).
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { programCommand } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl, withNamespace } from "../helpers/cluster.ts";
import { until } from "../helpers/agent.ts";
import { apply, baseFor, canI, type Obj, saToken, saUser, SERVICE_ACCOUNTS, tokenKubeconfig } from "./support.ts";

const opts = { prefix: "dn42op-sh-" };
const RBAC_KINDS = ["ServiceAccount", "Role", "RoleBinding"];
const G = "networking.dn42.io";

/** [verb, resource, namespace?] → expected answer; namespace "*" = all namespaces, "default" = another one. */
type Row = [string, string, boolean, string?];

const MATRIX: Record<keyof typeof SERVICE_ACCOUNTS, Row[]> = {
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
    ["get", "secrets", false, "default"],
    ["list", "secrets", false, "*"],
    ["create", "events", true],
    ["patch", "events", true],
    ["get", `netlinkinterfaces.${G}`, false],
    ["get", `wireguardnetworkplans.${G}`, false],
    ["delete", `wireguardnetworkplans.${G}`, false],
    ["get", `wireguardinterfaces.${G}`, false, "default"],
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
    ["get", "secrets", false, "default"],
    ["list", "secrets", false, "*"],
    ["create", "events", true],
    ["create", "leases.coordination.k8s.io", true],
    ["get", "leases.coordination.k8s.io/wgplan-controller", true],
    ["update", "leases.coordination.k8s.io/wgplan-controller", true],
    ["get", "leases.coordination.k8s.io/other", false],
    ["update", "leases.coordination.k8s.io/other", false],
    ["delete", "leases.coordination.k8s.io/wgplan-controller", false],
    ["get", `netlinkinterfaces.${G}`, false],
    ["create", `wireguardnetworkplans.${G}`, false, "default"],
  ],
};

Deno.test({
  name: "rbac: kubectl auth can-i matrix per ServiceAccount — what the program uses yes, its neighbours no",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespace(async ({ namespace }) => {
      await apply(await baseFor(namespace, RBAC_KINDS));
      const wrong: string[] = [];
      for (const [program, rows] of Object.entries(MATRIX)) {
        const sa = SERVICE_ACCOUNTS[program as keyof typeof SERVICE_ACCOUNTS];
        // The RoleBindings take effect at once, but let the first row wait for the authorizer's cache.
        await until("RBAC in effect", () => canI(namespace, sa, rows[0][0], rows[0][1]), 30_000, 200);
        for (const [verb, resource, want, ns] of rows) {
          const got = await canI(namespace, sa, verb, resource, ns === undefined ? namespace : ns);
          if (got !== want) wrong.push(`${sa}: can-i ${verb} ${resource} in ${ns ?? "its namespace"}: ${got}`);
        }
      }
      assert.deepEqual(wrong, []);
    }, opts),
});

/** A plan of two nodes with generated keys (the plan controller writes the key Secret). */
function plan(namespace: string): Obj {
  return {
    apiVersion: `${G}/v1alpha1`,
    kind: "WireGuardNetworkPlan",
    metadata: { name: "mesh", namespace },
    spec: {
      defaultPortRange: { start: 30000, end: 30100 },
      nodes: [
        { nodeName: "n1", underlay: { hostname: "n1.example" } },
        { nodeName: "n2", underlay: { hostname: "n2.example" } },
      ],
      links: [{ fromNode: "n1", toNodes: [{ nodeName: "n2" }] }, { fromNode: "n2", toNodes: [{ nodeName: "n1" }] }],
    },
  };
}

Deno.test({
  name:
    "rbac: wgplan-controller does its whole job as its ServiceAccount (children, key Secret, status, Lease, deletion)",
  ignore: skipUnless("cluster"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNamespace(async ({ namespace, kc }) => {
      await apply(await baseFor(namespace, RBAC_KINDS));
      const sa = SERVICE_ACCOUNTS["wgplan-controller"];
      const kubeconfig = await tokenKubeconfig(await saToken(namespace, sa), "wgplan");
      const log = await Deno.makeTempFile({ prefix: "dn42op-sh-wgplan-" });
      const cmd = programCommand("wgplan-controller", [
        `-kubeconfig=${kubeconfig}`,
        `-namespace=${namespace}`,
        "-metrics-bind-address=0",
        "-leader-elect=true",
        "-leader-elect-lease-name=wgplan-controller",
      ]);
      const proc = new Deno.Command("sh", {
        args: ["-c", 'exec "$@" >>"$LOG" 2>&1', "sh", ...cmd],
        env: { LOG: log },
        stdin: "null",
      }).spawn();
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const wgi = { group: G, version: "v1alpha1", namespace, plural: "wireguardinterfaces" };
      const wgp = { group: G, version: "v1alpha1", namespace, plural: "wireguardnetworkplans" };
      try {
        await api.createNamespacedCustomObject({ ...wgp, body: plan(namespace) });
        const children = await until(
          "two children",
          async () => {
            const l = await api.listNamespacedCustomObject(wgi);
            return l.items.length === 2 ? l.items : undefined;
          },
          180_000,
          200,
        );
        assert.deepEqual(children.map((c: Obj) => c.spec.node).sort(), ["n1", "n2"]);
        const keys = await core.listNamespacedSecret({ namespace });
        assert.equal(keys.items.length, 1, "one key Secret written");
        const p = await until(
          "plan status",
          async () => {
            const o: Obj = await api.getNamespacedCustomObject({ ...wgp, name: "mesh" });
            return o.status?.conditions?.length ? o : undefined;
          },
          60_000,
          200,
        );
        assert.deepEqual(p.metadata.finalizers?.length, 1, "finalizer added through patch");
        const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
          namespace,
          name: "wgplan-controller",
        });
        assert.match(lease.spec?.holderIdentity ?? "", /.+/);

        await api.deleteNamespacedCustomObject({ ...wgp, name: "mesh" });
        // Children keep the node agents' finalizer (no agent runs here): deleted means deletionTimestamp set.
        await until(
          "plan and key Secret gone, children deleted",
          async () => {
            const [l, s, plans] = await Promise.all([
              api.listNamespacedCustomObject(wgi),
              core.listNamespacedSecret({ namespace }),
              api.listNamespacedCustomObject(wgp),
            ]);
            return s.items.length + plans.items.length === 0 && l.items.every((c: Obj) => c.metadata.deletionTimestamp);
          },
          120_000,
          200,
        );
        const text = await Deno.readTextFile(log);
        assert.doesNotMatch(text, /forbidden|403/i, "no request of the controller was refused");
      } catch (e) {
        console.error(await Deno.readTextFile(log).catch(() => ""));
        throw e;
      } finally {
        proc.kill("SIGTERM");
        await proc.status;
        await Deno.remove(log).catch(() => {});
        await Deno.remove(kubeconfig).catch(() => {});
      }
    }, opts),
});

Deno.test({
  name: "rbac: an unbound ServiceAccount token of a node agent is refused what its Role does not grant (real 403)",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespace(async ({ namespace }) => {
      await apply(await baseFor(namespace, RBAC_KINDS));
      const sa = SERVICE_ACCOUNTS["nl-controller"];
      const kubeconfig = await tokenKubeconfig(await saToken(namespace, sa), "nl");
      try {
        const r = await kubectl(["-n", namespace, "get", "secrets"], { kubeconfig, check: false });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`User "${saUser(namespace, sa)}" cannot list resource "secrets"`));
        const ok = await kubectl(["-n", namespace, "get", `netlinkinterfaces.${G}`], { kubeconfig });
        assert.equal(ok.code, 0);
      } finally {
        await Deno.remove(kubeconfig).catch(() => {});
      }
    }, opts),
});
