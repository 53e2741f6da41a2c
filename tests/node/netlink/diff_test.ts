import assert from "node:assert/strict";
import type { Address, Link } from "../../../src/netlink/mod.ts";
import { desiredInterface, SpecError } from "../../../src/node/netlink/desired.ts";
import { diffAddresses, diffSlaves, immutableDifferences, planLink } from "../../../src/node/netlink/diff.ts";
import { type AgentIdentity, classifyLink, legacyMark, MANAGED_GROUP, ownerMark } from "../../../src/node/ownership.ts";

const agent: AgentIdentity = { kind: "nl", node: "lax1", namespace: "default" };
import type { NetlinkInterfaceSpec } from "../../../src/api/netlink_interface.ts";

const MAC = "b2:4b:e8:30:51:9d";
const addr = (local: string, prefixlen: number, peer: string | null = null, family: 4 | 6 = 4): Address => ({
  index: 3,
  family,
  local,
  peer,
  prefixlen,
  flags: ["permanent"],
  scope: "universe",
  label: null,
  proto: null,
});
const link = (over: Partial<Link>): Link => ({
  index: 5,
  name: "x0",
  kind: "dummy",
  mtu: 1500,
  flags: 0,
  up: false,
  operstate: "down",
  master: null,
  group: 0,
  alias: null,
  mac: MAC,
  link: null,
  linkNetnsId: null,
  ...over,
});

Deno.test("address diff: exact list, kernel link-local kept, hand-added link-local removed", () => {
  const cases: {
    name: string;
    want: { local: string; peer?: string; prefixlen: number; family: 4 | 6 }[];
    have: Address[];
    add: string[];
    remove: string[];
  }[] = [
    { name: "empty", want: [], have: [], add: [], remove: [] },
    {
      name: "cidr and p2p added",
      want: [{ family: 4, local: "10.2.3.0", prefixlen: 24 }, {
        family: 4,
        local: "10.99.3.1",
        peer: "10.99.4.1",
        prefixlen: 32,
      }],
      have: [],
      add: ["10.2.3.0", "10.99.3.1"],
      remove: [],
    },
    {
      name: "unlisted v4 removed, listed kept",
      want: [{ family: 4, local: "10.0.0.1", prefixlen: 24 }],
      have: [addr("10.0.0.1", 24), addr("10.0.0.9", 24)],
      add: [],
      remove: ["10.0.0.9"],
    },
    {
      name: "prefix length change = remove + add",
      want: [{ family: 4, local: "10.0.0.1", prefixlen: 16 }],
      have: [addr("10.0.0.1", 24)],
      add: ["10.0.0.1"],
      remove: ["10.0.0.1"],
    },
    {
      name: "kernel EUI-64 link-local kept, manual fe80::5 removed",
      want: [{ family: 6, local: "fe80::eeee:1", prefixlen: 64 }],
      have: [addr("fe80::b04b:e8ff:fe30:519d", 64, null, 6), addr("fe80::5", 64, null, 6)],
      add: ["fe80::eeee:1"],
      remove: ["fe80::5"],
    },
    {
      name: "peer differs",
      want: [{ family: 4, local: "10.99.3.1", peer: "10.99.4.1", prefixlen: 32 }],
      have: [addr("10.99.3.1", 32, "10.99.4.2")],
      add: ["10.99.3.1"],
      remove: ["10.99.3.1"],
    },
  ];
  for (const c of cases) {
    const d = diffAddresses(c.want, c.have, MAC);
    assert.deepEqual(d.add.map((a) => a.local), c.add, c.name);
    assert.deepEqual(d.remove.map((a) => a.local), c.remove, c.name);
  }
});

Deno.test("slave diff: exact set; undefined = unmanaged", () => {
  assert.deepEqual(diffSlaves(["v1", "v2"], ["v2", "v3"]), { enslave: ["v1"], release: ["v3"] });
  assert.deepEqual(diffSlaves([], ["b", "a"]), { enslave: [], release: ["a", "b"] });
  assert.deepEqual(diffSlaves(undefined, ["a"]), { enslave: [], release: [] });
});

const base: NetlinkInterfaceSpec = { node: "n1", interfaceName: "x0", type: "dummy", up: true };

