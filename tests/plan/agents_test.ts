/** Which nodes a plan waits for, and the AgentsAvailable verdict (pure, src/plan/agents.ts). */
import assert from "node:assert/strict";
import { agentsVerdict, waitsForAgent } from "../../src/plan/agents.ts";
import { AGENT_STATES, type AgentState } from "../../src/kube/heartbeat.ts";

Deno.test("waitsForAgent: with heartbeats only Alive and Stale agents are waited for; without, every node", () => {
  const want: Record<AgentState, boolean> = { Alive: true, Stale: true, Gone: false, None: false };
  for (const s of AGENT_STATES) {
    assert.equal(waitsForAgent(s, true), want[s], s);
    assert.equal(waitsForAgent(s, false), true, s);
  }
});

Deno.test("agentsVerdict: True when all are alive; otherwise names each node under its state", () => {
  const of = (states: Record<string, AgentState>) =>
    agentsVerdict(Object.entries(states).map(([nodeName, state]) => ({ nodeName, liveness: { state } })));
  assert.deepEqual(of({ lax1: "Alive", lax2: "Alive" }), {
    ok: true,
    reason: "AgentsAlive",
    message: "the wg-controller of each of the 2 nodes is alive",
  });
  assert.deepEqual(of({ lax1: "Alive", lax2: "Stale", lax3: "None", lax4: "None", lax5: "Gone" }), {
    ok: false,
    reason: "AgentsMissing",
    message: "no running wg-controller: never seen (nothing waits for them): lax3, lax4; " +
      "gone beyond the grace period (nothing waits for them): lax5; stopped recently (deletions wait for them): lax2",
  });
  const many = of(Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`n${i}`, "None" as const])));
  assert.equal(
    many.message,
    "no running wg-controller: never seen (nothing waits for them): " +
      "n0, n1, n2, n3, n4, n5, n6, n7, n8, n9 and 3 more",
  );
});
