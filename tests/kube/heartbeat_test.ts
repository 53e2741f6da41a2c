/** Heartbeat Lease naming and the liveness table (pure); the publisher against the API server is in tests/plan. */
import assert from "node:assert/strict";
import { agentLiveness, heartbeatLeaseName } from "../../src/kube/heartbeat.ts";
import type { Lease } from "../../src/kube/leaderelection.ts";

Deno.test("heartbeatLeaseName: <program>-<node> when valid, else a hash of the node (deterministic, valid)", () => {
  assert.equal(heartbeatLeaseName("wg-controller", "lax1"), "wg-controller-lax1");
  assert.equal(heartbeatLeaseName("wg-controller", "node-1.example.org"), "wg-controller-node-1.example.org");
  for (const node of ["Lax1", "a_b", "n".repeat(250), ""]) {
    const name = heartbeatLeaseName("wg-controller", node);
    assert.match(name, /^wg-controller-[0-9a-f]{16}$/, node);
    assert.equal(heartbeatLeaseName("wg-controller", node), name);
  }
  assert.notEqual(heartbeatLeaseName("wg-controller", "Lax1"), heartbeatLeaseName("wg-controller", "LAX1"));
});

const T = Date.parse("2026-01-01T00:00:00Z");
const lease = (renewOffsetS: number | null, duration?: number): Lease => ({
  metadata: { name: "wg-controller-lax1" },
  spec: {
    holderIdentity: "lax1",
    ...(duration === undefined ? {} : { leaseDurationSeconds: duration }),
    ...(renewOffsetS === null ? {} : { renewTime: new Date(T + renewOffsetS * 1000).toISOString() }),
  },
});

Deno.test("agentLiveness: None, Alive, Stale and Gone at the lease and grace boundaries", () => {
  const grace = 60_000;
  const iso = (s: number) => new Date(T + s * 1000).toISOString();
  const table: [string, Lease | undefined, number | undefined, ReturnType<typeof agentLiveness>][] = [
    ["no Lease", undefined, undefined, { state: "None" }],
    ["Lease without renewTime", lease(null, 40), undefined, { state: "None" }],
    ["just renewed", lease(0, 40), undefined, { state: "Alive", lastHeartbeat: iso(0), changesAtMs: T + 40_000 }],
    ["at expiry", lease(-40, 40), undefined, { state: "Alive", lastHeartbeat: iso(-40), changesAtMs: T }],
    ["1 ms after expiry", lease(-40.001, 40), undefined, {
      state: "Stale",
      lastHeartbeat: iso(-40.001),
      changesAtMs: T - 1 + grace,
    }],
    ["end of grace", lease(-100, 40), undefined, { state: "Stale", lastHeartbeat: iso(-100), changesAtMs: T }],
    ["beyond grace", lease(-100.001, 40), undefined, { state: "Gone", lastHeartbeat: iso(-100.001) }],
    ["default duration 40 s", lease(-41), undefined, {
      state: "Stale",
      lastHeartbeat: iso(-41),
      changesAtMs: T - 1000 + grace,
    }],
    // the agent's clock runs 5 minutes behind, but we saw it renew 2 s ago: alive
    ["clock behind, renewal observed", lease(-300, 40), T - 2000, {
      state: "Alive",
      lastHeartbeat: iso(-2),
      changesAtMs: T + 38_000,
    }],
    // the agent's clock runs ahead: its own renewTime is the later sign of life
    ["clock ahead", lease(30, 40), T - 5000, { state: "Alive", lastHeartbeat: iso(30), changesAtMs: T + 70_000 }],
  ];
  for (const [what, l, observed, want] of table) assert.deepEqual(agentLiveness(l, T, grace, observed), want, what);
});
