/** WireGuardInterface: one WireGuard link on one node, its peers, and what the node observed. */
import { type Static, Type } from "@sinclair/typebox";
import type { KubeObject } from "../kube/client.ts";
import {
  AddressStrings,
  Container,
  hasInet6,
  NetlinkStatus,
  OperState,
  SecretKeyRef,
  StatusBase,
  WireGuardAddressList,
} from "./common.ts";
import {
  CIDR,
  describe,
  Endpoint,
  immutableField,
  immutableOptional,
  Int64,
  InterfaceName,
  MapListOf,
  Mtu,
  NodeName,
  PortOrZero,
  rules,
  SetOf,
  WireGuardKey,
} from "./fields.ts";
import { DEFAULTS } from "./constants.ts";

/** Maximum peers on one interface (bounds the admission cost estimate). */
export const MAX_PEERS = 512;
/** Maximum allowedIPs per peer. */
export const MAX_ALLOWED_IPS = 64;
/**
 * Most allowed IPs of all peers together: keeps the largest object, with its field-manager records and status,
 * well inside what the API server stores (etcd takes at most 1.5 MiB per object).
 */
export const MAX_TOTAL_ALLOWED_IPS = 4096;

/** A WireGuard peer of the interface. */
export const WireGuardPeer = Type.Object({
  publicKey: WireGuardKey("The peer's public key (base64, as printed by `wg pubkey`). Unique per interface."),
  presharedKeySecretRef: Type.Optional(
    describe(
      SecretKeyRef,
      "Secret holding this peer's preshared key (same formats as privateKeySecretRef). Absent: no PSK.",
    ),
  ),
  allowedIPs: Type.Optional(SetOf(
    CIDR("A network routed to this peer; host bits are ignored (10.0.0.1/8 means 10.0.0.0/8)."),
    "Networks routed to this peer and accepted from it, e.g. 0.0.0.0/0 and ::/0.",
    MAX_ALLOWED_IPS,
  )),
  endpoint: Type.Optional(Endpoint(
    "Where to reach the peer: host:port, IPv6 in brackets. A DNS name is resolved when the configuration is " +
      "applied. Absent: wait for the peer to connect. A roamed endpoint is reported in status, not corrected.",
  )),
  persistentKeepalive: Type.Optional(Type.Integer({
    description: "Seconds between keepalive packets (0 or absent: off). 25 keeps NAT mappings open.",
    minimum: 0,
    maximum: 65535,
  })),
}, { description: "A WireGuard peer." });
/** A WireGuard peer. */
export type WireGuardPeer = Static<typeof WireGuardPeer>;

/** WireGuardInterface spec. */
export const WireGuardInterfaceSpec = Type.Object({
  node: NodeName(
    "Name of the node whose wg-controller (-nodename) manages this interface. Immutable. Selectable as a field " +
      "selector (spec.node=NAME).",
  ),
  moveToContainer: Type.Optional(Type.Boolean({
    description: "If true, the link is created in the host network namespace (so its UDP socket stays there, on " +
      "the underlay), configured, and then moved into the namespace chosen by container; container is then " +
      "required. If false, the link lives in the host namespace and container is ignored (as in the reference). " +
      "Immutable.",
    default: false,
  })),
  container: Type.Optional(
    describe(
      Container,
      "Target network namespace when moveToContainer is true: container.docker.name, or one of " +
        "container.netns.pid, container.netns.name or container.netns.path. Immutable.",
    ),
  ),
  interfaceName: InterfaceName("Linux interface name (1-15 bytes). Immutable."),
  privateKey: Type.Optional(WireGuardKey(
    "Inline private key (base64). Anyone who can read this object can read it; prefer privateKeySecretRef. " +
      "Set exactly one of privateKey and privateKeySecretRef.",
  )),
  privateKeySecretRef: Type.Optional(
    describe(
      SecretKeyRef,
      "Secret holding the private key, in this object's namespace. Set exactly one of privateKey " +
        "and privateKeySecretRef.",
    ),
  ),
  addresses: Type.Optional(WireGuardAddressList(
    "Exact list of addresses on the link (others are removed; kernel IPv6 link-local addresses are the node " +
      "agent's documented exception). Each is local[/prefixlen], or local peer PEER/prefixlen.",
  )),
  listenPort: Type.Optional(PortOrZero("UDP listen port; 0 or absent: a port chosen by the kernel.")),
  mtu: Type.Optional(Mtu(
    `Link MTU (default ${DEFAULTS.wireGuardMtu}; 0 also means the default). At least 1280 when an inet6 address ` +
      "is present.",
    true,
    DEFAULTS.wireGuardMtu,
  )),
  peers: Type.Optional(MapListOf(
    WireGuardPeer,
    "publicKey",
    "Exact set of peers (others are removed), keyed by publicKey.",
    MAX_PEERS,
  )),
}, {
  description: "Desired state of one WireGuard link on one node.",
  ...rules(
    {
      rule: "(has(self.privateKey) ? 1 : 0) + (has(self.privateKeySecretRef) ? 1 : 0) == 1",
      message: "set exactly one of spec.privateKey and spec.privateKeySecretRef",
    },
    {
      rule: `!has(self.peers) || self.peers.map(p, has(p.allowedIPs) ? size(p.allowedIPs) : 0).sum() <= ` +
        `${MAX_TOTAL_ALLOWED_IPS}`,
      message: `spec.peers may hold at most ${MAX_TOTAL_ALLOWED_IPS} allowedIPs in all`,
      fieldPath: ".peers",
    },
    {
      rule: "!has(self.moveToContainer) || !self.moveToContainer || " +
        "(has(self.container) && (has(self.container.docker) || has(self.container.pod) || has(self.container.netns)))",
      message: "spec.container with docker, pod or netns is required when spec.moveToContainer is true",
      fieldPath: ".container",
      reason: "FieldValueRequired",
    },
    {
      rule: `!has(self.mtu) || self.mtu == 0 || self.mtu >= 1280 || !${hasInet6("addresses")}`,
      message: "spec.mtu must be at least 1280 when spec.addresses holds an inet6 address (IPv6 minimum MTU)",
      fieldPath: ".mtu",
    },
    immutableField("node", "spec.node"),
    immutableField("interfaceName", "spec.interfaceName"),
    immutableOptional("container", "spec.container"),
    {
      rule: "(has(self.moveToContainer) && self.moveToContainer) == " +
        "(has(oldSelf.moveToContainer) && oldSelf.moveToContainer)",
      message: "spec.moveToContainer is immutable; delete and recreate the object to change it",
      fieldPath: ".moveToContainer",
    },
  ),
});
/** WireGuardInterface spec. */
export type WireGuardInterfaceSpec = Static<typeof WireGuardInterfaceSpec>;

