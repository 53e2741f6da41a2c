/**
 * What the CLI shows, computed from objects only (pure): every WireGuardInterface with its peers as spec and status
 * tell them, each peer resolved to the interface at its other end, and the topology of network namespaces and tunnels.
 *
 * Peers are matched to interfaces (a) for plan children by the link annotation the plan controller writes (the
 * reverse link of the same plan), else (b) mutually by public keys: A lists B's key and B lists A's (keys alone are
 * ambiguous: all interfaces of a plan node share its key). A peer that matches nothing is an external peer.
 */
import type { Condition, WireGuardAddress } from "../api/common.ts";
import { CONDITION_TYPES, KINDS } from "../api/constants.ts";
import { type Placement, wireGuardPlacement } from "../api/placement.ts";
import type { WireGuardInterface } from "../api/wireguard_interface.ts";
import type { WireGuardNetworkPlan } from "../api/wireguard_network_plan.ts";
import { ANNOTATION_LINK, LABEL_CONTROLLED_BY } from "../plan/child.ts";
import { controlledByValue } from "../plan/child.ts";

/** Ready condition status; "Unknown" also when the node never reported. */
export type ReadyStatus = "True" | "False" | "Unknown";

/** Freshness of a peer's latest handshake. */
export type Freshness = "fresh" | "stale" | "never";

/** One peer of an interface. */
export interface PeerView {
  publicKey: string;
  /** Id ("namespace/name") of the interface at the other end, when known. */
  matched?: string;
  /** The other end for people: its node (plan children) or node/interface; undefined for an external peer. */
  peerName?: string;
  /** The endpoint the device reports (after roaming), else the spec's. */
  endpoint?: string;
  keepalive?: number;
  allowedIPs: string[];
  /** Unix ms of the latest handshake, as the status last published it. */
  handshakeMs?: number;
  rxBytes?: number;
  txBytes?: number;
}

/** One WireGuardInterface. */
export interface InterfaceView {
  /** "namespace/name". */
  id: string;
  namespace: string;
  name: string;
  node: string;
  interfaceName: string;
  /** Name of the plan that generated it. */
  plan?: string;
  /** The plan link it stands for. */
  link?: { fromNode: string; toNode: string };
  /** Where the link lives on its node: "" for the host namespace, else e.g. "agent1" or "netns blue". */
  placement: string;
  listenPort?: number;
  addresses: string[];
  /** The device's public key (status), else the plan's key of its node. */
  publicKey?: string;
  /** A node agent has written status. */
  reported: boolean;
  ready: ReadyStatus;
  reason?: string;
  message?: string;
  peers: PeerView[];
}

/** How one address is shown: `local/len`, or `local peer PEER/len`. */
export function addressText(a: WireGuardAddress): string {
  return a.peer ? `${a.local} peer ${a.peer}/${a.prefixlen}` : `${a.local}/${a.prefixlen}`;
}

function placementText(p: Placement): string {
  switch (p.kind) {
    case "host":
      return "";
    case "docker":
      return p.name;
    case "pod":
      return `pod ${p.name}`;
    case "pid":
      return `pid ${p.pid}`;
    case "netns-name":
      return `netns ${p.name}`;
    case "netns-path":
      return p.path;
  }
}

function readyOf(conditions: readonly Condition[] | undefined): Pick<InterfaceView, "ready" | "reason" | "message"> {
  const c = conditions?.find((c) => c.type === CONDITION_TYPES.Ready);
  if (!c) return { ready: "Unknown" };
  return { ready: c.status, reason: c.reason, message: c.message };
}

function linkOf(o: WireGuardInterface): InterfaceView["link"] {
  try {
    const l = JSON.parse(o.metadata.annotations?.[ANNOTATION_LINK] ?? "");
    if (typeof l?.fromNode === "string" && typeof l?.toNode === "string") {
      return { fromNode: l.fromNode, toNode: l.toNode };
    }
  } catch { /* not a plan child */ }
  return undefined;
}

