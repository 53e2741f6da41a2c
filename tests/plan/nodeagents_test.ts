/**
 * Plans and the node agents that do (or do not) run, against the real API server with real wg-controllers (wireguard-go
 * in throwaway network namespaces) and the plan controller in-process:
 * - a 4-node plan with agents on two nodes is deleted completely; a node whose agent stopped recently still gets its
 *   cleanup once the agent is back; the status names the nodes without an agent;
 * - an agent gone beyond the grace period does not block deletion, and sweeps its link when it comes back;
 * - a child belongs to its plan by the controller reference: a removed label, hand-edited labels, annotations and
 *   spec are restored, and plan edits still reach the child and the kernel.
 * Node names carry a random tag: interface names are `wg-<from>-<to>-<idx>` and wireguard-go sockets are global.
 */
import assert from "node:assert/strict";
import { type Agent, startAgent } from "../../kit/agent.ts";
import { skipUnless } from "../helpers/caps.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { type InterfaceObject, INTERFACES, type PlanObject, PLANS } from "../../src/controllers/wgplan/resources.ts";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";
import { clusterTest, listChildren, planObject, releaseAll, startController } from "./harness.ts";
import { until } from "../../kit/wait.ts";

const ignore = await skipUnless("root", "cluster", "wireguard-go");
const PREFIX = "dn42op-pl-";
const CHILD_FINALIZER = "networkplan.networking.dn42.io/finalizer";
const CONTROLLED_BY = "networkplan.networking.dn42.io/is-controlled-by";

/** Node names `<letter><tag>` (4 characters, so `wg-<from>-<to>-0` fits in 15 bytes). */
function nodeNames(n: number): string[] {
  const tag = crypto.getRandomValues(new Uint8Array(2)).toHex().slice(0, 3);
  return Array.from({ length: n }, (_, i) => `${"abcdefgh"[i]}${tag}`);
}

/** A full mesh of `nodes` in the agents' host namespaces, reachable at 127.0.0.1 (tunnels need not come up). */
function mesh(nodes: string[]): WireGuardNetworkPlanSpec {
  return {
    defaultPortRange: { start: 51800, end: 51819 },
    nodes: nodes.map((nodeName, i) => ({
      nodeName,
      underlay: { hostname: "127.0.0.1", portRange: { start: 42000 + 20 * i, end: 42019 + 20 * i } },
      mtu: 1420,
    })),
    links: nodes.map((fromNode) => ({
      fromNode,
      toNodes: nodes.filter((t) => t !== fromNode).map((nodeName) => ({ nodeName })),
    })),
  };
}

/** Real wg-controllers for `nodes`, each in its own throwaway network namespace, with a 4 s heartbeat Lease. */
async function agents(namespace: string, nodes: string[], stateDir: string): Promise<Map<string, Agent>> {
  const out = new Map<string, Agent>();
  for (const nodename of nodes) {
    out.set(
      nodename,
      await startAgent({
        program: "wg-controller",
        nodename,
        namespace,
        netnsTag: "pl",
        args: [
          "-wg-backend=userspace",
          `-wg-state-dir=${stateDir}/${nodename}`,
          "-wg-poll-interval=1",
          "-heartbeat-lease-duration=4",
        ],
      }),
    );
  }
  return out;
}

const nodeOf = (c: InterfaceObject) => (c.spec as { node: string }).node;
const condition = (p: PlanObject, type: string) => p.status?.conditions?.find((c) => c.type === type);

/** The plan, or undefined once it is gone. */
async function getPlan(client: KubeClient, ns: string, name: string): Promise<PlanObject | undefined> {
  return await client.get<PlanObject>(PLANS, ns, name).catch(() => undefined);
}

/** The MTU of link `name` in the agent's host namespace, or undefined when there is no such link. */
async function linkMtu(agent: Agent, name: string): Promise<number | undefined> {
  const out = await agent.host.ip("-j", "link", "show").catch(() => "[]");
  return (JSON.parse(out) as { ifname: string; mtu: number }[]).find((l) => l.ifname === name)?.mtu;
}

/** Waits until the node's children are applied and Ready, and their links exist. */
async function converged(client: KubeClient, ns: string, plan: string, agent: Agent, count: number) {
  return await until(`${agent.nodename}'s ${count} children Ready with links`, async () => {
    const mine = [...(await listChildren(client, ns, plan)).values()].filter((c) => nodeOf(c) === agent.nodename);
    const ready = mine.filter((c) =>
      c.status?.observedGeneration === c.metadata.generation &&
      c.status?.conditions?.some((k) => k.type === "Ready" && k.status === "True")
    );
    if (mine.length !== count || ready.length !== count) return false;
    for (const c of mine) {
      if (await linkMtu(agent, (c.spec as { interfaceName: string }).interfaceName) === undefined) return false;
    }
    return mine;
  }, 120_000);
}

