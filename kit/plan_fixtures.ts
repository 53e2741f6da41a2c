/** Shared inputs of the plan tests: the reference's wgp1 example (docs/reference.md#the-examples) and helpers to build plans. */
import type { NodeKey } from "../src/plan/expand.ts";
import type { PlanNode, WireGuardNetworkPlanSpec } from "../src/plan/types.ts";

/** Public keys of the wgp1 nodes as in the reference's example. */
export const LAX1_PUB = "mH275OIRLUolb0t0PzJlVt9Fxvjfn34njOgpy49y7jM=";
export const LAX2_PUB = "sLd9bBoHQGYMPQowZj/0k6c0LI5j8sWZ7RzrUD9kEmg=";

/** The wgp1 spec (keys left out: the expansion gets them through NodeKey). */
export function wgp1Spec(): WireGuardNetworkPlanSpec {
  return {
    defaultPortRange: { start: 51800, end: 51819 },
    nodes: [
      {
        nodeName: "lax1",
        underlay: { hostname: "192.168.65.3", portRange: { start: 52820, end: 52839 } },
        moveToContainer: true,
        container: { docker: { name: "agent1" } },
        mtu: 1420,
        addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
      },
      {
        nodeName: "lax2",
        moveToContainer: true,
        container: { docker: { name: "agent2" } },
        mtu: 1420,
        addresses: [{ family: "inet", local: "10.4.0.2", peer: "10.4.0.1", prefixlen: 32 }],
      },
    ],
    links: [
      { fromNode: "lax1", toNodes: [{ nodeName: "lax2" }] },
      { fromNode: "lax2", toNodes: [{ nodeName: "lax1" }] },
    ],
  };
}

/** A fake but well-formed public key per node name (the expansion only copies it). */
export function fakePub(node: string): string {
  const bytes = new Uint8Array(32);
  new TextEncoder().encodeInto(node.padEnd(32, "."), bytes);
  return bytes.toBase64();
}

/** NodeKeys for the given nodes, referencing Secret `keys` key `<node>` in namespace `ns`. */
export function keysFor(nodes: string[], pubs: Record<string, string> = {}, ns = "ns1"): Map<string, NodeKey> {
  return new Map(
    nodes.map((n) => [n, { publicKey: pubs[n] ?? fakePub(n), secretRef: { name: "keys", key: n, namespace: ns } }]),
  );
}

/** A full mesh of `n` nodes named node-00…; nodes with even numbers have an underlay. */
export function fullMesh(n: number, natEvery = 0): WireGuardNetworkPlanSpec {
  const names = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(2, "0")}`);
  const nodes: PlanNode[] = names.map((nodeName, i) => ({
    nodeName,
    ...(natEvery && i % natEvery === 0 ? {} : {
      underlay: { hostname: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, portRange: { start: 40000, end: 40999 } },
    }),
  }));
  return {
    defaultPortRange: { start: 51800, end: 52799 },
    nodes,
    links: names.map((fromNode) => ({
      fromNode,
      toNodes: names.filter((t) => t !== fromNode).map((nodeName) => ({ nodeName })),
    })),
  };
}
