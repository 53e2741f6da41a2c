/**
 * The mesh scenario as data (pure): N nodes with roles, their underlay addresses on the lab's "internet", the
 * tunnel address of every pair, and the one WireGuardNetworkPlan that joins them in a full mesh.
 *
 * Roles (nodes n1…nN, N ≥ 4):
 *   n1   public, reached by a DNS name (`n1.mesh.test`, resolved inside the lab); its key from a Secret
 *   n2   public, reached by an IPv6 literal
 *   n3   behind the NAT router with a port forward: underlay = the router's public address and its own port range
 *   n4   behind the NAT router without a forward: no underlay, persistent keepalive on all its links
 *   n5…  public, IPv4 literal
 *
 * Addresses are documentation ranges only: 192.0.2.0/24 + 2001:db8:1::/64 (segment A), 203.0.113.0/25 +
 * 2001:db8:2::/64 (segment B, the NAT router's outside), 203.0.113.128/25 + 2001:db8:3::/64 (the NAT LAN; IPv6 is
 * routed, not translated), 198.51.100.0/24 for the tunnels. Every interface of node i also carries the node-level
 * address fe80::i/64.
 */

/** Fewest nodes: one of each role. */
export const MESH_MIN_NODES = 4;
/** Most nodes: the tunnel addresses of N·(N−1)/2 pairs come from one /24. */
export const MESH_MAX_NODES = 16;

/** Default UDP port range of the plan (nodes without their own). */
export const DEFAULT_PORT_RANGE = { start: 51820, end: 51899 } as const;
/** n3's own port range, forwarded by the NAT router to n3. */
export const FORWARDED_PORT_RANGE = { start: 40000, end: 40063 } as const;
/** The DNS name of n1, resolvable only inside the lab's namespaces. */
export const DNS_NODE_NAME = "n1.mesh.test";
/** Persistent keepalive the plan gives links of nodes without underlay (see src/api/constants.ts). */
export const NAT_KEEPALIVE_SECONDS = 25;

/** Where a node's underlay link plugs in: segment A or B of the internet, or the NAT router's LAN. */
export type Segment = "a" | "b" | "lan";
/** What a node shows of the scenario. */
export type Role = "dns" | "v6" | "nat-forward" | "nat" | "public";

/** One node of the mesh. */
export interface MeshNode {
  name: string;
  /** 1-based position (n1 → 1). */
  index: number;
  role: Role;
  segment: Segment;
  /** Underlay addresses of the node's eth0 (without prefix length). */
  v4: string;
  v6: string;
  /** The plan's underlay.hostname; absent behind NAT without forward. */
  hostname?: string;
  /** The node's own port range (underlay.portRange). */
  portRange?: { start: number; end: number };
}

/** Router and prefix lengths of each segment. */
export const SEGMENTS: Record<Segment, { net4: string; net6: string; gw4: string; gw6: string }> = {
  a: { net4: "192.0.2.0/24", net6: "2001:db8:1::/64", gw4: "192.0.2.1", gw6: "2001:db8:1::1" },
  b: { net4: "203.0.113.0/25", net6: "2001:db8:2::/64", gw4: "203.0.113.1", gw6: "2001:db8:2::1" },
  lan: { net4: "203.0.113.128/25", net6: "2001:db8:3::/64", gw4: "203.0.113.129", gw6: "2001:db8:3::1" },
};

/** `addr/len` of an address on a segment. */
export function onSegment(seg: Segment, addr: string): string {
  return `${addr}/${(addr.includes(":") ? SEGMENTS[seg].net6 : SEGMENTS[seg].net4).split("/")[1]}`;
}

/** The NAT router's outside addresses (on segment B). */
export const NAT_ROUTER = { v4: "203.0.113.2", v6: "2001:db8:2::2" } as const;

/** The nodes of an N-node mesh. Throws for N outside [MESH_MIN_NODES, MESH_MAX_NODES]. */
export function meshNodes(n: number): MeshNode[] {
  if (!Number.isInteger(n) || n < MESH_MIN_NODES || n > MESH_MAX_NODES) {
    throw new Error(`mesh: --nodes must be an integer from ${MESH_MIN_NODES} to ${MESH_MAX_NODES}, got ${n}`);
  }
  return Array.from({ length: n }, (_, k) => meshNode(k + 1));
}