/** The plan of `o` among `plans` (owner reference and label agree), if any. */
function planOf(o: WireGuardInterface, plans: readonly WireGuardNetworkPlan[]): WireGuardNetworkPlan | undefined {
  const owner = o.metadata.ownerReferences?.find((r) => r.kind === KINDS.WireGuardNetworkPlan.kind && r.controller);
  if (!owner) return undefined;
  return plans.find((p) =>
    p.metadata.namespace === o.metadata.namespace && p.metadata.name === owner.name &&
    (!p.metadata.uid || p.metadata.uid === owner.uid) &&
    o.metadata.labels?.[LABEL_CONTROLLED_BY] === controlledByValue(p.metadata.name ?? "")
  );
}

const byText = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;

/** The views of all interfaces, sorted by namespace, node and name, with peers matched. */
export function interfaceViews(
  wgis: readonly WireGuardInterface[],
  plans: readonly WireGuardNetworkPlan[],
): InterfaceView[] {
  const views = wgis.map((o) => {
    const plan = planOf(o, plans);
    const planKey = plan?.status?.nodes?.find((n) => n.nodeName === o.spec.node)?.publicKey;
    const device = o.status?.wireguard;
    const v: InterfaceView = {
      id: `${o.metadata.namespace}/${o.metadata.name}`,
      namespace: o.metadata.namespace ?? "",
      name: o.metadata.name ?? "",
      node: o.spec.node,
      interfaceName: o.spec.interfaceName,
      placement: placementText(wireGuardPlacement(o.spec, o.metadata.namespace ?? "")),
      addresses: (o.spec.addresses ?? []).map(addressText),
      reported: !!o.status?.nodename || !!o.status?.conditions?.length,
      ...readyOf(o.status?.conditions),
      peers: (o.spec.peers ?? []).map((p) => {
        const seen = device?.peers?.find((d) => d.public_key === p.publicKey);
        const endpoint = seen?.endpoint ?? p.endpoint;
        return {
          publicKey: p.publicKey,
          allowedIPs: [...(p.allowedIPs ?? [])],
          ...(endpoint ? { endpoint } : {}),
          ...(p.persistentKeepalive ? { keepalive: p.persistentKeepalive } : {}),
          ...(seen?.last_handshake_time ? { handshakeMs: seen.last_handshake_time } : {}),
          ...(seen?.receive_bytes !== undefined ? { rxBytes: seen.receive_bytes } : {}),
          ...(seen?.transmit_bytes !== undefined ? { txBytes: seen.transmit_bytes } : {}),
        };
      }),
    };
    if (plan) v.plan = plan.metadata.name;
    const link = plan ? linkOf(o) : undefined;
    if (link) v.link = link;
    if (o.spec.listenPort) v.listenPort = o.spec.listenPort;
    const publicKey = device?.public_key ?? planKey;
    if (publicKey) v.publicKey = publicKey;
    return v;
  });
  matchPeers(views);
  return views.sort((a, b) => byText(a.namespace, b.namespace) || byText(a.node, b.node) || byText(a.name, b.name));
}

function matchPeers(views: InterfaceView[]): void {
  const planEnds = new Map(
    views.filter((v) => v.link).map((v) => [
      `${v.namespace}/${v.plan}/${v.link!.fromNode}/${v.link!.toNode}`,
      v,
    ]),
  );
  const byKey = new Map<string, InterfaceView[]>();
  for (const v of views) if (v.publicKey) byKey.set(v.publicKey, [...(byKey.get(v.publicKey) ?? []), v]);
  for (const v of views) {
    for (const p of v.peers) {
      let other: InterfaceView | undefined;
      if (v.link) other = planEnds.get(`${v.namespace}/${v.plan}/${v.link.toNode}/${v.link.fromNode}`);
      if (other && other.publicKey && other.publicKey !== p.publicKey) other = undefined;
      other ??= (byKey.get(p.publicKey) ?? []).find((w) =>
        w !== v && w.namespace === v.namespace && w.peers.some((q) => q.publicKey === v.publicKey)
      );
      if (!other) continue;
      p.matched = other.id;
      p.peerName = other.plan ? other.node : `${other.node}/${other.interfaceName}`;
    }
  }
}

/** Freshness of a handshake at `nowMs`. */
export function freshness(handshakeMs: number | undefined, nowMs: number, staleAfterS: number): Freshness {
  if (!handshakeMs) return "never";
  return nowMs - handshakeMs > staleAfterS * 1000 ? "stale" : "fresh";
}