/** A peer as the node observes it (no preshared key material). */
export const WireGuardPeerStatus = Type.Object({
  public_key: Type.String({ description: "The peer's public key." }),
  has_preshared_key: Type.Optional(Type.Boolean({ description: "Whether a preshared key is set (never the key)." })),
  endpoint: Type.Optional(Type.String({
    description: "Current endpoint ip:port as the device reports it (after roaming); absent when none.",
  })),
  persistent_keepalive_seconds: Type.Optional(Type.Integer({
    description: "Keepalive interval in seconds; absent when off. (The reference reported milliseconds under " +
      "persistent_keepalive_interval.)",
  })),
  last_handshake_time: Type.Optional(Int64(
    "Latest handshake, Unix time in milliseconds (as in the reference); absent when none happened.",
  )),
  receive_bytes: Type.Optional(Int64("Bytes received from this peer.")),
  transmit_bytes: Type.Optional(Int64("Bytes sent to this peer.")),
  allowed_ips: Type.Optional(Type.Array(Type.String(), { description: "Allowed IPs as CIDRs." })),
  protocol_version: Type.Optional(Type.Integer({ description: "Protocol version; absent when 0." })),
}, { description: "A peer as the device reports it." });

/** The WireGuard device as the node observes it (reference shape, minus every private or preshared key). */
export const WireGuardDeviceStatus = Type.Object({
  name: Type.Optional(Type.String({ description: "Interface name." })),
  type: Type.Optional(Type.Integer({ description: "Backend as in wgctrl: 1 Linux kernel, 2 userspace." })),
  public_key: Type.Optional(Type.String({ description: "Public key of the device." })),
  listen_port: Type.Optional(Type.Integer({ description: "UDP listen port in use." })),
  firewall_mark: Type.Optional(Type.Integer({ description: "fwmark of outgoing packets (0: none)." })),
  peers: Type.Optional(Type.Array(WireGuardPeerStatus, { description: "Peers as the device reports them." })),
  allowed_ips_omitted: Type.Optional(Type.Boolean({
    description: "The peers' allowed IPs are left out to keep the status small (they are in the spec).",
  })),
  peers_omitted: Type.Optional(Type.Integer({
    description: "Peers left out at the end of peers to keep the status within the size the API server stores.",
  })),
}, {
  description: "The WireGuard device as the node observes it. It never holds the private key (the reference " +
    "published private_key and preshared_key here).",
});

/** WireGuardInterface status, written by the node's wg-controller. */
export const WireGuardInterfaceStatus = Type.Object({
  ...StatusBase,
  mtu: Type.Optional(Type.Integer({ description: "Current link MTU." })),
  operState: Type.Optional(OperState),
  addresses: Type.Optional(AddressStrings),
  netlink: Type.Optional(NetlinkStatus),
  wireguard: Type.Optional(WireGuardDeviceStatus),
}, { description: "What the node observed. Never contains key material other than public keys." });
/** WireGuardInterface status. */
export type WireGuardInterfaceStatus = Static<typeof WireGuardInterfaceStatus>;

/** A WireGuardInterface object as it travels on the wire (metadata timestamps are RFC 3339 strings). */
export interface WireGuardInterface extends KubeObject {
  spec: WireGuardInterfaceSpec;
  status?: WireGuardInterfaceStatus;
}