function meshNode(i: number): MeshNode {
  const name = `n${i}`;
  switch (i) {
    case 1:
      return {
        name,
        index: i,
        role: "dns",
        segment: "b",
        v4: "203.0.113.11",
        v6: "2001:db8:2::11",
        hostname: DNS_NODE_NAME,
      };
    case 2:
      return {
        name,
        index: i,
        role: "v6",
        segment: "a",
        v4: "192.0.2.12",
        v6: "2001:db8:1::12",
        hostname: "2001:db8:1::12",
      };
    case 3:
      return {
        name,
        index: i,
        role: "nat-forward",
        segment: "lan",
        v4: "203.0.113.130",
        v6: "2001:db8:3::130",
        hostname: NAT_ROUTER.v4,
        portRange: { ...FORWARDED_PORT_RANGE },
      };
    case 4:
      return { name, index: i, role: "nat", segment: "lan", v4: "203.0.113.131", v6: "2001:db8:3::131" };
    default:
      return {
        name,
        index: i,
        role: "public",
        segment: "a",
        v4: `192.0.2.${10 + i}`,
        v6: `2001:db8:1::${10 + i}`,
        hostname: `192.0.2.${10 + i}`,
      };
  }
}

/** Unordered pair of nodes, keyed by their indexes. */
export interface MeshPair {
  a: MeshNode;
  b: MeshNode;
}

/** Every pair (a before b), in a fixed order: (1,2), (1,3) … (2,3) … */
export function meshPairs(nodes: MeshNode[]): MeshPair[] {
  const out: MeshPair[] = [];
  for (const [i, a] of nodes.entries()) for (const b of nodes.slice(i + 1)) out.push({ a, b });
  return out;
}

/**
 * The tunnel address of `self` on its link to `other`: pair k (of indexes i < j, counted over all pairs of a
 * 16-node mesh so that adding or removing nodes never renumbers a pair) gets 198.51.100.(2k+2) on node i and
 * .(2k+3) on node j.
 */
export function tunnelAddress(self: MeshNode, other: MeshNode): string {
  const [i, j] = self.index < other.index ? [self.index, other.index] : [other.index, self.index];
  const k = (i - 1) * MESH_MAX_NODES - ((i - 1) * i) / 2 + (j - i - 1);
  return `198.51.100.${2 * k + 2 + (self.index === i ? 0 : 1)}`;
}

/** Node-level address of a node (on every one of its interfaces). */
export function nodeAddress(node: MeshNode): string {
  return `fe80::${node.index.toString(16)}`;
}

/** Names of the plan's objects. */
export interface MeshPlanNames {
  plan: string;
  namespace: string;
  /** Secret holding n1's private key (key `privatekey`). */
  keySecret: string;
}

/** A plan object as kubectl applies it. */
export type ManifestObject = Record<string, unknown>;

/**
 * The WireGuardNetworkPlan joining `nodes` in a full mesh: node-level address fe80::i/64 on every interface, the
 * pair's tunnel address per link, n1's key from `names.keySecret`, the others' generated by the plan controller;
 * `mtu` on every node when given (default: the plan's).
 */
export function meshPlan(nodes: MeshNode[], names: MeshPlanNames, mtu?: number): ManifestObject {
  return {
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "WireGuardNetworkPlan",
    metadata: { name: names.plan, namespace: names.namespace },
    spec: {
      defaultPortRange: { ...DEFAULT_PORT_RANGE },
      nodes: nodes.map((n) => ({
        nodeName: n.name,
        ...(n.hostname
          ? { underlay: { hostname: n.hostname, ...(n.portRange ? { portRange: { ...n.portRange } } : {}) } }
          : {}),
        ...(n.role === "dns" ? { privateKeyRef: { name: names.keySecret, key: "privatekey" } } : {}),
        ...(mtu ? { mtu } : {}),
        addresses: [{ family: "inet6", local: nodeAddress(n), prefixlen: 64 }],
      })),
      links: nodes.map((from) => ({
        fromNode: from.name,
        toNodes: nodes.filter((to) => to !== from).map((to) => ({
          nodeName: to.name,
          addresses: [{ family: "inet", local: tunnelAddress(from, to), peer: tunnelAddress(to, from), prefixlen: 32 }],
        })),
      })),
    },
  };
}

/** The Secret with n1's private key (`data.privatekey` holds the key's base64 text, i.e. its 32 bytes). */
export function keySecret(names: MeshPlanNames, privateKeyBase64: string): ManifestObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: names.keySecret, namespace: names.namespace },
    type: "Opaque",
    data: { privatekey: privateKeyBase64 },
  };
}

/** Lines of the hosts file every node namespace gets: localhost and the DNS node's name. */
export function hostsFile(nodes: MeshNode[]): string {
  const dns = nodes.find((n) => n.role === "dns");
  return ["127.0.0.1 localhost", "::1 localhost", ...(dns ? [`${dns.v4} ${DNS_NODE_NAME}`] : [])].join("\n") + "\n";
}
