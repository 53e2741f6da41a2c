import assert from "node:assert/strict";
import { allocateIndexes, expandPlan } from "../../src/plan/expand.ts";
import { isValidInterfaceName, isValidObjectName } from "../../src/plan/names.ts";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";
import { fakePub, fullMesh, keysFor, LAX1_PUB, LAX2_PUB, wgp1Spec } from "../../kit/plan_fixtures.ts";

const twoNodes = (extra: Partial<WireGuardNetworkPlanSpec> = {}): WireGuardNetworkPlanSpec => ({
  defaultPortRange: { start: 100, end: 199 },
  nodes: [{ nodeName: "a", underlay: { hostname: "a.example" } }, {
    nodeName: "b",
    underlay: { hostname: "b.example" },
  }],
  links: [{ fromNode: "a", toNodes: [{ nodeName: "b" }] }, { fromNode: "b", toNodes: [{ nodeName: "a" }] }],
  ...extra,
});

Deno.test("wgp1 expands to exactly the reference's two children (docs/reference.md#the-examples)", () => {
  const keys = keysFor(["lax1", "lax2"], { lax1: LAX1_PUB, lax2: LAX2_PUB }, "default");
  const out = expandPlan(wgp1Spec(), keys);
  assert.deepEqual(out.problems, []);
  assert.deepEqual(out.held, []);
  assert.deepEqual(out.interfaces, [
    {
      objectName: "wg-lax1-lax2-0",
      resourceId: "lax1-lax2-0",
      fromNode: "lax1",
      toNode: "lax2",
      index: 0,
      fullInterfaceName: "wg-lax1-lax2-0",
      spec: {
        node: "lax1",
        interfaceName: "wg-lax1-lax2-0",
        moveToContainer: true,
        container: { docker: { name: "agent1" } },
        privateKeySecretRef: { name: "keys", key: "lax1", namespace: "default" },
        addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
        listenPort: 52820,
        mtu: 1420,
        peers: [{ publicKey: LAX2_PUB, allowedIPs: ["0.0.0.0/0", "::/0"] }],
      },
    },
    {
      objectName: "wg-lax2-lax1-0",
      resourceId: "lax2-lax1-0",
      fromNode: "lax2",
      toNode: "lax1",
      index: 0,
      fullInterfaceName: "wg-lax2-lax1-0",
      spec: {
        node: "lax2",
        interfaceName: "wg-lax2-lax1-0",
        moveToContainer: true,
        container: { docker: { name: "agent2" } },
        privateKeySecretRef: { name: "keys", key: "lax2", namespace: "default" },
        addresses: [{ family: "inet", local: "10.4.0.2", peer: "10.4.0.1", prefixlen: 32 }],
        listenPort: 51800,
        mtu: 1420,
        peers: [{
          publicKey: LAX1_PUB,
          allowedIPs: ["0.0.0.0/0", "::/0"],
          endpoint: "192.168.65.3:52820",
          persistentKeepalive: 25,
        }],
      },
    },
  ]);
});

Deno.test("index is the position among all of a node's targets sorted by name; ports and endpoints follow it", () => {
  const spec: WireGuardNetworkPlanSpec = {
    defaultPortRange: { start: 1000, end: 1099 },
    nodes: ["a", "b", "c"].map((n) => ({ nodeName: n, underlay: { hostname: `${n}.example` } })),
    links: [
      { fromNode: "a", toNodes: [{ nodeName: "c" }, { nodeName: "b" }] },
      { fromNode: "b", toNodes: [{ nodeName: "c" }, { nodeName: "a" }] },
      { fromNode: "c", toNodes: [{ nodeName: "b" }, { nodeName: "a" }] },
    ],
  };
  const out = expandPlan(spec, keysFor(["a", "b", "c"]));
  assert.deepEqual(out.problems, []);
  const rows = out.interfaces.map((d) => [d.objectName, d.spec.listenPort, d.spec.peers[0].endpoint]);
  assert.deepEqual(rows, [
    ["wg-a-b-0", 1000, "b.example:1000"],
    ["wg-a-c-1", 1001, "c.example:1000"],
    ["wg-b-a-0", 1000, "a.example:1000"],
    ["wg-b-c-1", 1001, "c.example:1001"],
    ["wg-c-a-0", 1000, "a.example:1001"],
    ["wg-c-b-1", 1001, "b.example:1001"],
  ]);
});