/** Graph vertex: a network namespace on a node (or an external peer). */
export interface Vertex {
  id: string;
  node: string;
  /** "" for the node's host namespace. */
  placement: string;
  /** A plan declares the node without underlay (it initiates; behind NAT). */
  nat: boolean;
  /** Hostname of the node's underlay, when a plan declares one. */
  underlay?: string;
  /** Some interface here has status from a node agent. */
  reported: boolean;
  /** A peer key that matches no interface. */
  external?: { publicKey: string; endpoint?: string };
}

/** State of a tunnel. */
export type LinkState = "up" | "stale" | "down" | "unknown";

/** One end of a tunnel. */
export interface LinkEnd {
  vertex: string;
  iface?: InterfaceView;
}

/** A tunnel between two vertices. */
export interface Edge {
  a: LinkEnd;
  b: LinkEnd;
  state: LinkState;
  /** The freshest handshake either end reports. */
  handshakeMs?: number;
}

/** The topology: vertices and edges, sorted. */
export interface Topology {
  vertices: Vertex[];
  edges: Edge[];
}

function vertexId(v: InterfaceView): string {
  return v.placement ? `${v.node}/${v.placement}` : v.node;
}

/** The state of a tunnel from its reported ends. */
export function linkState(
  ends: readonly (InterfaceView | undefined)[],
  handshakeMs: number | undefined,
  nowMs: number,
  staleAfterS: number,
): LinkState {
  const reported = ends.filter((e): e is InterfaceView => !!e?.reported);
  if (!reported.length) return "unknown";
  if (reported.some((e) => e.ready !== "True")) return "down";
  return freshness(handshakeMs, nowMs, staleAfterS) === "fresh" ? "up" : "stale";
}

/** The topology of `views` (pure and deterministic). */
export function topology(
  views: readonly InterfaceView[],
  plans: readonly WireGuardNetworkPlan[],
  nowMs: number,
  staleAfterS: number,
): Topology {
  const vertices = new Map<string, Vertex>();
  const planNode = (ns: string, node: string) =>
    plans.filter((p) => p.metadata.namespace === ns).flatMap((p) => p.spec.nodes ?? [])
      .find((n) => n.nodeName === node);
  for (const v of views) {
    const id = vertexId(v);
    const known = vertices.get(id);
    const decl = v.plan ? planNode(v.namespace, v.node) : undefined;
    const vertex: Vertex = known ?? { id, node: v.node, placement: v.placement, nat: false, reported: false };
    if (decl && !decl.underlay) vertex.nat = true;
    if (decl?.underlay?.hostname) vertex.underlay = decl.underlay.hostname;
    vertex.reported ||= v.reported;
    vertices.set(id, vertex);
  }
  const byId = new Map(views.map((v) => [v.id, v]));
  const edges: Edge[] = [];
  const seen = new Set<string>();
  for (const v of views) {
    for (const p of v.peers) {
      const other = p.matched ? byId.get(p.matched) : undefined;
      let b: LinkEnd;
      let handshakeMs = p.handshakeMs;
      if (other) {
        const pair = [v.id, other.id].sort(byText).join(" ");
        if (seen.has(pair)) continue;
        seen.add(pair);
        const back = other.peers.find((q) => q.matched === v.id)?.handshakeMs;
        if (back && (!handshakeMs || back > handshakeMs)) handshakeMs = back;
        b = { vertex: vertexId(other), iface: other };
      } else {
        const id = `peer ${p.publicKey}`;
        vertices.set(id, {
          id,
          node: "",
          placement: "",
          nat: false,
          reported: false,
          external: { publicKey: p.publicKey, ...(p.endpoint ? { endpoint: p.endpoint } : {}) },
        });
        b = { vertex: id };
      }
      const edge: Edge = {
        a: { vertex: vertexId(v), iface: v },
        b,
        state: linkState([v, b.iface], handshakeMs, nowMs, staleAfterS),
      };
      if (handshakeMs) edge.handshakeMs = handshakeMs;
      edges.push(edge);
    }
  }
  const key = (e: Edge) => `${e.a.vertex} ${e.b.vertex} ${e.a.iface?.id}`;
  return {
    vertices: [...vertices.values()].sort((x, y) => byText(x.id, y.id)),
    edges: edges.sort((x, y) => byText(key(x), key(y))),
  };
}
