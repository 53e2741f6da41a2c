/** NetlinkInterface: a plain Linux link (dummy, bridge, vxlan, veth, vlan, macvlan) on one node. */
import { type Static, Type } from "@sinclair/typebox";
import type { KubeObject } from "../kube/client.ts";
import { AddressStrings, Container, LinkFlags, MAX_OBSERVED, NetlinkStatus, OperState, StatusBase } from "./common.ts";
import {
  CIDR,
  describe,
  immutableField,
  immutableOptional,
  InterfaceName,
  IPAddress,
  MapListOf,
  Mtu,
  NodeName,
  PortOrZero,
  rules,
  SetOf,
  StringEnum,
} from "./fields.ts";
import { DEFAULTS } from "./constants.ts";

/** Link types a NetlinkInterface can manage. */
export const LINK_TYPES = ["dummy", "bridge", "vxlan", "veth", "vlan", "macvlan"] as const;
/** A link type. */
export type LinkType = typeof LINK_TYPES[number];

/** macvlan modes. */
export const MACVLAN_MODES = ["private", "vepa", "bridge", "passthru", "source"] as const;
/** VLAN protocols. */
export const VLAN_PROTOCOLS = ["802.1Q", "802.1ad"] as const;

/** Maximum addresses / bridge slaves on one link. */
export const MAX_LINK_ADDRESSES = 64;
/** Maximum bridge slaves. */
export const MAX_BRIDGE_SLAVES = 256;

/** An address in the reference's NetlinkInterface shape. */
export const NetlinkAddress = Type.Object({
  ipcidr: Type.String({
    description: "Without peerCidr: the address with prefix length (10.2.3.1/24). With peerCidr: the bare " +
      "local IP (10.99.3.1).",
    minLength: 1,
    maxLength: 49,
  }),
  peerCidr: Type.Optional(CIDR(
    "Point-to-point peer with prefix length (10.99.4.1/32): the address becomes local peer PEER/len. The peer " +
      "is used as written (the reference masked its host bits).",
  )),
}, {
  description: "An address: a CIDR, or a local IP with a point-to-point peer CIDR.",
  ...rules(
    {
      rule: "has(self.peerCidr) || isCIDR(self.ipcidr)",
      message: "ipcidr must be an address with prefix length such as 10.2.3.1/24 or fd00::1/64 " +
        "(a bare IP only together with peerCidr)",
      fieldPath: ".ipcidr",
    },
    {
      rule: "!has(self.peerCidr) || isIP(self.ipcidr)",
      message: "ipcidr must be a bare IP address (no prefix length) when peerCidr is set",
      fieldPath: ".ipcidr",
    },
    {
      rule: "!has(self.peerCidr) || !isIP(self.ipcidr) || !isCIDR(self.peerCidr) || " +
        "ip(self.ipcidr).family() == cidr(self.peerCidr).ip().family()",
      message: "peerCidr must be of the same address family as ipcidr",
      fieldPath: ".peerCidr",
    },
  ),
});
/** An address in the reference's NetlinkInterface shape. */
export type NetlinkAddress = Static<typeof NetlinkAddress>;

/** A list of NetlinkInterface addresses, unique by ipcidr. */
function NetlinkAddressList(description: string) {
  return MapListOf(NetlinkAddress, "ipcidr", description, MAX_LINK_ADDRESSES);
}

/** CEL: true when the optional NetlinkAddress list `self.<field>` holds an IPv6 address. */
function hasIPv6Address(field: string): string {
  return `(has(self.${field}) && self.${field}.exists(a, a.ipcidr.contains(':')))`;
}

/** One end of a veth pair. */
export const VethEnd = Type.Object({
  interfaceName: Type.Optional(InterfaceName("Name of this end.")),
  addresses: Type.Optional(NetlinkAddressList("Exact list of addresses on this end.")),
  container: Type.Optional(describe(Container, "Network namespace of this end.")),
}, { description: "One end of a veth pair." });

