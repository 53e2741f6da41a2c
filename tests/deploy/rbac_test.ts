/**
 * Least privilege of deploy/'s RBAC against the real API server: the `kubectl auth can-i` matrix of matrix.ts, and the plan controller doing its whole job as its
 * ServiceAccount (so the Role is also enough).
 */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { programCommand } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl } from "../../kit/cluster.ts";
import { matrixMismatches } from "./matrix.ts";
import {
  apply,
  baseFor,
  type Obj,
  REFUSED,
  saToken,
  saUser,
  SERVICE_ACCOUNTS,
  tokenKubeconfig,
  withNamespaces,
} from "../../kit/deploy.ts";
import { until } from "../../kit/wait.ts";

const RBAC_KINDS = ["ServiceAccount", "Role", "RoleBinding"];
const G = "networking.dn42.io";

Deno.test({
  name: "rbac: kubectl auth can-i matrix per ServiceAccount — what the program uses yes, its neighbours no",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespaces(async (ns) => {
      await apply(await baseFor(ns, RBAC_KINDS));
      assert.deepEqual(await matrixMismatches(ns), []);
    }),
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
    withNamespaces(async (ns, { kc }) => {
      const objs = await baseFor(ns, [...RBAC_KINDS, "Deployment"]);
      await apply(objs.filter((o) => o.kind !== "Deployment"));
      const namespace = ns.watched;
      const sa = SERVICE_ACCOUNTS["wgplan-controller"];
      const kubeconfig = await tokenKubeconfig(await saToken(ns.system, sa), "wgplan");
      const log = await Deno.makeTempFile({ prefix: "dn42op-sh-wgplan-" });
      // The Deployment's own args (watched namespace, Lease in the pod's namespace), but no fixed metrics port.
      const podArgs: string[] = objs.find((o) => o.kind === "Deployment").spec.template.spec.containers[0].args;
      const args = podArgs.map((a) => a.replace("$(POD_NAMESPACE)", ns.system))
        .map((a) => a.startsWith("-metrics-bind-address=") ? "-metrics-bind-address=0" : a);
      assert.ok(args.includes(`-namespace=${ns.watched}`) && args.includes(`-leader-elect-namespace=${ns.system}`));
      const cmd = programCommand("wgplan-controller", [`-kubeconfig=${kubeconfig}`, ...args]);
      const proc = new Deno.Command("sh", {
        args: ["-c", 'exec "$@" >>"$LOG" 2>&1', "sh", ...cmd],
        env: { LOG: log },
        stdin: "null",
      }).spawn();
      const k8s = await clientNode();
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
          namespace: ns.system,
          name: "wgplan-controller",
        });
        assert.match(lease.spec?.holderIdentity ?? "", /.+/);

        await api.deleteNamespacedCustomObject({ ...wgp, name: "mesh" });
        // No node agent publishes a heartbeat here, so nothing waits for one: the children are gone with the plan.
        await until(
          "plan, key Secret and children gone",
          async () => {
            const [l, s, plans] = await Promise.all([
              api.listNamespacedCustomObject(wgi),
              core.listNamespacedSecret({ namespace }),
              api.listNamespacedCustomObject(wgp),
            ]);
            return s.items.length + plans.items.length + l.items.length === 0;
          },
          120_000,
          200,
        );
        const text = await Deno.readTextFile(log);
        assert.doesNotMatch(text, REFUSED, "no request of the controller was refused");
      } catch (e) {
        console.error(await Deno.readTextFile(log).catch(() => ""));
        throw e;
      } finally {
        proc.kill("SIGTERM");
        await proc.status;
        await Deno.remove(log).catch(() => {});
        await Deno.remove(kubeconfig).catch(() => {});
      }
    }),
});

Deno.test({
  name: "rbac: an unbound ServiceAccount token of a node agent is refused what its Role does not grant (real 403)",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespaces(async (ns) => {
      await apply(await baseFor(ns, RBAC_KINDS));
      const sa = SERVICE_ACCOUNTS["nl-controller"];
      const kubeconfig = await tokenKubeconfig(await saToken(ns.system, sa), "nl");
      try {
        const r = await kubectl(["-n", ns.watched, "get", "secrets"], { kubeconfig, check: false });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`User "${saUser(ns.system, sa)}" cannot list resource "secrets"`));
        const ok = await kubectl(["-n", ns.watched, "get", `netlinkinterfaces.${G}`], { kubeconfig });
        assert.equal(ok.code, 0);
        // Its own namespace grants nothing on the objects.
        const own = await kubectl(["-n", ns.system, "get", `netlinkinterfaces.${G}`], { kubeconfig, check: false });
        assert.notEqual(own.code, 0);
        assert.match(own.stderr, /cannot list resource "netlinkinterfaces"/);
      } finally {
        await Deno.remove(kubeconfig).catch(() => {});
      }
    }),
});