Deno.test("repeated fromNode entries share one index space: no name or port collisions", () => {
  const spec: WireGuardNetworkPlanSpec = {
    defaultPortRange: { start: 1000, end: 1099 },
    nodes: ["hub", "x", "y", "z"].map((n) => ({ nodeName: n, underlay: { hostname: n } })),
    links: [
      { fromNode: "hub", toNodes: [{ nodeName: "z" }] },
      { fromNode: "hub", toNodes: [{ nodeName: "x" }] },
      { fromNode: "hub", toNodes: [{ nodeName: "y" }] },
      ...["x", "y", "z"].map((n) => ({ fromNode: n, toNodes: [{ nodeName: "hub" }] })),
    ],
  };
  const out = expandPlan(spec, keysFor(["hub", "x", "y", "z"]));
  assert.deepEqual(out.problems, []);
  const hub = out.interfaces.filter((d) => d.fromNode === "hub");
  assert.deepEqual(hub.map((d) => [d.objectName, d.spec.listenPort]), [
    ["wg-hub-x-0", 1000],
    ["wg-hub-y-1", 1001],
    ["wg-hub-z-2", 1002],
  ]);
  // Each spoke's endpoint points at the hub port of its own link.
  assert.deepEqual(
    out.interfaces.filter((d) => d.toNode === "hub").map((d) => d.spec.peers[0].endpoint),
    ["hub:1000", "hub:1001", "hub:1002"],
  );
});

Deno.test("the result does not depend on the order of nodes, links or toNodes", () => {
  const a = fullMesh(6, 3);
  const b: WireGuardNetworkPlanSpec = {
    ...a,
    nodes: [...a.nodes!].reverse(),
    links: [...a.links!].reverse().map((l) => ({ ...l, toNodes: [...l.toNodes].reverse() })),
  };
  const keys = keysFor(a.nodes!.map((n) => n.nodeName));
  assert.deepEqual(expandPlan(b, keys), expandPlan(a, keys));
});

type Case = {
  name: string;
  spec: WireGuardNetworkPlanSpec;
  keys?: string[];
  reasons: string[];
  generated: string[];
  held: string[];
  messageHas?: string;
};

const cases: Case[] = [
  {
    name: "a port past the range end holds both directions of that link only",
    spec: {
      defaultPortRange: { start: 100, end: 100 },
      nodes: ["a", "b", "c"].map((n) => ({ nodeName: n, underlay: { hostname: n } })),
      links: [
        { fromNode: "a", toNodes: [{ nodeName: "b" }, { nodeName: "c" }] },
        { fromNode: "b", toNodes: [{ nodeName: "a" }] },
        { fromNode: "c", toNodes: [{ nodeName: "a" }] },
      ],
    },
    reasons: ["PortOutOfRange"],
    generated: ["wg-a-b-0", "wg-b-a-0"],
    held: ["wg-a-c-1", "wg-c-a-0"],
    messageHas: "listen port 101 (index 1) is past the end of the port range 100-100 of node a",
  },
  {
    name: "a link without its reverse is held and reported",
    spec: twoNodes({ links: [{ fromNode: "a", toNodes: [{ nodeName: "b" }] }] }),
    reasons: ["NotBidirectional"],
    generated: [],
    held: ["wg-a-b-0"],
    messageHas: "b has no link back to a",
  },
  {
    name: "unknown nodes are held and reported, in either position",
    spec: twoNodes({
      links: [
        { fromNode: "a", toNodes: [{ nodeName: "b" }, { nodeName: "ghost" }] },
        { fromNode: "b", toNodes: [{ nodeName: "a" }] },
        { fromNode: "ghost", toNodes: [{ nodeName: "a" }] },
      ],
    }),
    reasons: ["UnknownNode", "UnknownNode"],
    generated: ["wg-a-b-0", "wg-b-a-0"],
    held: ["wg-a-ghost-1", "wg-ghost-a-0"],
    messageHas: "node ghost is not in spec.nodes",
  },
  {
    name: "a NAT-to-NAT pair is reported once and held",
    spec: twoNodes({ nodes: [{ nodeName: "a" }, { nodeName: "b" }] }),
    reasons: ["NatToNat"],
    generated: [],
    held: ["wg-a-b-0", "wg-b-a-0"],
    messageHas: "no tunnel is possible",
  },
  {
    name: "a node without a usable key holds its links in both directions",
    spec: twoNodes(),
    keys: ["a"],
    reasons: ["KeyUnavailable"],
    generated: [],
    held: ["wg-a-b-0", "wg-b-a-0"],
  },
  {
    name: "duplicate nodes, self links and duplicate links are reported; the first declaration is used",
    spec: twoNodes({
      nodes: [{ nodeName: "a", underlay: { hostname: "first" } }, { nodeName: "b", underlay: { hostname: "b" } }, {
        nodeName: "a",
        underlay: { hostname: "second" },
      }],
      links: [
        { fromNode: "a", toNodes: [{ nodeName: "b" }, { nodeName: "a" }] },
        { fromNode: "a", toNodes: [{ nodeName: "b" }] },
        { fromNode: "b", toNodes: [{ nodeName: "a" }] },
      ],
    }),
    reasons: ["DuplicateNode", "SelfLink", "DuplicateLink"],
    generated: ["wg-a-b-0", "wg-b-a-0"],
    held: [],
  },
  {
    name: "node names that make the same object name (a-b→c, a→b-c) are refused, not overwritten",
    spec: {
      defaultPortRange: { start: 100, end: 199 },
      nodes: ["a", "a-b", "b-c", "c"].map((n) => ({ nodeName: n, underlay: { hostname: n } })),
      links: [
        { fromNode: "a-b", toNodes: [{ nodeName: "c" }] },
        { fromNode: "c", toNodes: [{ nodeName: "a-b" }] },
        { fromNode: "a", toNodes: [{ nodeName: "b-c" }] },
        { fromNode: "b-c", toNodes: [{ nodeName: "a" }] },
      ],
    },
    reasons: ["NameCollision"],
    generated: ["wg-b-c-a-0", "wg-c-a-b-0"],
    held: ["wg-a-b-c-0"],
    messageHas: "all map to object wg-a-b-c-0",
  },
];