/** vxlan parameters (immutable: the kernel cannot change them on a live link). */
export const VxlanSpec = Type.Object({
  vni: Type.Integer({ description: "VXLAN network identifier, 0-16777215.", minimum: 0, maximum: 16777215 }),
  dev: Type.Optional(InterfaceName("Underlay link (in the same namespace) that carries the encapsulated packets.")),
  local: Type.Optional(IPAddress("Source IP of encapsulated packets (the reference ignored it; it is applied).")),
  group: Type.Optional(IPAddress(
    "Remote VTEP: a multicast group, or a unicast IP that acts as the single remote (as in the reference).",
  )),
  noLearning: Type.Optional(Type.Boolean({ description: "Disable learning of remote MAC addresses." })),
  port: Type.Optional(PortOrZero("UDP destination port (4789 is the IANA port); 0 or absent: kernel default.")),
  ttl: Type.Optional(
    Type.Integer({ description: "TTL of encapsulated packets (0: inherit).", minimum: 0, maximum: 255 }),
  ),
  tos: Type.Optional(
    Type.Integer({ description: "TOS of encapsulated packets (0: inherit).", minimum: 0, maximum: 255 }),
  ),
  proxyARP: Type.Optional(Type.Boolean({ description: "Answer ARP/NDP from the forwarding database." })),
  noAge: Type.Optional(Type.Boolean({ description: "Forwarding database entries never expire." })),
  portRange: Type.Optional(Type.Array(
    Type.Integer({ description: "A UDP port.", minimum: 1, maximum: 65535 }),
    { description: "UDP source port range: exactly two items [low, high], low <= high.", minItems: 2, maxItems: 2 },
  )),
}, {
  description: "VXLAN parameters. Immutable: a change is rejected; delete and recreate the object.",
  ...rules(
    {
      rule: "!has(self.portRange) || size(self.portRange) != 2 || self.portRange[0] <= self.portRange[1]",
      message: "portRange must be [low, high] with low <= high",
      fieldPath: ".portRange",
    },
    {
      rule: "!has(self.local) || !has(self.group) || !isIP(self.local) || !isIP(self.group) || " +
        "ip(self.local).family() == ip(self.group).family()",
      message: "local and group must be of the same address family",
      fieldPath: ".group",
    },
  ),
});

/** vlan parameters. */
export const VlanSpec = Type.Object({
  id: Type.Integer({ description: "VLAN id, 0-4094. Immutable.", minimum: 0, maximum: 4094 }),
  link: InterfaceName("Parent link (in the same namespace). Immutable."),
  protocol: Type.Optional(StringEnum(VLAN_PROTOCOLS, {
    description: "Tag protocol: 802.1Q (default) or 802.1ad (QinQ service tag). Immutable.",
    default: "802.1Q",
  })),
}, { description: "VLAN sub-interface parameters. Immutable: delete and recreate the object to change them." });

/** macvlan parameters. */
export const MacvlanSpec = Type.Object({
  link: InterfaceName("Parent link (in the same namespace). Immutable."),
  mode: Type.Optional(StringEnum(MACVLAN_MODES, {
    description: "private, vepa, bridge (default), passthru or source.",
    default: "bridge",
  })),
}, {
  description: "macvlan parameters.",
  ...rules({ rule: "self.link == oldSelf.link", message: "macvlan.link is immutable", fieldPath: ".link" }),
});

