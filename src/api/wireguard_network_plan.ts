/** WireGuardNetworkPlan: nodes and links of a WireGuard network, expanded into WireGuardInterfaces. */
import { type Static, Type } from "@sinclair/typebox";
import type { KubeObject } from "../kube/client.ts";
import { AGENT_STATES } from "../kube/heartbeat.ts";
import { Container, hasInet6, PortRange, SecretKeyRef, StatusBase, WireGuardAddressList } from "./common.ts";
import { describe, HostName, Int64, MapListOf, Mtu, NodeName, rules, StringEnum, WireGuardKey } from "./fields.ts";
import { DEFAULTS } from "./constants.ts";

/**
 * Maximum nodes in one plan. The CEL rule checking that links name declared nodes costs links x toNodes x nodes
 * string comparisons, which the API server's cost estimate must fit; 64 nodes allow a 64-node full mesh.
 */
export const MAX_PLAN_NODES = 64;
/** Maximum entries in spec.links (a fromNode may appear in several entries). */
export const MAX_PLAN_LINKS = 64;
/** Maximum toNodes of one links entry. */
export const MAX_PLAN_TO_NODES = 64;
/** Maximum node-level addresses of a plan node. */
export const MAX_PLAN_NODE_ADDRESSES = 16;
/** Maximum per-link addresses. */
export const MAX_PLAN_LINK_ADDRESSES = 8;
/** Plan node names end up in object and interface names, so they are limited to a DNS label's length. */
export const MAX_PLAN_NODE_NAME = 63;

/** Plan node name (also a Kubernetes node name). */
function PlanNodeName(description: string) {
  return NodeName(description, MAX_PLAN_NODE_NAME);
}

/** How other nodes reach a node. */
export const Underlay = Type.Object({
  hostname: HostName("DNS name or IP address that the other nodes use to reach this node."),
  portRange: Type.Optional(describe(
    PortRange,
    "Ports for this node's interfaces (range start + link index). Absent: spec.defaultPortRange.",
  )),
}, { description: "How other nodes reach this node. Absent: the node is behind NAT and only initiates." });

/** One node of the plan. */
export const PlanNode = Type.Object({
  nodeName: PlanNodeName("Node name; must equal the -nodename of that node's wg-controller. Unique in the plan."),
  underlay: Type.Optional(Underlay),
  privateKey: Type.Optional(WireGuardKey(
    "Inline private key of this node (base64). Visible to anyone who can read the plan; prefer privateKeyRef. " +
      "Set at most one of privateKey and privateKeyRef; with neither, the plan controller generates a key into " +
      "a Secret owned by the plan.",
  )),
  privateKeyRef: Type.Optional(describe(
    SecretKeyRef,
    "Secret holding this node's private key, in the plan's namespace. Set at most one of privateKey and " +
      "privateKeyRef.",
  )),
  moveToContainer: Type.Optional(Type.Boolean({
    description: "Copied into every WireGuardInterface generated for this node (see WireGuardInterface).",
  })),
  container: Type.Optional(describe(Container, "Copied into every WireGuardInterface generated for this node.")),
  mtu: Type.Optional(Mtu(
    `MTU of this node's interfaces; 0 or absent: ${DEFAULTS.wireGuardMtu}. At least 1280 with inet6 addresses.`,
    true,
  )),
  addresses: Type.Optional(WireGuardAddressList(
    "Addresses put on every interface generated for this node (per-link addresses are appended, or replace " +
      "these with overrideAddresses).",
    MAX_PLAN_NODE_ADDRESSES,
  )),
}, {
  description: "A node of the plan.",
  ...rules(
    {
      rule: "!(has(self.privateKey) && has(self.privateKeyRef))",
      message: "set at most one of privateKey and privateKeyRef",
      fieldPath: ".privateKeyRef",
    },
    {
      rule: "!has(self.moveToContainer) || !self.moveToContainer || " +
        "(has(self.container) && (has(self.container.docker) || has(self.container.pod) || has(self.container.netns)))",
      message: "container with docker, pod or netns is required when moveToContainer is true",
      fieldPath: ".container",
      reason: "FieldValueRequired",
    },
    {
      rule: `!has(self.mtu) || self.mtu == 0 || self.mtu >= 1280 || !${hasInet6("addresses")}`,
      message: "mtu must be at least 1280 when addresses holds an inet6 address (IPv6 minimum MTU)",
      fieldPath: ".mtu",
    },
  ),
});
/** One node of the plan. */
export type PlanNode = Static<typeof PlanNode>;

/** One target of a links entry. */
export const PlanLinkTarget = Type.Object({
  nodeName: PlanNodeName("The node at the other end; must be declared in spec.nodes."),
  addresses: Type.Optional(
    WireGuardAddressList("Addresses for the fromNode side of this link only.", MAX_PLAN_LINK_ADDRESSES),
  ),
  overrideAddresses: Type.Optional(Type.Boolean({
    description: "If true, addresses replace the fromNode's node-level addresses on this link instead of being " +
      "appended to them.",
  })),
}, { description: "A link from fromNode to nodeName." });

/** One adjacency entry: a node and the nodes it links to. */
export const PlanLink = Type.Object({
  fromNode: PlanNodeName("The node this entry describes; must be declared in spec.nodes."),
  toNodes: MapListOf(PlanLinkTarget, "nodeName", "Nodes fromNode links to (unique per entry).", MAX_PLAN_TO_NODES),
}, {
  description: "Links from fromNode. Every link needs its reverse entry (q in p's toNodes and p in q's).",
  ...rules({
    rule: "!self.toNodes.exists(t, t.nodeName == self.fromNode)",
    message: "toNodes must not contain fromNode itself",
    fieldPath: ".toNodes",
  }),
});

