/** Status size bounds: a plan's interface list and a WireGuard device's peers stay within what the API server stores. */
import assert from "node:assert/strict";
import { expandPlan } from "../../src/plan/expand.ts";
import { MAX_STATUS_INTERFACES, planStatus } from "../../src/plan/status.ts";
import { boundDevice, MAX_DEVICE_STATUS_BYTES } from "../../src/node/wireguard/status.ts";
import { fullMesh, keysFor } from "../../kit/plan_fixtures.ts";

Deno.test("plan status: a full mesh of 64 nodes lists at most 1000 interfaces, the not ready ones first", () => {
  const spec = fullMesh(64);
  const interfaces = expandPlan(spec, keysFor(spec.nodes!.map((n) => n.nodeName))).interfaces;
  assert.equal(interfaces.length, 64 * 63);
  const s = planStatus({
    generation: 1,
    previous: undefined,
    interfaces,
    problems: [],
    writeErrors: [],
    nodes: [],
    children: new Map(),
    now: new Date("2026-12-01T00:00:00Z"),
  });
  assert.equal(s.desiredInterfaces, 4032);
  assert.equal(s.interfaces!.length, MAX_STATUS_INTERFACES);
  assert.equal(s.interfacesOmitted, 4032 - MAX_STATUS_INTERFACES);
  assert.ok(JSON.stringify(s).length < 512 << 10, `${JSON.stringify(s).length} bytes`);
});

Deno.test("device status: allowed IPs go first, then the peers that do not fit; small ones are left as they are", () => {
  const peer = (i: number, ips: number) => ({
    public_key: `${String(i).padStart(43, "A")}=`,
    endpoint: `[fd00::${i.toString(16)}]:51820`,
    receive_bytes: 1,
    transmit_bytes: 1,
    allowed_ips: Array.from(
      { length: ips },
      (_, j) =>
        `fd00:ffff:ffff:ffff:ffff:ffff:${i.toString(16).padStart(4, "0")}:${j.toString(16).padStart(4, "0")}/128`,
    ),
  });
  const small = { name: "wg0", peers: [peer(1, 2)] };
  assert.equal(boundDevice(small), small);
  const big = { name: "wg0", peers: Array.from({ length: 512 }, (_, i) => peer(i, 8)) };
  const bounded = boundDevice(big);
  assert.ok(JSON.stringify(big).length > MAX_DEVICE_STATUS_BYTES);
  assert.ok(JSON.stringify(bounded).length <= MAX_DEVICE_STATUS_BYTES);
  assert.equal(bounded.allowed_ips_omitted, true);
  assert.equal(bounded.peers!.length, 512, "every peer fits without its allowed IPs");
  assert.ok(bounded.peers!.every((p) => p.allowed_ips === undefined));
  const tiny = boundDevice(big, 4096);
  assert.ok(JSON.stringify(tiny).length <= 4096);
  assert.equal(tiny.peers!.length + tiny.peers_omitted!, 512);
  assert.ok(tiny.peers!.length > 0);
});
