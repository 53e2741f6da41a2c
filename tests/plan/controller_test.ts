/**
 * The wgplan-controller against a real kube-apiserver (kit/cluster.ts): wgp1's children, in-place updates,
 * self-healing of deleted and hand-edited children, the deletion flow, conditions for refused input, a 50-node mesh,
 * and two replicas under leader election. The node agent's part (status, finalizer release) is played by the test.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { KubeClient } from "../../src/kube/client.ts";
import {
  type InterfaceObject,
  INTERFACES,
  type PlanObject,
  PLANS,
  type SecretObject,
  SECRETS,
} from "../../src/controllers/wgplan/resources.ts";
import { publicKeyOf, WireGuardKey } from "../../src/wireguard/key.ts";
import { parse } from "yaml";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";
import { MAX_STATUS_INTERFACES } from "../../src/plan/status.ts";
import { fullMesh, wgp1Spec } from "../../kit/plan_fixtures.ts";
import {
  clusterTest,
  heartbeats,
  listChildren,
  planObject,
  planOwnerReference,
  releaseAll,
  releaseChild,
  reportApplied,
  startController,
  watchCount,
} from "./harness.ts";
import { until } from "../../kit/wait.ts";

const ignore = await skipUnless("cluster");
const PREFIX = "dn42op-pl-";

async function getPlan(client: KubeClient, ns: string, name: string): Promise<PlanObject> {
  return await client.get<PlanObject>(PLANS, ns, name);
}

const condition = (p: PlanObject, type: string) => p.status?.conditions?.find((c) => c.type === type);

/** The reference's wgp1 example (example/wgp/wgp1.yaml, byte for byte). */
async function wgp1Example(): Promise<{ spec: WireGuardNetworkPlanSpec; priv: WireGuardKey[]; pub: string[] }> {
  const file = new URL("../../example/wgp/wgp1.yaml", import.meta.url);
  const spec = (parse(await Deno.readTextFile(file)) as PlanObject).spec;
  const priv = spec.nodes!.map((n) => WireGuardKey.parse("private", n.privateKey!));
  const pub = await Promise.all(priv.map(async (k) => (await publicKeyOf(k)).toBase64()));
  // The nodes' public keys, derived from the example's private keys.
  assert.deepEqual(pub, [
    "mH275OIRLUolb0t0PzJlVt9Fxvjfn34njOgpy49y7jM=",
    "sLd9bBoHQGYMPQowZj/0k6c0LI5j8sWZ7RzrUD9kEmg=",
  ]);
  return { spec, priv, pub };
}