/** WireGuardNetworkPlan spec (the reference's afab4232 shape: top-level nodes, defaultPortRange, links). */
export const WireGuardNetworkPlanSpec = Type.Object({
  defaultPortRange: describe(PortRange, "Port range for nodes without underlay.portRange."),
  nodes: Type.Optional(MapListOf(PlanNode, "nodeName", "The nodes, keyed by nodeName.", MAX_PLAN_NODES)),
  links: Type.Optional(Type.Array(PlanLink, {
    description: "Adjacency: for each node, the nodes it links to. Each pair (p, q) yields one WireGuardInterface " +
      "on p named wg-<p>-<q>-<idx>, idx being q's position in that entry's toNodes sorted by name.",
    maxItems: MAX_PLAN_LINKS,
  })),
}, {
  description: "Desired WireGuard network: nodes, how to reach them, and who links to whom.",
  ...rules(
    // sets.contains over mapped name lists, not nested exists(): the nested form cost the API server about 3 s of
    // CPU on every write (create, finalizer patch, status update) of a 50-node full mesh; this one about 0.3 s.
    {
      rule: "!has(self.links) || " +
        "(has(self.nodes) && sets.contains(self.nodes.map(n, n.nodeName), self.links.map(l, l.fromNode)))",
      message: "every spec.links[].fromNode must name a node declared in spec.nodes[].nodeName",
      fieldPath: ".links",
    },
    {
      rule: "!has(self.links) || " +
        "self.links.all(l, has(self.nodes) && sets.contains(self.nodes.map(n, n.nodeName), l.toNodes.map(t, t.nodeName)))",
      message: "every spec.links[].toNodes[].nodeName must name a node declared in spec.nodes[].nodeName",
      fieldPath: ".links",
    },
  ),
});
/** WireGuardNetworkPlan spec. */
export type WireGuardNetworkPlanSpec = Static<typeof WireGuardNetworkPlanSpec>;

/** Most addresses an interface entry of a plan status repeats from its child's status. */
export const MAX_ENTRY_ADDRESSES = 8;

/** One generated interface as the plan controller sees it. */
export const PlanInterfaceStatus = Type.Object({
  wgObjectRef: Type.String({ description: "Name of the generated WireGuardInterface." }),
  nodeName: Type.String({ description: "Node of the interface (fromNode)." }),
  peerNodeName: Type.Optional(Type.String({ description: "The node at the other end (toNode)." })),
  hostName: Type.Optional(Type.String({ description: "Host name reported by the node's controller." })),
  interfaceName: Type.Optional(Type.String({ description: "Linux interface name." })),
  listenPort: Type.Optional(Type.Integer({ description: "UDP listen port." })),
  publicKey: Type.Optional(Type.String({ description: "Public key of the interface (never the private key)." })),
  endpoint: Type.Optional(Type.String({ description: "Endpoint of the peer as the device reports it." })),
  lastHandshake: Type.Optional(Int64("Latest handshake with the peer, Unix time in milliseconds.")),
  mtu: Type.Optional(Type.Integer({ description: "Link MTU." })),
  addresses: Type.Optional(Type.Array(Type.String(), {
    description: `The child's addresses as its status shows them (the first ${MAX_ENTRY_ADDRESSES}).`,
  })),
  ready: Type.Optional(Type.Boolean({ description: "The child's Ready condition is True." })),
}, { description: "A generated WireGuardInterface." });

/** WireGuardNetworkPlan status, written by the wgplan-controller. */
export const WireGuardNetworkPlanStatus = Type.Object({
  observedGeneration: StatusBase.observedGeneration,
  conditions: StatusBase.conditions,
  desiredInterfaces: Type.Optional(Type.Integer({ description: "Number of interfaces the plan expands to." })),
  readyInterfaces: Type.Optional(Type.Integer({ description: "Number of generated interfaces that are Ready." })),
  nodes: Type.Optional(Type.Array(
    Type.Object({
      nodeName: Type.String({ description: "Node name." }),
      publicKey: Type.Optional(Type.String({ description: "The node's public key." })),
      agent: Type.Optional(StringEnum(AGENT_STATES, {
        description: "The node's wg-controller by its heartbeat Lease: Alive; Stale (stopped, within the grace " +
          "period: deletions wait for it); Gone (beyond the grace period); None (never seen).",
      })),
      lastHeartbeatTime: Type.Optional(Type.String({
        description: "The latest heartbeat of the node's wg-controller (RFC 3339).",
        format: "date-time",
      })),
    }, { description: "A node, its public key and whether its agent runs." }),
    { description: "Public key and agent state of every node (for configuring peers outside the plan)." },
  )),
  interfaces: Type.Optional(Type.Array(PlanInterfaceStatus, {
    description: "One entry per generated interface, those not ready first; at most 1000 (see interfacesOmitted).",
  })),
  interfacesOmitted: Type.Optional(Type.Integer({
    description:
      "Generated interfaces left out of interfaces (ready ones) to keep the status within the size the API " +
      "server stores; desiredInterfaces and readyInterfaces count them all.",
  })),
}, { description: "Expansion and readiness of the plan. Never contains private keys." });
/** WireGuardNetworkPlan status. */
export type WireGuardNetworkPlanStatus = Static<typeof WireGuardNetworkPlanStatus>;

/** A WireGuardNetworkPlan object as it travels on the wire (metadata timestamps are RFC 3339 strings). */
export interface WireGuardNetworkPlan extends KubeObject {
  spec: WireGuardNetworkPlanSpec;
  status?: WireGuardNetworkPlanStatus;
}