async function cleanup(client: KubeClient, ns: string, all: Iterable<Agent>, stateDir: string) {
  for (const a of all) await a.dispose();
  await releaseAll(client, ns);
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
}

clusterTest(
  "4-node plan, agents on 2 nodes: status names the others; deleted fully, a recently stopped agent cleans up",
  { ignore, prefix: PREFIX },
  async ({ kc, ns, client }) => {
    const [n1, n2, n3, n4] = nodeNames(4);
    const stateDir = await Deno.makeTempDir({ prefix: "dn42op-pl-wg-" });
    const ctl = startController(kc, ns, { agents: { namespace: ns, graceMs: 300_000 } });
    const running = await agents(ns, [n1, n2], stateDir);
    try {
      await client.create(PLANS, ns, planObject("p4", ns, mesh([n1, n2, n3, n4])));
      // The status names the nodes without an agent.
      const p = await until("status with each node's agent", async () => {
        const p = await getPlan(client, ns, "p4");
        const agents = Object.fromEntries((p?.status?.nodes ?? []).map((n) => [n.nodeName, n.agent]));
        return agents[n1] === "Alive" && agents[n2] === "Alive" && agents[n3] === "None" && agents[n4] === "None" &&
          p;
      });
      const verdict = condition(p, "AgentsAvailable")!;
      assert.equal(verdict.status, "False");
      assert.equal(verdict.reason, "AgentsMissing");
      assert.equal(verdict.message, `no running wg-controller: never seen (nothing waits for them): ${n3}, ${n4}`);

      const [a1, a2] = [running.get(n1)!, running.get(n2)!];
      await converged(client, ns, "p4", a1, 3);
      await converged(client, ns, "p4", a2, 3);
      // Only children of nodes with an agent wait for it.
      for (const c of (await listChildren(client, ns, "p4")).values()) {
        const waits = c.metadata.finalizers?.includes(CHILD_FINALIZER) ?? false;
        assert.equal(waits, [n1, n2].includes(nodeOf(c)), `${c.metadata.name}: finalizers ${c.metadata.finalizers}`);
      }

      // n2's agent stops; within the grace period it counts as coming back.
      await a2.stop();
      await until("n2 Stale", async () => {
        const p = await getPlan(client, ns, "p4");
        return p?.status?.nodes?.find((n) => n.nodeName === n2)?.agent === "Stale";
      });
      const t0 = performance.now();
      await client.delete(PLANS, ns, "p4");
      // n1's children go with their links (its agent runs), n3's and n4's at once (nothing to clean up) ...
      const left = await until("only n2's children left", async () => {
        const m = [...(await listChildren(client, ns, "p4")).values()];
        return m.length === 3 && m.every((c) => nodeOf(c) === n2) && m;
      }, 60_000);
      for (const c of left) {
        assert.ok(c.metadata.deletionTimestamp, `${c.metadata.name} is being deleted`);
        assert.ok(c.metadata.finalizers?.includes(CHILD_FINALIZER), `${c.metadata.name} waits for n2's agent`);
      }
      for (const to of [n2, n3, n4]) assert.equal(await linkMtu(a1, `wg-${n1}-${to}-0`), undefined);
      // ... while the plan waits for n2 and says so.
      const waiting = await until("the plan waiting for n2", async () => {
        const p = await getPlan(client, ns, "p4");
        return condition(p!, "AgentsAvailable")?.message.includes(
          `stopped recently (deletions wait for them): ${n2}`,
        ) &&
          p;
      });
      assert.ok(waiting.metadata.deletionTimestamp);
      assert.ok(await linkMtu(a2, `wg-${n2}-${n1}-0`), "n2's links are still there");

      // n2's agent comes back within the grace period and cleans up: links, children, then the plan are gone.
      a2.restart();
      await until("plan and children gone", async () => {
        return !(await getPlan(client, ns, "p4")) && (await listChildren(client, ns, "p4")).size === 0;
      }, 90_000);
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(`deletion of the 4-node plan, n2's agent restarted on the way: ${seconds} s`);
      for (const to of [n1, n3, n4]) assert.equal(await linkMtu(a2, `wg-${n2}-${to}-0`), undefined);
    } finally {
      await ctl.stop();
      await cleanup(client, ns, running.values(), stateDir);
    }
  },
);