clusterTest("wgp1: exactly the reference's two children; edits, deleted and hand-edited children, deletion", {
  ignore,
  prefix: PREFIX,
}, async ({ kc, ns, client }) => {
  let opsPort = 0;
  const stopHeartbeats = heartbeats(client, ns, ["lax1", "lax2"]);
  const ctl = startController(kc, ns, {
    ops: { address: "127.0.0.1:0" },
    onOpsListening: (s) => (opsPort = s.port),
  });
  try {
    const { spec, priv, pub } = await wgp1Example();
    await client.create(PLANS, ns, planObject("wgp1", ns, spec));
    const kids = await until("two children", async () => {
      const m = await listChildren(client, ns, "wgp1");
      return m.size === 2 && m;
    });
    const plan = await getPlan(client, ns, "wgp1");
    const a = kids.get("wg-lax1-lax2-0")!;
    const b = kids.get("wg-lax2-lax1-0")!;
    assert.deepEqual([...kids.keys()].sort(), ["wg-lax1-lax2-0", "wg-lax2-lax1-0"]);
    const ref = (key: string) => ({ name: "wgp1-wgplan-keys", key, namespace: ns });
    assert.deepEqual(a.spec, {
      node: "lax1",
      interfaceName: "wg-lax1-lax2-0",
      moveToContainer: true,
      container: { docker: { name: "agent1" } },
      privateKeySecretRef: ref("lax1"),
      addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
      listenPort: 52820,
      mtu: 1420,
      peers: [{ publicKey: pub[1], allowedIPs: ["0.0.0.0/0", "::/0"] }],
    });
    assert.deepEqual(b.spec, {
      node: "lax2",
      interfaceName: "wg-lax2-lax1-0",
      moveToContainer: true,
      container: { docker: { name: "agent2" } },
      privateKeySecretRef: ref("lax2"),
      addresses: [{ family: "inet", local: "10.4.0.2", peer: "10.4.0.1", prefixlen: 32 }],
      listenPort: 51800,
      mtu: 1420,
      peers: [{
        publicKey: pub[0],
        allowedIPs: ["0.0.0.0/0", "::/0"],
        endpoint: "192.168.65.3:52820",
        persistentKeepalive: 25,
      }],
    });
    for (const [c, rid] of [[a, "lax1-lax2-0"], [b, "lax2-lax1-0"]] as const) {
      assert.equal(c.metadata.labels!["networkplan.networking.dn42.io/resource-id"], rid);
      assert.equal(c.metadata.labels!["networkplan.networking.dn42.io/is-controlled-by"], "wgp1");
      assert.match(c.metadata.labels!["networkplan.networking.dn42.io/config-hash"], /^[0-9a-f]{40}$/);
      assert.equal(c.metadata.annotations!["networkplan.networking.dn42.io/parent-observed-generation"], "1");
      assert.deepEqual(c.metadata.finalizers, ["networkplan.networking.dn42.io/finalizer"]);
      assert.deepEqual(c.metadata.ownerReferences, [planOwnerReference("wgp1", plan.metadata.uid)]);
    }
    // The inline keys went into the plan-owned Secret as raw 32 bytes (the reference's Secret format).
    const secret = await client.get<SecretObject>(SECRETS, ns, "wgp1-wgplan-keys");
    assert.equal(secret.data!.lax1, priv[0].toBytes().toBase64());
    assert.equal(secret.metadata.ownerReferences![0].uid, plan.metadata.uid);
    // Status: public keys, per-interface entries; no private key anywhere.
    const withStatus = await until("plan status", async () => {
      const p = await getPlan(client, ns, "wgp1");
      return p.status?.interfaces?.length === 2 && p;
    });
    assert.deepEqual(withStatus.status!.nodes, [
      { nodeName: "lax1", publicKey: pub[0], agent: "Alive" },
      { nodeName: "lax2", publicKey: pub[1], agent: "Alive" },
    ]);
    assert.equal(condition(withStatus, "AgentsAvailable")?.status, "True");
    assert.equal(withStatus.status!.desiredInterfaces, 2);
    assert.equal(condition(withStatus, "Progressing")?.status, "True");
    assert.equal(condition(withStatus, "Degraded")?.status, "False");
    for (const k of priv) assert.ok(!JSON.stringify(withStatus.status).includes(k.toBase64()));
    for (const c of [a, b]) assert.ok(!JSON.stringify(c).includes(priv[0].toBase64().slice(0, 20)));

    // The ops server: reconciles counted in /metrics, probes healthy.
    const ops = (path: string) =>
      fetch(`http://127.0.0.1:${opsPort}${path}`).then(async (r) => [r.status, await r.text()]);
    const [, metrics] = await ops("/metrics");
    assert.match(
      String(metrics),
      /controller_runtime_reconcile_total\{controller="wgplan-controller",result="success"\} [1-9]/,
    );
    assert.deepEqual(await ops("/healthz"), [200, "ok\n"]);
    assert.deepEqual(await ops("/readyz"), [200, "ok\n"]);

    // observedGeneration follows the nodes: only once both children are reported applied.
    assert.equal(withStatus.status!.observedGeneration ?? 0, 0);
    await reportApplied(client, a);
    await reportApplied(client, b);
    const applied = await until("observedGeneration 1", async () => {
      const p = await getPlan(client, ns, "wgp1");
      return p.status?.observedGeneration === 1 && p;
    });
    assert.equal(condition(applied, "Ready")?.status, "True");
    assert.equal(applied.status!.readyInterfaces, 2);

    // Editing the plan updates the child in place (same object, new spec and generation annotation).
    await client.patch(PLANS, ns, "wgp1", "json", [{ op: "replace", path: "/spec/nodes/0/mtu", value: 1380 }]);
    const edited = await until("mtu 1380", async () => {
      const c = (await listChildren(client, ns, "wgp1")).get("wg-lax1-lax2-0");
      return (c?.spec as { mtu: number })?.mtu === 1380 && c;
    });
    assert.equal(edited.metadata.uid, a.metadata.uid);
    assert.equal(edited.metadata.annotations!["networkplan.networking.dn42.io/parent-observed-generation"], "2");
    const p2 = await getPlan(client, ns, "wgp1");
    assert.equal(p2.status!.observedGeneration, 1, "generation 2 is not applied by the nodes yet");

    // A deleted child comes back (the node agent releases its finalizer, then the plan recreates it).
    await client.delete(INTERFACES, ns, "wg-lax2-lax1-0");
    await releaseChild(client, (await listChildren(client, ns, "wgp1")).get("wg-lax2-lax1-0")!);
    const back = await until("recreated child", async () => {
      const c = (await listChildren(client, ns, "wgp1")).get("wg-lax2-lax1-0");
      return c && c.metadata.uid !== b.metadata.uid && !c.metadata.deletionTimestamp && c;
    });
    assert.deepEqual(back.spec, b.spec);

    // A hand-edited child is restored, including fields added by hand.
    await client.patch(INTERFACES, ns, "wg-lax2-lax1-0", "merge", {
      spec: { mtu: 9000, listenPort: 1 },
      metadata: { finalizers: null },
    });
    const restored = await until("restored child", async () => {
      const c = (await listChildren(client, ns, "wgp1")).get("wg-lax2-lax1-0") as InterfaceObject;
      const s = c?.spec as { mtu: number; listenPort: number };
      return s?.mtu === 1420 && s.listenPort === 51800 && c.metadata.finalizers?.length === 1 && c;
    });
    assert.deepEqual(restored.spec, b.spec);

    // Deleting the plan deletes the children; once the node agents release them they are gone, then the plan.
    await client.delete(PLANS, ns, "wgp1");
    const terminating = await until("children terminating", async () => {
      const m = await listChildren(client, ns, "wgp1");
      return [...m.values()].every((c) => c.metadata.deletionTimestamp) && m;
    });
    for (const c of terminating.values()) await releaseChild(client, c);
    await until("children gone", async () => (await listChildren(client, ns, "wgp1")).size === 0);
    await until("plan gone", async () => {
      try {
        await getPlan(client, ns, "wgp1");
        return false;
      } catch {
        return true;
      }
    });
    await until("key Secret gone", () => client.get(SECRETS, ns, "wgp1-wgplan-keys").then(() => false, () => true));
  } finally {
    assert.equal(await ctl.stop(), 0);
    await stopHeartbeats();
    await releaseAll(client, ns);
  }
});