for (const c of cases) {
  Deno.test(`expansion: ${c.name}`, () => {
    const keys = keysFor(c.keys ?? (c.spec.nodes ?? []).map((n) => n.nodeName));
    const out = expandPlan(c.spec, keys);
    assert.deepEqual(out.problems.map((p) => p.reason), c.reasons);
    assert.deepEqual(out.interfaces.map((d) => d.objectName), c.generated);
    assert.deepEqual(out.held, c.held);
    if (c.messageHas) assert.ok(out.problems.some((p) => p.message.includes(c.messageHas!)), out.problems[0]?.message);
  });
}

Deno.test("per-link addresses are appended, or replace the node's with overrideAddresses", () => {
  const node = { family: "inet" as const, local: "10.0.0.1", prefixlen: 32 };
  const link = { family: "inet6" as const, local: "fe80::1", peer: "fe80::2", prefixlen: 64 };
  const spec = twoNodes({
    nodes: [{ nodeName: "a", underlay: { hostname: "a" }, addresses: [node] }, {
      nodeName: "b",
      underlay: { hostname: "b" },
      addresses: [node],
    }],
    links: [
      { fromNode: "a", toNodes: [{ nodeName: "b", addresses: [link] }] },
      { fromNode: "b", toNodes: [{ nodeName: "a", addresses: [link], overrideAddresses: true }] },
    ],
  });
  const [ab, ba] = expandPlan(spec, keysFor(["a", "b"])).interfaces;
  assert.deepEqual(ab.spec.addresses, [node, link]);
  assert.deepEqual(ba.spec.addresses, [link]);
});

Deno.test("an IPv6 underlay gives a bracketed endpoint; a NAT node's interfaces get keepalive 25", () => {
  const spec = twoNodes({ nodes: [{ nodeName: "a", underlay: { hostname: "2001:db8::1" } }, { nodeName: "b" }] });
  const [ab, ba] = expandPlan(spec, keysFor(["a", "b"])).interfaces;
  assert.deepEqual(ab.spec.peers[0], { publicKey: fakePub("b"), allowedIPs: ["0.0.0.0/0", "::/0"] });
  assert.deepEqual(ba.spec.peers[0], {
    publicKey: fakePub("a"),
    allowedIPs: ["0.0.0.0/0", "::/0"],
    endpoint: "[2001:db8::1]:100",
    persistentKeepalive: 25,
  });
});

Deno.test("interface names over 15 bytes are shortened deterministically and uniquely; object names stay full", () => {
  const spec = twoNodes({
    nodes: [{ nodeName: "frankfurt1", underlay: { hostname: "f" } }, {
      nodeName: "singapore2",
      underlay: { hostname: "s" },
    }],
    links: [
      { fromNode: "frankfurt1", toNodes: [{ nodeName: "singapore2" }] },
      { fromNode: "singapore2", toNodes: [{ nodeName: "frankfurt1" }] },
    ],
  });
  const keys = keysFor(["frankfurt1", "singapore2"]);
  const [fs, sf] = expandPlan(spec, keys).interfaces;
  assert.equal(fs.objectName, "wg-frankfurt1-singapore2-0");
  assert.equal(fs.fullInterfaceName, "wg-frankfurt1-singapore2-0");
  assert.match(fs.spec.interfaceName, /^wg-singa-[0-9a-f]{6}$/);
  assert.match(sf.spec.interfaceName, /^wg-frank-[0-9a-f]{6}$/);
  for (const d of [fs, sf]) assert.ok(isValidInterfaceName(d.spec.interfaceName), d.spec.interfaceName);
  assert.deepEqual(expandPlan(spec, keys).interfaces, [fs, sf]);
});

