import assert from "node:assert/strict";
import { childObject } from "../../src/plan/child.ts";
import { expandPlan } from "../../src/plan/expand.ts";
import { type ObservedChild, planStatus, type StatusInput } from "../../src/plan/status.ts";
import { keysFor, LAX1_PUB, LAX2_PUB, wgp1Spec } from "../../kit/plan_fixtures.ts";

const now = new Date("2026-11-25T16:00:00Z");
const plan = { name: "wgp1", namespace: "default", uid: "u", generation: 2 };
const interfaces = expandPlan(wgp1Spec(), keysFor(["lax1", "lax2"], { lax1: LAX1_PUB, lax2: LAX2_PUB })).interfaces;

/** Children as the API would return them: generation 1; `applied` sets the node's observedGeneration. */
function children(generation: number, applied: boolean[]): Map<string, ObservedChild> {
  return new Map(interfaces.map((d, i) => {
    const obj = childObject({ ...plan, generation }, d);
    const status = applied[i]
      ? {
        observedGeneration: 1,
        hostname: `host-${d.fromNode}`,
        wireguard: { public_key: "PUB", listen_port: d.spec.listenPort, peers: [] },
      }
      : undefined;
    return [d.objectName, { metadata: { ...obj.metadata, generation: 1 }, spec: obj.spec, status }];
  }));
}

function input(over: Partial<StatusInput>): StatusInput {
  return {
    generation: 2,
    previous: { observedGeneration: 1 },
    interfaces,
    problems: [],
    writeErrors: [],
    nodes: [{ nodeName: "lax1", publicKey: LAX1_PUB }, { nodeName: "lax2", publicKey: LAX2_PUB }],
    children: children(2, [true, true]),
    now,
    ...over,
  };
}

const cond = (s: ReturnType<typeof planStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

Deno.test("observedGeneration advances only when every node applied this generation's spec", () => {
  const done = planStatus(input({}));
  assert.equal(done.observedGeneration, 2);
  assert.equal(done.readyInterfaces, 2);
  assert.equal(cond(done, "Ready").status, "True");
  assert.equal(cond(done, "Progressing").status, "False");

  const oneNodeBehind = planStatus(input({ children: children(2, [true, false]) }));
  assert.equal(oneNodeBehind.observedGeneration, 1);
  assert.equal(cond(oneNodeBehind, "Progressing").status, "True");
  assert.equal(cond(oneNodeBehind, "Progressing").message, "1 of 2 interfaces applied by their nodes at generation 2");
  assert.equal(cond(oneNodeBehind, "Ready").reason, "ChildrenNotReady");

  // Children written from an older plan generation do not count, even if their nodes applied them.
  assert.equal(planStatus(input({ children: children(1, [true, true]) })).observedGeneration, 1);
  // Nor does a child whose spec was edited by hand.
  const edited = children(2, [true, true]);
  const first = edited.get("wg-lax1-lax2-0")!;
  edited.set("wg-lax1-lax2-0", { ...first, spec: { ...(first.spec as object), mtu: 1 } });
  assert.equal(planStatus(input({ children: edited })).observedGeneration, 1);
});

Deno.test("per-interface status: object, nodes, port, public key, endpoint, handshake, readiness", () => {
  const s = planStatus(input({ children: children(2, [true, false]) }));
  assert.deepEqual(s.interfaces, [
    {
      wgObjectRef: "wg-lax1-lax2-0",
      nodeName: "lax1",
      peerNodeName: "lax2",
      hostName: "host-lax1",
      interfaceName: "wg-lax1-lax2-0",
      listenPort: 52820,
      publicKey: "PUB",
      ready: true,
    },
    {
      wgObjectRef: "wg-lax2-lax1-0",
      nodeName: "lax2",
      peerNodeName: "lax1",
      interfaceName: "wg-lax2-lax1-0",
      listenPort: 51800,
      publicKey: LAX2_PUB,
      endpoint: "192.168.65.3:52820",
      ready: false,
    },
  ]);
  assert.deepEqual(s.nodes, [{ nodeName: "lax1", publicKey: LAX1_PUB }, { nodeName: "lax2", publicKey: LAX2_PUB }]);
  assert.equal(JSON.stringify(s).includes('privateKey":'), false);
});

Deno.test("problems make the plan Degraded with the most specific reason; transition times are kept", () => {
  const problems = [
    { reason: "PortOutOfRange" as const, message: "link a → b: listen port 101 is past the end" },
    { reason: "SecretNamespaceForbidden" as const, message: "spec.nodes[0].privateKeyRef.namespace: refused" },
  ];
  const s = planStatus(input({ problems }));
  assert.equal(cond(s, "Degraded").status, "True");
  assert.equal(cond(s, "Degraded").reason, "SecretNamespaceForbidden");
  assert.equal(cond(s, "Ready").status, "False");
  assert.match(cond(s, "Ready").message, /listen port 101.*; spec\.nodes\[0\]/);
  const later = planStatus(input({ problems, previous: s, now: new Date(now.getTime() + 60_000) }));
  assert.equal(cond(later, "Degraded").lastTransitionTime, now.toISOString());
  const healed = planStatus(input({ previous: later, now: new Date(now.getTime() + 120_000) }));
  assert.equal(cond(healed, "Degraded").status, "False");
  assert.equal(cond(healed, "Degraded").lastTransitionTime, new Date(now.getTime() + 120_000).toISOString());
});

Deno.test("agents: each node's state, the last heartbeat of agents that are not alive, the AgentsAvailable condition", () => {
  const last = "2026-11-25T15:58:00.000Z";
  const agents = new Map([
    ["lax1", { state: "Alive" as const, lastHeartbeat: "2026-11-25T15:59:59.000Z", changesAtMs: 1 }],
    ["lax2", { state: "Stale" as const, lastHeartbeat: last, changesAtMs: 2 }],
  ]);
  const s = planStatus(input({ agents }));
  assert.deepEqual(s.nodes, [
    { nodeName: "lax1", publicKey: LAX1_PUB, agent: "Alive" },
    { nodeName: "lax2", publicKey: LAX2_PUB, agent: "Stale", lastHeartbeatTime: last },
  ]);
  assert.deepEqual(cond(s, "AgentsAvailable"), {
    type: "AgentsAvailable",
    status: "False",
    reason: "AgentsMissing",
    message: "no running wg-controller: stopped recently (deletions wait for them): lax2",
    observedGeneration: 2,
    lastTransitionTime: now.toISOString(),
  });
  // A node without any heartbeat is None; renewals of an alive agent do not change the status.
  const none = planStatus(input({ agents: new Map([["lax1", agents.get("lax1")!]]) }));
  assert.deepEqual(none.nodes![1], { nodeName: "lax2", publicKey: LAX2_PUB, agent: "None" });
  const renewed = new Map([["lax1", { ...agents.get("lax1")!, lastHeartbeat: "2026-11-25T16:00:09.000Z" }]]);
  assert.deepEqual(planStatus(input({ agents: renewed })).nodes, none.nodes);
  // Without heartbeats there is no such condition and no agent field.
  assert.equal(planStatus(input({})).conditions!.some((c) => c.type === "AgentsAvailable"), false);
  // The transition time is kept while the verdict stays.
  const later = planStatus(input({ agents, previous: s, now: new Date(now.getTime() + 60_000) }));
  assert.equal(cond(later, "AgentsAvailable").lastTransitionTime, now.toISOString());
});
