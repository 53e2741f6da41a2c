/**
 * The mesh scenario's pure parts: roles and addresses, the plan (expanded by the real plan expansion: a full mesh
 * without problems), the peer's per-node script, the matrix table.
 */
import assert from "node:assert/strict";
import { formatMatrix, HANDSHAKE_BOUND_S, type MatrixResult } from "../../lab/mesh/matrix.ts";
import {
  DEFAULT_PORT_RANGE,
  DNS_NODE_NAME,
  FORWARDED_PORT_RANGE,
  hostsFile,
  MESH_MAX_NODES,
  MESH_MIN_NODES,
  meshNodes,
  meshPairs,
  meshPlan,
  tunnelAddress,
} from "../../lab/mesh/model.ts";
import { meshInterfaces, nodeScript } from "../../lab/mesh/peer.ts";

const KEYS = (n: number) =>
  new Map(
    meshNodes(n).map((x, i) => [x.name, {
      privateKey: "unused",
      publicKey: btoa(String.fromCharCode(...new Uint8Array(32).fill(i + 1))),
    }]),
  );

Deno.test("mesh model: node counts outside 4..16 are refused with the bound in the message", () => {
  assert.throws(() => meshNodes(MESH_MIN_NODES - 1), /from 4 to 16, got 3/);
  assert.throws(() => meshNodes(MESH_MAX_NODES + 1), /got 17/);
  assert.equal(meshNodes(MESH_MIN_NODES).length, 4);
});

Deno.test("mesh model: n1 by DNS name, n2 by IPv6 literal, n3 forwarded with its own range, n4 without underlay", () => {
  const [n1, n2, n3, n4, n5] = meshNodes(5);
  assert.deepEqual([n1.role, n1.hostname], ["dns", DNS_NODE_NAME]);
  assert.deepEqual([n2.role, n2.hostname], ["v6", n2.v6]);
  assert.deepEqual([n3.role, n3.segment, n3.portRange], ["nat-forward", "lan", FORWARDED_PORT_RANGE]);
  assert.deepEqual([n4.role, n4.segment, n4.hostname], ["nat", "lan", undefined]);
  assert.deepEqual([n5.role, n5.hostname], ["public", "192.0.2.15"]);
  assert.match(hostsFile(meshNodes(4)), new RegExp(`^${n1.v4.replaceAll(".", "\\.")} ${DNS_NODE_NAME}$`, "m"));
});

Deno.test("mesh model: tunnel addresses are distinct per pair and side, and stable when nodes are added", () => {
  const all = meshPairs(meshNodes(MESH_MAX_NODES)).flatMap(({ a, b }) => [tunnelAddress(a, b), tunnelAddress(b, a)]);
  assert.equal(new Set(all).size, all.length);
  assert.ok(all.every((a) => /^198\.51\.100\.(\d+)$/.test(a) && Number(a.split(".")[3]) < 255));
  const [s1, s2] = [meshNodes(4), meshNodes(9)];
  assert.equal(tunnelAddress(s1[1], s1[3]), tunnelAddress(s2[1], s2[3]));
});

Deno.test("mesh model: the plan expands to a full mesh with no problem, keepalive only from n4", () => {
  for (const n of [MESH_MIN_NODES, 12, MESH_MAX_NODES]) {
    const ifaces = [...meshInterfaces(meshNodes(n), KEYS(n)).values()].flat();
    assert.equal(ifaces.length, n * (n - 1));
    for (const i of ifaces) {
      const peer = i.peers[0];
      assert.equal(peer.persistentKeepalive !== undefined, i.node === "n4", i.interfaceName);
      const range = i.node === "n3" ? FORWARDED_PORT_RANGE : DEFAULT_PORT_RANGE;
      assert.ok(i.listenPort >= range.start && i.listenPort <= range.end);
      assert.equal(i.addresses[0].local, `fe80::${Number(i.node.slice(1)).toString(16)}`);
      assert.equal(i.addresses[1].prefixlen, 32);
    }
  }
  const byName = new Map([...meshInterfaces(meshNodes(4), KEYS(4)).values()].flat().map((i) => [i.interfaceName, i]));
  assert.match(byName.get("wg-n2-n1-0")!.peers[0].endpoint!, /^n1\.mesh\.test:518\d\d$/);
  assert.match(byName.get("wg-n1-n2-0")!.peers[0].endpoint!, /^\[2001:db8:1::12\]:518\d\d$/);
  assert.match(byName.get("wg-n1-n3-1")!.peers[0].endpoint!, /^203\.0\.113\.2:400\d\d$/);
  assert.equal(byName.get("wg-n1-n4-2")!.peers[0].endpoint, undefined);
});

Deno.test("mesh model: the plan's mtu option sets every node's mtu", () => {
  const plan = meshPlan(meshNodes(4), { plan: "p", namespace: "ns", keySecret: "k" }, 1400) as {
    spec: { nodes: { mtu?: number; privateKeyRef?: unknown }[] };
  };
  assert.ok(plan.spec.nodes.every((n) => n.mtu === 1400));
  assert.deepEqual(plan.spec.nodes.map((n) => n.privateKeyRef !== undefined), [true, false, false, false]);
});

Deno.test("mesh peer: one node's script starts, configures and raises each tunnel in parallel and fails on any error", () => {
  const ifaces = meshInterfaces(meshNodes(4), KEYS(4)).get("n4")!;
  const script = nodeScript(ifaces);
  assert.equal(script.match(/^\( wireguard-go /gm)?.length, 3);
  assert.match(script, /wg set 'wg-n4-n1-0' listen-port 51820 private-key "\$key" 'peer' '[^']+' 'allowed-ips' /);
  assert.match(script, /'persistent-keepalive' '25'/);
  assert.match(script, /ip addr add 198\.51\.100\.\d+ peer 198\.51\.100\.\d+\/32 dev 'wg-n4-n1-0'/);
  assert.match(script, /ip link set dev 'wg-n4-n3-2' mtu 1420 up \) & pids=/);
  assert.match(script, /wait "\$p" \|\| fail=1; done; exit \$fail$/);
});

Deno.test("mesh matrix: one row per node with ✓/✗, stale keepalive handshakes and the plan named", () => {
  const r: MatrixResult = {
    nodes: ["n1", "n2", "n3"],
    cells: [
      { from: "n1", to: "n2", address: "a", ok: true },
      { from: "n1", to: "n3", address: "b", ok: false },
      { from: "n2", to: "n1", address: "c", ok: true },
      { from: "n2", to: "n3", address: "d", ok: true },
      { from: "n3", to: "n1", address: "e", ok: true },
      { from: "n3", to: "n2", address: "f", ok: true },
    ],
    handshakes: [{ node: "n3", interfaceName: "wg-n3-n1-0", ageSeconds: HANDSHAKE_BOUND_S + 1, ok: false }],
    plan: { name: "mesh", generation: 2, observedGeneration: 1, ready: true, message: "2 of 2", ok: false },
    ok: false,
  };
  const lines = formatMatrix(r).split("\n");
  assert.match(lines[0], /^from\\to\s+n1\s+n2\s+n3$/);
  assert.match(lines[1], /^n1\s+·\s+✓\s+✗$/);
  assert.match(lines[3], /^n3\s+✓\s+✓\s+·$/);
  assert.match(formatMatrix(r), /pings: 5\/6 answered/);
  assert.match(formatMatrix(r), /stale: wg-n3-n1-0 206 s/);
  assert.match(formatMatrix(r), /plan mesh: Ready=true generation 2 observed 1 .* ✗/);
  assert.match(lines.at(-1)!, /NOT green/);
});