Deno.test("a 50-node full mesh gives 2450 interfaces with valid, unique names and in-range ports", () => {
  const spec = fullMesh(50, 5);
  const out = expandPlan(spec, keysFor(spec.nodes!.map((n) => n.nodeName)));
  // Pairs of two NAT nodes (every 5th node) are held: 10 NAT nodes → 90 directed links.
  assert.equal(out.interfaces.length + out.held.length, 2450);
  assert.equal(out.held.length, 90);
  assert.equal(new Set(out.interfaces.map((d) => d.objectName)).size, out.interfaces.length);
  for (const d of out.interfaces) {
    assert.ok(isValidObjectName(d.objectName) && isValidInterfaceName(d.spec.interfaceName), d.objectName);
    assert.ok(d.spec.listenPort >= 40000 && d.spec.listenPort < 52800);
  }
  const perNode = Map.groupBy(out.interfaces, (d) => d.fromNode);
  for (const list of perNode.values()) {
    assert.equal(new Set(list.map((d) => d.spec.interfaceName)).size, list.length);
    assert.equal(new Set(list.map((d) => d.spec.listenPort)).size, list.length);
  }
});

Deno.test("allocateIndexes: sorted positions when fresh; kept indexes never move; new targets take free ones", () => {
  const table: [string[], [string, number][], [string, number][]][] = [
    [["a", "b", "c"], [], [["a", 0], ["b", 1], ["c", 2]]],
    // b inserted before c: c keeps 0, b takes the next free index.
    [["b", "c"], [["c", 0]], [["b", 1], ["c", 0]]],
    // a removed: its index stays free, nobody moves; a newcomer takes it.
    [["b", "c", "d"], [["b", 1], ["c", 2]], [["b", 1], ["c", 2], ["d", 0]]],
    // A duplicate previous index is kept by the first target by name only.
    [["x", "y"], [["x", 0], ["y", 0]], [["x", 0], ["y", 1]]],
    // Nonsense previous values are ignored.
    [["x"], [["x", -1]], [["x", 0]]],
  ];
  for (const [sorted, prev, want] of table) {
    assert.deepEqual([...allocateIndexes(sorted, new Map(prev))].sort(), want, JSON.stringify([sorted, prev]));
  }
});

Deno.test("previous allocations keep existing links in place when a node is added", () => {
  const spec = twoNodes({
    nodes: ["a", "c"].map((n) => ({ nodeName: n, underlay: { hostname: n } })),
    links: [{ fromNode: "a", toNodes: [{ nodeName: "c" }] }, { fromNode: "c", toNodes: [{ nodeName: "a" }] }],
  });
  const first = expandPlan(spec, keysFor(["a", "b", "c"]));
  assert.deepEqual(first.interfaces.map((d) => d.objectName), ["wg-a-c-0", "wg-c-a-0"]);
  const grown: WireGuardNetworkPlanSpec = {
    ...spec,
    nodes: [...spec.nodes!, { nodeName: "b", underlay: { hostname: "b" } }],
    links: [
      { fromNode: "a", toNodes: [{ nodeName: "c" }, { nodeName: "b" }] },
      { fromNode: "c", toNodes: [{ nodeName: "a" }] },
      { fromNode: "b", toNodes: [{ nodeName: "a" }] },
    ],
  };
  const previous = new Map([["a", new Map([["c", 0]])], ["c", new Map([["a", 0]])]]);
  const second = expandPlan(grown, keysFor(["a", "b", "c"]), previous);
  assert.deepEqual(second.interfaces.map((d) => [d.objectName, d.spec.listenPort]), [
    ["wg-a-b-1", 101],
    ["wg-a-c-0", 100],
    ["wg-b-a-0", 100],
    ["wg-c-a-0", 100],
  ]);
  assert.deepEqual(second.interfaces.find((d) => d.objectName === "wg-a-c-0"), first.interfaces[0]);
  // Without the previous allocations the reference's rule would have renamed a → c to wg-a-c-1.
  assert.ok(expandPlan(grown, keysFor(["a", "b", "c"])).interfaces.some((d) => d.objectName === "wg-a-c-1"));
});