/** NetlinkInterface spec. */
export const NetlinkInterfaceSpec = Type.Object({
  node: NodeName(
    "Node whose nl-controller (-nodename) manages this link. Immutable. Selectable as a field " +
      "selector (spec.node=NAME).",
  ),
  interfaceName: InterfaceName(
    "Link name (1-15 bytes). For veth: the local end's name unless veth.local.interfaceName is set. Immutable.",
  ),
  type: StringEnum(LINK_TYPES, {
    description: "Link type: dummy, bridge, vxlan, veth, vlan or macvlan. Immutable.",
  }),
  up: Type.Optional(Type.Boolean({ description: "Desired admin state (default true).", default: true })),
  mtu: Type.Optional(Mtu("Link MTU, 68-65535 (at least 1280 with IPv6 addresses). Absent: not managed.", false)),
  addresses: Type.Optional(NetlinkAddressList(
    "Exact list of addresses (others are removed, except kernel IPv6 link-local addresses as documented by the " +
      "nl-controller), unique by ipcidr.",
  )),
  container: Type.Optional(describe(
    Container,
    "Network namespace to manage the link in (docker name, netns pid, name or path). Absent: the host " +
      "namespace. Immutable.",
  )),
  dummy: Type.Optional(Type.Object({}, { description: "Marker for type dummy (no parameters)." })),
  bridge: Type.Optional(Type.Object({
    slaves: Type.Optional(SetOf(
      InterfaceName("A link to enslave."),
      "Exact set of links (in the same namespace) enslaved to the bridge; others are released.",
      MAX_BRIDGE_SLAVES,
    )),
  }, { description: "Bridge parameters." })),
  vxlan: Type.Optional(VxlanSpec),
  veth: Type.Optional(Type.Object({
    local: Type.Optional(describe(VethEnd, "The local end; its fields override the top-level ones.")),
    peer: Type.Optional(describe(
      VethEnd,
      `The other end. Name default: <interfaceName>${DEFAULTS.vethPeerSuffix}; namespace default: spec.container.`,
    )),
  }, { description: "veth pair parameters. MTU and up apply to both ends. Names and containers are immutable." })),
  vlan: Type.Optional(VlanSpec),
  macvlan: Type.Optional(MacvlanSpec),
}, {
  description: "Desired state of one Linux link on one node.",
  ...rules(
    // each type-specific block (named like its type) is only allowed with that type
    ...LINK_TYPES.map((block) => ({
      rule: `!has(self.${block}) || self.type == '${block}'`,
      message: `spec.${block} is only allowed when spec.type is ${block}`,
      fieldPath: `.${block}`,
      reason: "FieldValueForbidden" as const,
    })),
    ...(["vxlan", "vlan", "macvlan"] as const).map((block) => ({
      rule: `self.type != '${block}' || has(self.${block})`,
      message: `spec.${block} is required when spec.type is ${block}`,
      fieldPath: `.${block}`,
      reason: "FieldValueRequired" as const,
    })),
    {
      rule: "self.type != 'veth' || (has(self.veth) && has(self.veth.peer) && has(self.veth.peer.interfaceName)) " +
        `|| size(self.interfaceName) <= ${15 - DEFAULTS.vethPeerSuffix.length}`,
      message: `spec.interfaceName must be at most ${15 - DEFAULTS.vethPeerSuffix.length} bytes when ` +
        `spec.veth.peer.interfaceName is not set (the peer is named <interfaceName>${DEFAULTS.vethPeerSuffix})`,
      fieldPath: ".interfaceName",
    },
    {
      rule: `!has(self.mtu) || self.mtu >= 1280 || !${hasIPv6Address("addresses")}`,
      message: "spec.mtu must be at least 1280 when spec.addresses holds an IPv6 address (IPv6 minimum MTU)",
      fieldPath: ".mtu",
    },
    immutableField("node", "spec.node"),
    immutableField("interfaceName", "spec.interfaceName"),
    immutableField("type", "spec.type"),
    immutableOptional("container", "spec.container"),
    immutableOptional("vxlan", "spec.vxlan"),
    immutableOptional("vlan", "spec.vlan"),
    {
      rule: "(has(self.veth) && has(self.veth.local) && has(self.veth.local.interfaceName) ? " +
        "self.veth.local.interfaceName : '') == (has(oldSelf.veth) && has(oldSelf.veth.local) && " +
        "has(oldSelf.veth.local.interfaceName) ? oldSelf.veth.local.interfaceName : '') && " +
        "(has(self.veth) && has(self.veth.peer) && has(self.veth.peer.interfaceName) ? " +
        "self.veth.peer.interfaceName : '') == (has(oldSelf.veth) && has(oldSelf.veth.peer) && " +
        "has(oldSelf.veth.peer.interfaceName) ? oldSelf.veth.peer.interfaceName : '')",
      message: "spec.veth.local.interfaceName and spec.veth.peer.interfaceName are immutable",
      fieldPath: ".veth",
    },
    {
      rule: "(has(self.veth) && has(self.veth.local) && has(self.veth.local.container)) == " +
        "(has(oldSelf.veth) && has(oldSelf.veth.local) && has(oldSelf.veth.local.container)) && " +
        "(!(has(self.veth) && has(self.veth.local) && has(self.veth.local.container)) || " +
        "self.veth.local.container == oldSelf.veth.local.container) && " +
        "(has(self.veth) && has(self.veth.peer) && has(self.veth.peer.container)) == " +
        "(has(oldSelf.veth) && has(oldSelf.veth.peer) && has(oldSelf.veth.peer.container)) && " +
        "(!(has(self.veth) && has(self.veth.peer) && has(self.veth.peer.container)) || " +
        "self.veth.peer.container == oldSelf.veth.peer.container)",
      message: "spec.veth.local.container and spec.veth.peer.container are immutable",
      fieldPath: ".veth",
    },
  ),
});
/** NetlinkInterface spec. */
export type NetlinkInterfaceSpec = Static<typeof NetlinkInterfaceSpec>;

/** Status of the far end of a veth pair. */
const VethPeerStatus = Type.Object({
  interfaceName: Type.Optional(Type.String({ description: "Name of the peer end." })),
  addresses: Type.Optional(AddressStrings),
  mtu: Type.Optional(Type.Integer({ description: "MTU of the peer end." })),
  flags: Type.Optional(LinkFlags),
  operState: Type.Optional(OperState),
}, { description: "The other end of the veth pair." });

/** NetlinkInterface status, written by the node's nl-controller. */
export const NetlinkInterfaceStatus = Type.Object({
  ...StatusBase,
  mtu: Type.Optional(Type.Integer({ description: "Current MTU." })),
  netlink: Type.Optional(NetlinkStatus),
  operState: Type.Optional(OperState),
  flags: Type.Optional(LinkFlags),
  addresses: Type.Optional(AddressStrings),
  bridge: Type.Optional(Type.Object({
    enslavedLinks: Type.Array(Type.String(), {
      description: `Links whose master is the bridge, sorted by name; the first ${MAX_OBSERVED}.`,
    }),
  }, { description: "Bridge observations." })),
  veth: Type.Optional(Type.Object({ peer: Type.Optional(VethPeerStatus) }, { description: "veth observations." })),
}, { description: "What the node observed." });
/** NetlinkInterface status. */
export type NetlinkInterfaceStatus = Static<typeof NetlinkInterfaceStatus>;

/** A NetlinkInterface object as it travels on the wire (metadata timestamps are RFC 3339 strings). */
export interface NetlinkInterface extends KubeObject {
  spec: NetlinkInterfaceSpec;
  status?: NetlinkInterfaceStatus;
}
