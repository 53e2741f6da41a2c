/**
 * Compatibility of the base with the reference's manifests: under the base's unchanged RBAC (the can-i matrix holds for
 * dn42op-system's ServiceAccounts in `default`), `example/wgp/wgp1.yaml`, unchanged (`namespace: default`), is acted
 * on by the plan controller running as its ServiceAccount with the base's Deployment args. Of the tests that write into
 * `default` (this, tests/e2e/reference_commands_test.ts) one runs at a time (kit/cluster.ts); it removes what it made
 * (the namespace dn42op-system only if it created it).
 */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { parseAllDocuments } from "yaml";
import { programCommand, ROOT } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl, withFixedNamespace } from "../../kit/cluster.ts";
import { childSelector } from "../../src/plan/child.ts";
import { matrixMismatches } from "./matrix.ts";
import {
  apply,
  BASE_NAMESPACES,
  type Obj,
  REFUSED,
  renderBase,
  saToken,
  SERVICE_ACCOUNTS,
  tokenKubeconfig,
} from "../../kit/deploy.ts";
import { until } from "../../kit/wait.ts";

const G = "networking.dn42.io";
const EXAMPLE = `${ROOT}example/wgp/wgp1.yaml`;

Deno.test({
  name:
    "reference example: the base's RBAC holds in `default`, and example/wgp/wgp1.yaml (unchanged) is expanded there",
  ignore: skipUnless("cluster"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withFixedNamespace("default", async ({ kc }) => {
      const k8s = await clientNode();
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const { system, watched, heartbeats } = BASE_NAMESPACES;
      const example: Obj = parseAllDocuments(await Deno.readTextFile(EXAMPLE)).map((d) => d.toJS())[0];
      assert.equal(example.metadata.namespace, watched, "the reference example is in `default`");
      const wgp = { group: G, version: "v1alpha1", namespace: watched, plural: "wireguardnetworkplans" };
      const wgi = { group: G, version: "v1alpha1", namespace: watched, plural: "wireguardinterfaces" };
      const children = childSelector(example.metadata.name);

      const create = (name: string) =>
        core.createNamespace({ body: { metadata: { name } } }).then(
          () => true,
          (e) => e instanceof k8s.ApiException && e.code === 409 ? false : Promise.reject(e),
        );
      const createdNamespace = await create(system);
      const createdHeartbeats = await create(heartbeats);
      const base = await renderBase();
      const rbac = base.filter((o) => ["ServiceAccount", "Role", "RoleBinding"].includes(o.kind));
      const deployment = base.find((o) => o.kind === "Deployment");
      let proc: Deno.ChildProcess | undefined;
      const log = await Deno.makeTempFile({ prefix: "dn42op-sh-refex-" });
      let kubeconfig: string | undefined;
      try {
        await apply(rbac);
        // The base's RBAC as it is: dn42op-system's ServiceAccounts, Roles in `default`, the Lease Role in dn42op-system.
        assert.deepEqual(await matrixMismatches(BASE_NAMESPACES), []);
        kubeconfig = await tokenKubeconfig(await saToken(system, SERVICE_ACCOUNTS["wgplan-controller"]), "refex");
        const args: string[] = deployment.spec.template.spec.containers[0].args
          .map((a: string) => a.replace("$(POD_NAMESPACE)", system))
          .map((a: string) => a.startsWith("-metrics-bind-address=") ? "-metrics-bind-address=0" : a);
        const cmd = programCommand("wgplan-controller", [`-kubeconfig=${kubeconfig}`, ...args]);
        proc = new Deno.Command("sh", {
          args: ["-c", 'exec "$@" >>"$LOG" 2>&1', "sh", ...cmd],
          env: { LOG: log },
          stdin: "null",
        }).spawn();

        await kubectl(["apply", "-f", EXAMPLE]); // exactly as a reference user does
        const made = await until(
          "the plan's two children in default",
          async () => {
            const l = await api.listNamespacedCustomObject({ ...wgi, labelSelector: children }).catch(() => undefined);
            return l?.items.length === 2 ? l.items : undefined;
          },
          180_000,
          250,
        );
        assert.deepEqual(made.map((c: Obj) => c.metadata.name).sort(), ["wg-lax1-lax2-0", "wg-lax2-lax1-0"]);
        const lax1 = made.find((c: Obj) => c.spec.node === "lax1");
        assert.equal(lax1.spec.listenPort, 52820);
        const plan: Obj = await until(
          "plan status",
          async () => {
            const o: Obj = await api.getNamespacedCustomObject({ ...wgp, name: example.metadata.name });
            return o.status?.conditions?.length ? o : undefined;
          },
          60_000,
          250,
        );
        assert.ok(plan.status.conditions.length > 0);
        const text = await Deno.readTextFile(log);
        assert.doesNotMatch(text, REFUSED, "no request of the controller was refused");
        const lease = await kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({
          namespace: system,
          name: "wgplan-controller",
        });
        assert.match(lease.spec?.holderIdentity ?? "", /.+/);
      } catch (e) {
        console.error(await Deno.readTextFile(log).catch(() => ""));
        throw e;
      } finally {
        // The plan first, while its controller still runs (it removes the plan's finalizer).
        await kubectl(["delete", "-f", EXAMPLE, "--ignore-not-found", "--timeout=60s"], { check: false });
        if (proc) {
          proc.kill("SIGTERM");
          await proc.status;
        }
        // Children keep the node agents' finalizer (no agent runs here), and the plan its own if the controller did not
        // run: the admin removes them.
        const left = await api.listNamespacedCustomObject({ ...wgi, labelSelector: children }).catch(() => ({
          items: [],
        }));
        const names = [
          ...left.items.map((c: Obj) => `wireguardinterfaces.${G}/${c.metadata.name}`),
          `wireguardnetworkplans.${G}/${example.metadata.name}`,
        ];
        for (const name of names) {
          const unblock = ["-n", watched, "patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'];
          await kubectl(unblock, { check: false });
          await kubectl(["-n", watched, "delete", name, "--ignore-not-found"], { check: false });
        }
        for (const o of rbac.filter((o) => o.metadata.namespace === watched)) {
          await kubectl(["-n", watched, "delete", o.kind, o.metadata.name, "--ignore-not-found"], { check: false });
        }
        if (createdHeartbeats) await kubectl(["delete", "namespace", heartbeats, "--wait=false"], { check: false });
        else {
          for (const o of rbac.filter((o) => o.metadata.namespace === heartbeats)) {
            await kubectl(["-n", heartbeats, "delete", o.kind, o.metadata.name, "--ignore-not-found"], {
              check: false,
            });
          }
        }
        if (createdNamespace) await kubectl(["delete", "namespace", system, "--wait=false"], { check: false });
        else {
          const made = [...rbac.filter((o) => o.metadata.namespace === system), {
            kind: "Lease",
            metadata: { name: "wgplan-controller" },
          }];
          for (const o of made) {
            await kubectl(["-n", system, "delete", o.kind, o.metadata.name, "--ignore-not-found"], { check: false });
          }
        }
        await Deno.remove(log).catch(() => {});
        if (kubeconfig) await Deno.remove(kubeconfig).catch(() => {});
      }
    }),
});
