/**
 * deploy/admission-node-identity.yaml against the real API server, with the real agent path: a ServiceAccount token
 * bound to a Pod scheduled on a Node (what a DaemonSet pod's projected token is), so the request carries
 * `authentication.kubernetes.io/node-name`. The policy and binding are the base's, renamed per test and confined to
 * the test's watched namespace; the agent's ServiceAccount and Pod are in the test's system namespace.
 */
import assert from "node:assert/strict";
import { clientNode, mergePatch } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl } from "../../kit/cluster.ts";
import { startAgent } from "../../kit/agent.ts";
import { withNetns } from "../../kit/netns.ts";
import {
  agentPod,
  apply,
  baseFor,
  deleteClusterScoped,
  type Namespaces,
  type Obj,
  REFUSED,
  saToken,
  SERVICE_ACCOUNTS,
  statusOf,
  tokenKubeconfig,
  withNamespaces,
} from "../../kit/deploy.ts";
import { until } from "../../kit/wait.ts";

const G = "networking.dn42.io";
const KINDS = [
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
];

/**
 * Everything a test needs: the base's RBAC and policy moved into `ns`, a Node, an agent Pod on it (in the system
 * namespace, as the DaemonSet's) and its token.
 */
async function setup(ns: Namespaces, program: "wg-controller" | "nl-controller") {
  const objs = await baseFor(ns, KINDS);
  await apply(objs);
  const node = `${ns.watched}-node`;
  await agentPod(ns.system, SERVICE_ACCOUNTS[program], node, "agent");
  const kubeconfig = await tokenKubeconfig(await saToken(ns.system, SERVICE_ACCOUNTS[program], "agent"), program);
  const k8s = await clientNode();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    node,
    kubeconfig,
    api: kc.makeApiClient(k8s.CustomObjectsApi),
    cleanup: async () => {
      await deleteClusterScoped(objs);
      await kubectl(["delete", "node", node, "--ignore-not-found", "--wait=false"], { check: false });
      await Deno.remove(kubeconfig).catch(() => {});
    },
  };
}

/**
 * Waits until the binding is enforced: `write` (which the policy must refuse) gets 403; returns that refusal. Until
 * then `write` may succeed, so it should change nothing (e.g. write back the object as read).
 */
async function policyInForce(write: () => Promise<unknown>): Promise<{ code: number; message: string }> {
  return await until<{ code: number; message: string } | undefined>(
    "the policy to be enforced",
    async () => {
      const r = await statusOf(write());
      return r.code === 403 ? r : undefined;
    },
    60_000,
    250,
  ) as { code: number; message: string };
}

/** A WireGuardInterface of `node` (the test only writes its status and finalizers; no agent runs). */
function wgi(namespace: string, name: string, node: string): Obj {
  return {
    apiVersion: `${G}/v1alpha1`,
    kind: "WireGuardInterface",
    metadata: { name, namespace },
    spec: { node, interfaceName: name, privateKey: "mCe+zbjoXyqeHI9bV47fL9CGqyMqtVF8Imjo9D8K1UA=", listenPort: 51820 },
  };
}

Deno.test({
  name: "admission: a wg-controller token bound to node A may write status of A's objects, not of B's, nor claim one",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespaces(async (ns, { namespace, kc: admin }) => {
      const s = await setup(ns, "wg-controller");
      const k8s = await clientNode();
      const adminApi = admin.makeApiClient(k8s.CustomObjectsApi);
      const res = { group: G, version: "v1alpha1", namespace, plural: "wireguardinterfaces" };
      try {
        await adminApi.createNamespacedCustomObject({ ...res, body: wgi(namespace, "wg-own", s.node) });
        await adminApi.createNamespacedCustomObject({ ...res, body: wgi(namespace, "wg-other", "some-other-node") });
        const writeStatus = async (name: string) => {
          const o: Obj = await s.api.getNamespacedCustomObject({ ...res, name });
          o.status = { conditions: [] };
          return s.api.replaceNamespacedCustomObjectStatus({ ...res, name, body: o });
        };
        const denied = await policyInForce(() => writeStatus("wg-other"));
        assert.match(
          denied.message,
          new RegExp(`node agent of node "${s.node}" may only change objects whose spec.node`),
        );
        assert.match(denied.message, /"some-other-node"/);
        assert.equal((await statusOf(writeStatus("wg-own"))).code, 200, "its own node's status");

        // Finalizer patches: own node allowed, other node refused.
        const merge = await mergePatch();
        const patch = (name: string, body: unknown) => s.api.patchNamespacedCustomObject({ ...res, name, body }, merge);
        assert.equal((await statusOf(patch("wg-own", { metadata: { finalizers: ["x.dn42.io/f"] } }))).code, 200);
        assert.equal((await statusOf(patch("wg-other", { metadata: { finalizers: ["x.dn42.io/f"] } }))).code, 403);
        // Claiming B's object by rewriting spec.node: the CRD already refuses it (spec.node is immutable, 422); the
        // policy's oldObject check would refuse it too if that rule ever went.
        const claim = await statusOf(patch("wg-other", { spec: { node: s.node } }));
        assert.equal(claim.code, 422);
        assert.match(claim.message, /spec\.node is immutable/);
        // The admin (not a node agent) is not restricted by the policy.
        assert.equal(
          (await statusOf(adminApi.patchNamespacedCustomObject(
            { ...res, name: "wg-own", body: { metadata: { finalizers: null } } },
            merge,
          ))).code,
          200,
        );
      } finally {
        await s.cleanup();
      }
    }),
});