clusterTest("an agent gone beyond the grace period does not block deletion; back, it sweeps its link", {
  ignore,
  prefix: PREFIX,
}, async ({ kc, ns, client }) => {
  const [n1, n2] = nodeNames(2);
  const stateDir = await Deno.makeTempDir({ prefix: "dn42op-pl-wg-" });
  const ctl = startController(kc, ns, { agents: { namespace: ns, graceMs: 3000 } });
  const running = await agents(ns, [n1], stateDir);
  const a1 = running.get(n1)!;
  try {
    await client.create(PLANS, ns, planObject("p2", ns, mesh([n1, n2])));
    await converged(client, ns, "p2", a1, 1);
    await a1.stop();
    await client.delete(PLANS, ns, "p2");
    // Lease (4 s) plus grace (3 s), then the plan controller releases n1's child.
    await until("plan and children gone without n1's agent", async () => {
      return !(await getPlan(client, ns, "p2")) && (await listChildren(client, ns, "p2")).size === 0;
    }, 60_000);
    const link = `wg-${n1}-${n2}-0`;
    assert.equal(await linkMtu(a1, link), 1420, "nobody removed n1's link while its agent was gone");
    a1.restart();
    await until("n1's agent sweeps its orphaned link", async () => await linkMtu(a1, link) === undefined, 60_000);
  } finally {
    await ctl.stop();
    await cleanup(client, ns, running.values(), stateDir);
  }
});

clusterTest(
  "a child belongs to its plan by the controller reference: label removed → restored; plan edits reach the kernel",
  { ignore, prefix: PREFIX },
  async ({ kc, ns, client }) => {
    const [n1, n2] = nodeNames(2);
    const stateDir = await Deno.makeTempDir({ prefix: "dn42op-pl-wg-" });
    const ctl = startController(kc, ns);
    const running = await agents(ns, [n1], stateDir);
    const a1 = running.get(n1)!;
    const name = `wg-${n1}-${n2}-0`;
    const child = () => client.get<InterfaceObject>(INTERFACES, ns, name);
    const mtuOf = (c: InterfaceObject) => (c.spec as { mtu: number }).mtu;
    try {
      await client.create(PLANS, ns, planObject("p", ns, mesh([n1, n2])));
      const [original] = await converged(client, ns, "p", a1, 1);
      const labels = original.metadata.labels!;
      const annotations = original.metadata.annotations!;

      // The label that used to select the children is removed: the child is restored, not orphaned.
      await client.patch(INTERFACES, ns, name, "json", [
        { op: "remove", path: `/metadata/labels/${CONTROLLED_BY.replace("/", "~1")}` },
      ]);
      await until(
        "is-controlled-by restored",
        async () => (await child()).metadata.labels?.[CONTROLLED_BY] === "p",
      );

      // Hand edits of our labels and annotations and of the spec are undone; other labels stay.
      await client.patch(INTERFACES, ns, name, "merge", {
        metadata: {
          labels: { [CONTROLLED_BY]: null, "networkplan.networking.dn42.io/config-hash": "x", mine: "kept" },
          annotations: { "networkplan.networking.dn42.io/parent-observed-generation": "999" },
        },
        spec: { mtu: 1300 },
      });
      const restored = await until("labels, annotations and spec restored", async () => {
        const c = await child();
        const l = c.metadata.labels ?? {};
        const ok = Object.entries(labels).every(([k, v]) => l[k] === v) && l.mine === "kept" &&
          Object.entries(annotations).every(([k, v]) => c.metadata.annotations?.[k] === v) && mtuOf(c) === 1420;
        return ok && c;
      });
      assert.equal(restored.metadata.uid, original.metadata.uid, "the same object, not a new one");
      await until("kernel MTU back at 1420", async () => await linkMtu(a1, name) === 1420);

      // Without the label again, a plan edit still reaches the child and the kernel.
      await client.patch(INTERFACES, ns, name, "json", [
        { op: "remove", path: `/metadata/labels/${CONTROLLED_BY.replace("/", "~1")}` },
      ]);
      await client.patch(PLANS, ns, "p", "json", [{ op: "replace", path: "/spec/nodes/0/mtu", value: 1380 }]);
      const edited = await until("plan edit on the child", async () => {
        const c = await child();
        return mtuOf(c) === 1380 && c.metadata.labels?.[CONTROLLED_BY] === "p" && c;
      });
      assert.equal(edited.metadata.uid, original.metadata.uid);
      await until("kernel MTU 1380", async () => await linkMtu(a1, name) === 1380, 60_000);
    } finally {
      await ctl.stop();
      await cleanup(client, ns, running.values(), stateDir);
    }
  },
);