clusterTest(
  "a 50-node full-mesh plan expands to 2450 children and all of them are written",
  { ignore, prefix: PREFIX },
  async ({ kc, ns, client }) => {
    const ctl = startController(kc, ns);
    try {
      await client.create(PLANS, ns, planObject("mesh", ns, fullMesh(50)));
      const kids = await watchCount(client, ns, "mesh", 2450, 180_000);
      assert.equal(kids.size, 2450);
      const perNode = Map.groupBy(kids.list(), (c: InterfaceObject) => (c.spec as { node: string }).node);
      assert.equal(perNode.size, 50);
      for (const list of perNode.values()) assert.equal(list.length, 49);
      // The status counts all 2450 and lists the first MAX_STATUS_INTERFACES (not ready first), as etcd stores it.
      const p = await until("status of 2450 interfaces", async () => {
        const p = await getPlan(client, ns, "mesh");
        const s = p.status;
        return s?.desiredInterfaces === 2450 && s.interfaces?.length === MAX_STATUS_INTERFACES &&
          s.interfacesOmitted === 2450 - MAX_STATUS_INTERFACES && p;
      }, 60_000);
      assert.equal(condition(p, "Degraded")?.status, "False");
      assert.equal(p.status!.nodes!.filter((n) => n.publicKey).length, 50);
    } finally {
      await ctl.stop();
      await releaseAll(client, ns);
    }
  },
);

interface LeaseObject {
  metadata: { name?: string };
  spec?: { holderIdentity?: string | null };
}
interface EventObject {
  reason: string;
  source?: { host?: string };
}

clusterTest("two replicas: only the Lease holder writes; the standby takes over when the leader stops", {
  ignore,
  prefix: PREFIX,
}, async ({ kc, ns, client }) => {
  const LEASES = { group: "coordination.k8s.io", version: "v1", plural: "leases" };
  const EVENTS = { group: "", version: "v1", plural: "events" };
  const replica = (id: string) =>
    startController(kc, ns, {
      host: `host-${id}`,
      leaderElection: {
        namespace: ns,
        leaseName: "wgplan-controller",
        identity: `replica-${id}`,
        leaseDurationMs: 3000,
        renewDeadlineMs: 2000,
        retryPeriodMs: 500,
      },
    });
  const holder = async () =>
    (await client.get<LeaseObject & { apiVersion?: string; kind?: string }>(LEASES, ns, "wgplan-controller"))
      .spec?.holderIdentity;
  const writers = async () => {
    const list = await client.list<EventObject & { metadata: object }>(EVENTS, { namespace: ns });
    return new Set(list.items.filter((e) => e.reason === "InterfacesWritten").map((e) => e.source?.host));
  };
  const a = replica("a");
  let b: ReturnType<typeof replica> | undefined;
  try {
    await until("replica-a leads", async () => (await holder()) === "replica-a");
    b = replica("b");
    const spec = wgp1Spec();
    await client.create(PLANS, ns, planObject("wgp1", ns, spec));
    const kids = await until("children", async () => {
      const m = await listChildren(client, ns, "wgp1");
      return m.size === 2 && m;
    });
    // Let the standby run a few retry periods: it must neither take the Lease nor write anything.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await holder(), "replica-a");
    assert.deepEqual(await writers(), new Set(["host-a"]));

    assert.equal(await a.stop(), 0);
    await until("replica-b leads", async () => (await holder()) === "replica-b", 15_000);
    await client.delete(INTERFACES, ns, "wg-lax1-lax2-0");
    await releaseChild(client, kids.get("wg-lax1-lax2-0")!);
    await until("child recreated by replica-b", async () => {
      const c = (await listChildren(client, ns, "wgp1")).get("wg-lax1-lax2-0");
      return c && c.metadata.uid !== kids.get("wg-lax1-lax2-0")!.metadata.uid;
    });
    await until("replica-b wrote", async () => (await writers()).has("host-b"));
  } finally {
    await a.stop();
    if (b) assert.equal(await b.stop(), 0);
    await releaseAll(client, ns);
  }
});