Deno.test({
  name: "admission: a node agent token not bound to a Pod on a Node (no node name) is refused every write",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespaces(async (ns, { namespace, kc: admin }) => {
      const s = await setup(ns, "wg-controller");
      const unbound = await tokenKubeconfig(await saToken(ns.system, SERVICE_ACCOUNTS["wg-controller"]), "unbound");
      const k8s = await clientNode();
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(unbound);
      const api = kc.makeApiClient(k8s.CustomObjectsApi);
      const res = { group: G, version: "v1alpha1", namespace, plural: "wireguardinterfaces" };
      try {
        await admin.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
          ...res,
          body: wgi(namespace, "wg-own", s.node),
        });
        const r = await policyInForce(async () => {
          const o: Obj = await api.getNamespacedCustomObject({ ...res, name: "wg-own" });
          return api.replaceNamespacedCustomObjectStatus({ ...res, name: "wg-own", body: { ...o, status: {} } });
        });
        assert.match(r.message, /carry no node name/);
      } finally {
        await Deno.remove(unbound).catch(() => {});
        await s.cleanup();
      }
    }),
});

Deno.test({
  name: "admission: the real nl-controller with its node-bound token converges its node's object under the policy",
  ignore: skipUnless("root", "cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(async (ns, { namespace, kc: admin }) => {
      const s = await setup(ns, "nl-controller");
      const k8s = await clientNode();
      const adminApi = admin.makeApiClient(k8s.CustomObjectsApi);
      const res = { group: G, version: "v1alpha1", namespace, plural: "netlinkinterfaces" };
      try {
        await withNetns(async (target) => {
          const nli = (name: string, node: string) => ({
            apiVersion: `${G}/v1alpha1`,
            kind: "NetlinkInterface",
            metadata: { name, namespace },
            spec: {
              node,
              interfaceName: name,
              type: "bridge",
              up: true,
              addresses: [{ ipcidr: "10.231.0.1/24" }],
              container: { netns: { name: target.name } },
            },
          });
          // The binding is in force before the agent starts (a refused write of another node's status proves it).
          await adminApi.createNamespacedCustomObject({ ...res, body: nli("sh-other", "some-other-node") });
          await policyInForce(async () => {
            const o: Obj = await s.api.getNamespacedCustomObject({ ...res, name: "sh-other" });
            return s.api.replaceNamespacedCustomObjectStatus({ ...res, name: "sh-other", body: o });
          });
          const agent = await startAgent({
            program: "nl-controller",
            nodename: s.node,
            namespace,
            netnsTag: "sh",
            args: [
              `-kubeconfig=${s.kubeconfig}`,
              `-heartbeat-namespace=${ns.heartbeats}`,
              "-default-resync-period=3600",
            ],
          });
          try {
            await adminApi.createNamespacedCustomObject({ ...res, body: nli("sh-br0", s.node) });
            const o: Obj = await until(
              "the agent's object Ready",
              async () => {
                const o: Obj = await adminApi.getNamespacedCustomObject({ ...res, name: "sh-br0" });
                const ready = o.status?.conditions?.find((c: Obj) => c.type === "Ready");
                return ready?.status === "True" && o.status.observedGeneration === o.metadata.generation
                  ? o
                  : undefined;
              },
              180_000,
              250,
            );
            assert.equal(o.status.nodename, s.node);
            assert.deepEqual(o.metadata.finalizers, ["netlinkinterface.networking.dn42.io/finalizer"]);
            assert.match(await target.ip("-br", "addr", "show", "dev", "sh-br0"), /10\.231\.0\.1\/24/);
            const log = await Deno.readTextFile(agent.logFile);
            assert.doesNotMatch(log, REFUSED, "no write of the agent was refused");
            const other: Obj = await adminApi.getNamespacedCustomObject({ ...res, name: "sh-other" });
            assert.equal(other.status, undefined, "the other node's object was left alone");
            // Deletion through the agent (finalizer removal is a patch the policy allows for its own node).
            await adminApi.deleteNamespacedCustomObject({ ...res, name: "sh-br0" });
            await until(
              "the object gone",
              async () => (await statusOf(adminApi.getNamespacedCustomObject({ ...res, name: "sh-br0" }))).code === 404,
              120_000,
              250,
            );
          } catch (e) {
            console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
            throw e;
          } finally {
            await agent.dispose();
          }
        }, { count: 1, tag: "sh" });
      } finally {
        await s.cleanup();
      }
    }),
});