Deno.test("desiredInterface: dummy, veth ends, vxlan unicast group → remote, errors name the field", () => {
  const d = desiredInterface({
    ...base,
    mtu: 1420,
    addresses: [{ ipcidr: "10.2.3.0/24" }, { ipcidr: "10.99.3.1", peerCidr: "10.99.4.1/32" }],
  }, "t");
  assert.equal(d.ends.length, 1);
  assert.deepEqual(d.ends[0].addresses[1], { family: 4, local: "10.99.3.1", peer: "10.99.4.1", prefixlen: 32 });
  const v = desiredInterface({
    ...base,
    type: "veth",
    interfaceName: "veth1-a",
    addresses: [{ ipcidr: "FE80::EEEE:1/64" }],
    container: { docker: { name: "agent1" } },
    veth: {
      peer: {
        interfaceName: "veth1-b",
        container: { docker: { name: "agent2" } },
        addresses: [{ ipcidr: "fe80::eeee:2/64" }],
      },
    },
  }, "t");
  assert.deepEqual(v.ends.map((e) => [e.role, e.name, e.placement, e.addresses[0].local]), [
    ["local", "veth1-a", { kind: "docker", name: "agent1" }, "fe80::eeee:1"],
    ["peer", "veth1-b", { kind: "docker", name: "agent2" }, "fe80::eeee:2"],
  ]);
  const x = desiredInterface({
    ...base,
    type: "vxlan",
    vxlan: { vni: 142, group: "10.4.0.2", local: "10.4.0.1", port: 4789, dev: "wg0" },
  }, "t");
  assert.deepEqual(x.params, {
    kind: "vxlan",
    vxlan: { vni: 142, learning: true, local: "10.4.0.1", remote: "10.4.0.2", dev: "wg0", port: 4789, proxy: false },
  });
  const m = desiredInterface({ ...base, type: "vxlan", vxlan: { vni: 1, group: "239.1.1.1", noAge: true } }, "t");
  assert.equal((m.params as { vxlan: { group?: string; ageing?: number } }).vxlan.group, "239.1.1.1");
  assert.throws(
    () => desiredInterface({ ...base, type: "vxlan" }, "t"),
    (e) => e instanceof SpecError && e.field === "spec.vxlan",
  );
  assert.throws(
    () => desiredInterface({ ...base, type: "vxlan", vxlan: { vni: 1, local: "nope" } }, "t"),
    (e) => e instanceof SpecError && e.field === "spec.vxlan.local",
  );
  assert.throws(
    () => desiredInterface({ ...base, addresses: [{ ipcidr: "10.0.0.1" }] }, "t"),
    (e) => e instanceof SpecError && e.field === "spec.addresses[0].ipcidr",
  );
  assert.throws(
    () => desiredInterface({ ...base, type: "bogus" as "dummy" }, "t"),
    /unsupported NetlinkInterface type/,
  );
});

Deno.test("vxlan: every parameter compared, local included; kind change recreates", () => {
  const want = desiredInterface(
    { ...base, type: "vxlan", vxlan: { vni: 142, local: "10.4.0.1", group: "10.4.0.2", port: 4789 } },
    "t",
  )
    .params;
  const vx = {
    vni: 142,
    local: "10.4.0.1",
    group: null,
    remote: "10.4.0.2",
    dev: null,
    port: 4789,
    learning: true,
    ttl: 0,
    tos: 0,
    proxy: false,
    ageing: 300,
    portRange: null,
  };
  assert.deepEqual(immutableDifferences(want, link({ kind: "vxlan", vxlan: vx })), []);
  assert.deepEqual(immutableDifferences(want, link({ kind: "vxlan", vxlan: { ...vx, local: "10.4.0.9" } })), [
    "local 10.4.0.9 → 10.4.0.1",
  ]);
  assert.deepEqual(immutableDifferences(want, link({ kind: "vxlan", vxlan: { ...vx, learning: false, port: 8472 } })), [
    "port 8472 → 4789",
    "learning false → true",
  ]);
  assert.deepEqual(immutableDifferences(want, link({ kind: "dummy" })), ["kind dummy → vxlan"]);
});

Deno.test("planLink: create, update, recreate, adopt only an exact unmarked match, conflicts", () => {
  const d = desiredInterface({ ...base, mtu: 1420 }, "t");
  const end = d.ends[0];
  const key = "default/x";
  const mine = link({ alias: ownerMark(agent, key), mtu: 1500, up: false });
  assert.deepEqual(planLink(end, d.params, null, "absent"), { action: "create" });
  assert.deepEqual(planLink(end, d.params, mine, classifyLink(mine, agent, key)), {
    action: "update",
    adopt: false,
    changes: { mtu: 1420, up: true },
  });
  assert.equal(
    planLink(end, d.params, link({ alias: ownerMark(agent, key), kind: "bridge" }), "owned").action,
    "recreate",
  );
  const foreign = link({ mtu: 1420, up: true });
  assert.deepEqual(planLink(end, d.params, foreign, "unmarked", { addressesMatch: true }), {
    action: "update",
    adopt: true,
    changes: {},
  });
  assert.equal(planLink(end, d.params, foreign, "unmarked", { addressesMatch: false }).action, "conflict");
  assert.equal(
    planLink(end, d.params, link({ mtu: 9000, up: true }), "unmarked", { addressesMatch: true }).action,
    "conflict",
  );
  const unfinished = link({ group: MANAGED_GROUP, mtu: 1420, up: true });
  assert.equal(classifyLink(unfinished, agent, key), "unfinished");
  assert.deepEqual(planLink(end, d.params, unfinished, "unfinished"), { action: "update", adopt: true, changes: {} });
  const old = link({ alias: legacyMark("nl", key), mtu: 1420, up: true });
  assert.equal(classifyLink(old, agent, key), "legacy");
  assert.deepEqual(planLink(end, d.params, old, "legacy"), {
    action: "update",
    adopt: false,
    remark: true,
    changes: {},
  });
  const other = link({ alias: ownerMark(agent, "default/y") });
  assert.equal(classifyLink(other, agent, key), "other-owner");
  const lax2 = link({ alias: ownerMark({ ...agent, node: "lax2" }, key) });
  assert.equal(planLink(end, d.params, lax2, classifyLink(lax2, agent, key)).action, "conflict", "another node's");
  assert.equal(planLink(end, d.params, other, "other-owner").action, "conflict");
});
