/**
 * Status size bounds (pure): a plan's interface list, a WireGuard device's peers, and whatever the node holds
 * (addresses, bridge ports) stay within what the API server stores.
 */
import assert from "node:assert/strict";
import { expandPlan } from "../../src/plan/expand.ts";
import { MAX_STATUS_INTERFACES, planStatus } from "../../src/plan/status.ts";
import { boundDevice, MAX_DEVICE_STATUS_BYTES, observedStatus } from "../../src/node/wireguard/status.ts";
import { buildStatus } from "../../src/controllers/nl/status.ts";
import { MAX_OBSERVED } from "../../src/api/common.ts";
import { MAX_ENTRY_ADDRESSES } from "../../src/api/wireguard_network_plan.ts";
import type { Address, Link } from "../../src/netlink/mod.ts";
import type { NsTarget } from "../../src/node/placement.ts";
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

/** `n` addresses on link 7, as a tenant could add them inside its own Pod. */
function manyAddresses(n: number): Address[] {
  return Array.from({ length: n }, (_, i) => ({
    index: 7,
    family: 6 as const,
    local: `fd00::${i.toString(16)}`,
    peer: null,
    prefixlen: 128,
    flags: [],
    scope: "universe",
    label: null,
    proto: null,
  }));
}

const link: Link = {
  index: 7,
  name: "br0",
  kind: "bridge",
  mtu: 1420,
  flags: 0x1,
  up: true,
  operstate: "up",
  master: null,
  group: 0,
  alias: null,
  mac: null,
  link: null,
  linkNetnsId: null,
};

Deno.test("observed lists: at most 256 addresses and bridge ports in a status, whatever the node holds", () => {
  const target = { id: "1:2", isHost: false, label: "x" } as unknown as NsTarget;
  const ports = Array.from({ length: 5000 }, (_, i) => `p${i}`);
  const nl = buildStatus({
    previous: undefined,
    generation: 1,
    nodename: "lax1",
    hostname: "h",
    ends: [
      { target, name: "br0", link, addresses: manyAddresses(5000), slaves: ports },
      { target, name: "v0", link: { ...link, name: "v0", kind: "veth" }, addresses: manyAddresses(5000), slaves: [] },
    ],
    problems: [],
    now: new Date("2026-12-01T00:00:00Z"),
  });
  assert.equal(nl.addresses!.length, MAX_OBSERVED);
  assert.equal(nl.bridge!.enslavedLinks.length, MAX_OBSERVED);
  assert.equal(nl.veth!.peer!.addresses!.length, MAX_OBSERVED);
  const wg = observedStatus({ link: { ...link, kind: "wireguard" }, addresses: manyAddresses(5000) });
  assert.equal(wg.addresses!.length, MAX_OBSERVED);
  assert.equal(wg.netlink!.addrs!.length, MAX_OBSERVED);
  assert.ok(JSON.stringify(wg).length < 64 << 10, `${JSON.stringify(wg).length} bytes`);
});

Deno.test("plan status: an entry repeats at most 8 of its child's addresses", () => {
  const spec = fullMesh(4);
  const interfaces = expandPlan(spec, keysFor(spec.nodes!.map((n) => n.nodeName))).interfaces;
  const addresses = Array.from({ length: MAX_OBSERVED }, (_, i) => `fd00::${i.toString(16)}/128`);
  const s = planStatus({
    generation: 1,
    previous: undefined,
    interfaces,
    problems: [],
    writeErrors: [],
    nodes: [],
    children: new Map(
      interfaces.map((i) => [i.objectName, { metadata: { name: i.objectName }, status: { addresses } }]),
    ),
    now: new Date("2026-12-01T00:00:00Z"),
  });
  assert.ok(s.interfaces!.every((e) => e.addresses!.length === MAX_ENTRY_ADDRESSES));
});