Deno.test({
  name:
    "admission: the real wg-controller with its node-bound token reads its key Secret and converges under the policy",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(async (ns, { namespace, kc: admin }) => {
      const s = await setup(ns, "wg-controller");
      const k8s = await clientNode();
      const adminApi = admin.makeApiClient(k8s.CustomObjectsApi);
      const res = { group: G, version: "v1alpha1", namespace, plural: "wireguardinterfaces" };
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-sh-wg-" });
      const name = `sh${crypto.getRandomValues(new Uint8Array(3)).toHex()}`; // wireguard-go sockets are global
      try {
        await admin.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
          namespace,
          body: { metadata: { name: "key" }, data: { privatekey: "EJ/JMvFbDrjWJGQrbqsxImQBaJ6hvHc5Vh7nWxBzpXA=" } },
        });
        await adminApi.createNamespacedCustomObject({ ...res, body: wgi(namespace, "wg-other", "some-other-node") });
        await policyInForce(async () => {
          const o: Obj = await s.api.getNamespacedCustomObject({ ...res, name: "wg-other" });
          return s.api.replaceNamespacedCustomObjectStatus({ ...res, name: "wg-other", body: o });
        });
        const agent = await startAgent({
          program: "wg-controller",
          nodename: s.node,
          namespace,
          netnsTag: "sh",
          args: [
            `-kubeconfig=${s.kubeconfig}`,
            `-heartbeat-namespace=${ns.heartbeats}`,
            "-wg-backend=userspace",
            `-wg-state-dir=${stateDir}`,
            "-wg-poll-interval=1",
            "-default-resync-period=3600",
          ],
        });
        try {
          await adminApi.createNamespacedCustomObject({
            ...res,
            body: {
              apiVersion: `${G}/v1alpha1`,
              kind: "WireGuardInterface",
              metadata: { name: "wg-own", namespace },
              spec: {
                node: s.node,
                interfaceName: name,
                privateKeySecretRef: { name: "key", key: "privatekey" },
                listenPort: 51821,
                addresses: [{ family: "inet", local: "10.232.0.1", peer: "10.232.0.2", prefixlen: 32 }],
              },
            },
          });
          const o: Obj = await until(
            "the agent's object Ready",
            async () => {
              const o: Obj = await adminApi.getNamespacedCustomObject({ ...res, name: "wg-own" });
              const ready = o.status?.conditions?.find((c: Obj) => c.type === "Ready");
              return ready?.status === "True" && o.status.observedGeneration === o.metadata.generation ? o : undefined;
            },
            180_000,
            250,
          );
          assert.deepEqual(o.metadata.finalizers, ["wireguardinterface.networking.dn42.io/finalizer"]);
          assert.match(await agent.host.ip("-br", "addr", "show", "dev", name), /10\.232\.0\.1/);
          assert.doesNotMatch(await Deno.readTextFile(agent.logFile), REFUSED, "no write was refused");
          const other: Obj = await adminApi.getNamespacedCustomObject({ ...res, name: "wg-other" });
          assert.equal(other.status, undefined, "the other node's object was left alone");
          await adminApi.deleteNamespacedCustomObject({ ...res, name: "wg-own" });
          await until(
            "the object gone (link and daemon removed by the agent)",
            async () => {
              return (await statusOf(adminApi.getNamespacedCustomObject({ ...res, name: "wg-own" }))).code === 404;
            },
            120_000,
            250,
          );
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
        }
      } finally {
        // A daemon left behind by a failure: stop it by the PID the agent recorded.
        for await (const f of Deno.readDir(stateDir)) {
          if (!f.name.endsWith(".pid")) continue;
          const pid = Number((await Deno.readTextFile(`${stateDir}/${f.name}`)).trim());
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await Deno.remove(stateDir, { recursive: true });
        await s.cleanup();
      }
    }),
});
