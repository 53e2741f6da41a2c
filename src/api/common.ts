/**
 * Object shapes shared by several kinds: Secret references, container placement, WireGuard-style addresses,
 * port ranges, conditions and the netlink link snapshot in status.
 */
import { type Static, Type } from "@sinclair/typebox";
import { DNS1123_SUBDOMAIN, Int64, IPAddress, MapListOf, Port, rules, StringEnum } from "./fields.ts";
import { CONDITION_REASONS } from "./constants.ts";

/** Reference to one key of a Secret. */
export const SecretKeyRef = Type.Object({
  name: Type.String({
    description: "Name of the Secret.",
    minLength: 1,
    maxLength: 253,
    ...rules({
      rule: DNS1123_SUBDOMAIN,
      message: "must be a Secret name (lowercase RFC 1123 subdomain)",
    }),
  }),
  key: Type.String({
    description: "Key inside the Secret's data. data[key] holds either the raw 32 key bytes (the reference's " +
      "format: the base64 text of `wg genkey` placed under `data:`) or the 44-character base64 text itself " +
      "(for example placed under `stringData:`); surrounding whitespace is ignored.",
    minLength: 1,
    maxLength: 253,
    ...rules({
      rule: String.raw`self.matches(r'^[-._a-zA-Z0-9]+$')`,
      message: "must be a Secret data key: letters, digits, '-', '_' and '.'",
    }),
  }),
  namespace: Type.Optional(Type.String({
    description: "Namespace of the Secret. Defaults to the namespace of the object holding this reference " +
      '(the reference implementation defaulted to "default"). Only the object\'s own namespace is allowed: ' +
      "the controllers refuse a reference into any other namespace and report condition Ready=False with reason " +
      `${CONDITION_REASONS.SecretNamespaceForbidden}, so creating an object never grants access to another ` +
      "namespace's Secrets.",
    minLength: 1,
    maxLength: 63,
    ...rules({
      rule: String.raw`self.matches(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')`,
      message: "must be a namespace name (lowercase RFC 1123 label)",
    }),
  })),
}, { description: "Reference to a key of a Secret in this object's namespace." });
/** Reference to one key of a Secret. */
export type SecretKeyRef = Static<typeof SecretKeyRef>;

/** Container network namespace selection. */
export const Container = Type.Object({
  docker: Type.Optional(Type.Object({
    name: Type.String({
      description: "Container name or ID, looked up through the Docker Engine API on the node (Podman's " +
        "Docker-compatible socket works too). The container's init PID is looked up again once the last lookup is " +
        "a second old or that process is gone, so a restarted container is followed at once.",
      minLength: 1,
      maxLength: 253,
      ...rules({
        rule: String.raw`self.matches(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')`,
        message: "must be a container name or ID: letters, digits, '_', '.' and '-'",
      }),
    }),
  }, { description: "A Docker (or Podman) container on the node, by name." })),
  pod: Type.Optional(Type.Object({
    name: Type.String({
      description: "Name of a Pod in this object's own namespace, running on the node.",
      minLength: 1,
      maxLength: 253,
      ...rules({ rule: DNS1123_SUBDOMAIN, message: "must be a Pod name (lowercase RFC 1123 subdomain)" }),
    }),
  }, {
    description: "A Pod of this object's namespace on the node: the link goes into the Pod's network namespace. " +
      "The node agent finds the Pod's containers through the container runtime's Docker API by the labels the " +
      "kubelet sets (io.kubernetes.pod.namespace = this object's namespace, io.kubernetes.pod.name), so it can " +
      "only ever reach Pods of this namespace.",
  })),
  netns: Type.Optional(Type.Object({
    pid: Type.Optional(Type.Integer({
      description: "PID whose network namespace (/proc/<pid>/ns/net) is used.",
      minimum: 1,
      maximum: 4194304,
    })),
    name: Type.Optional(Type.String({
      description: "Name of a named network namespace, as created by `ip netns add NAME` (/run/netns/NAME).",
      minLength: 1,
      maxLength: 255,
      ...rules({
        rule: String.raw`self.matches(r'^[^/\x00]+$') && self != '.' && self != '..'`,
        message: "must be a network namespace name: no '/', and not '.' or '..'",
      }),
    })),
    path: Type.Optional(Type.String({
      description: "Absolute path of a network namespace file, such as /run/netns/blue or /proc/1234/ns/net.",
      minLength: 2,
      maxLength: 4096,
      ...rules({
        rule: String.raw`self.startsWith('/') && !self.matches(r'(^|/)[.][.]?(/|$)')`,
        message: "must be an absolute path (starting with '/') without '.' or '..' components",
      }),
    })),
  }, {
    description: "A network namespace by PID, by name or by path; set exactly one of them.",
    ...rules({
      rule: "(has(self.pid) ? 1 : 0) + (has(self.name) ? 1 : 0) + (has(self.path) ? 1 : 0) == 1",
      message: "set exactly one of netns.pid, netns.name or netns.path",
    }),
  })),
}, {
  description: "Network namespace to place the link in. Set at most one of docker, pod or netns; with none (or " +
    "without this block) the node's host network namespace is used.",
  ...rules({
    rule: "(has(self.docker) ? 1 : 0) + (has(self.pod) ? 1 : 0) + (has(self.netns) ? 1 : 0) <= 1",
    message: "set at most one of container.docker, container.pod and container.netns",
  }),
});
/** Container network namespace selection. */
export type Container = Static<typeof Container>;

/** A point-to-point capable address in the reference's {family, local, peer, prefixlen} shape. */
export const WireGuardAddress = Type.Object({
  family: StringEnum(["inet", "inet6"] as const, { description: "Address family: inet (IPv4) or inet6 (IPv6)." }),
  local: IPAddress("Local IP address of the link."),
  peer: Type.Optional(IPAddress(
    "Remote end of a point-to-point address (local peer PEER/prefixlen). Optional (the reference required it): " +
      "without it the address is a plain local/prefixlen address.",
  )),
  prefixlen: Type.Integer({
    description: "Prefix length: 1-32 for inet, 1-128 for inet6. With peer it applies to the peer.",
    minimum: 1,
    maximum: 128,
  }),
}, {
  description: "An address: local, optionally with a point-to-point peer, and a prefix length.",
  ...rules(
    {
      rule: "!isIP(self.local) || ip(self.local).family() == (self.family == 'inet' ? 4 : 6)",
      message: "local must be an address of the given family (inet: IPv4, inet6: IPv6)",
      fieldPath: ".local",
    },
    {
      rule: "!has(self.peer) || !isIP(self.peer) || ip(self.peer).family() == (self.family == 'inet' ? 4 : 6)",
      message: "peer must be an address of the given family (inet: IPv4, inet6: IPv6)",
      fieldPath: ".peer",
    },
    {
      rule: "self.family != 'inet' || self.prefixlen <= 32",
      message: "prefixlen must be between 1 and 32 for family inet",
      fieldPath: ".prefixlen",
    },
  ),
});
/** A point-to-point capable address in the reference's {family, local, peer, prefixlen} shape. */
export type WireGuardAddress = Static<typeof WireGuardAddress>;

/** Maximum number of addresses on one link. */
export const MAX_ADDRESSES = 64;

/** A list of WireGuard-style addresses (at most `maxItems`, which bounds the admission cost estimate). */
export function WireGuardAddressList(description: string, maxItems = MAX_ADDRESSES) {
  return Type.Array(WireGuardAddress, { description, maxItems });
}

/** CEL: true when the optional address list `self.<field>` (WireGuardAddress shape) holds an IPv6 address. */
export function hasInet6(field: string): string {
  return `(has(self.${field}) && self.${field}.exists(a, a.family == 'inet6'))`;
}

/** An inclusive UDP port range. */
export const PortRange = Type.Object({
  start: Port("First port of the range."),
  end: Port("Last port of the range (inclusive); at least start."),
}, {
  description: "An inclusive UDP port range.",
  ...rules({
    rule: "self.start <= self.end",
    message: "end must be greater than or equal to start",
    fieldPath: ".end",
  }),
});
/** An inclusive UDP port range. */
export type PortRange = Static<typeof PortRange>;

/** metav1.Condition, as the API server validates it in built-in types. */
export const Condition = Type.Object({
  type: Type.String({
    description: "Condition type: Ready, Progressing or Degraded.",
    minLength: 1,
    maxLength: 316,
    pattern: String
      .raw`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`,
  }),
  status: StringEnum(["True", "False", "Unknown"] as const, { description: "True, False or Unknown." }),
  observedGeneration: Type.Optional(Int64("The metadata.generation the condition was computed from.")),
  lastTransitionTime: Type.String({ description: "When status last changed (RFC 3339).", format: "date-time" }),
  reason: Type.String({
    description: "UpperCamelCase reason (see the controllers' documentation), e.g. Reconciled or SecretNotFound.",
    minLength: 1,
    maxLength: 1024,
    pattern: String.raw`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`,
  }),
  message: Type.String({ description: "Human-readable details; never contains key material.", maxLength: 32768 }),
}, { description: "A condition in the metav1.Condition shape." });
/** metav1.Condition. */
export type Condition = Static<typeof Condition>;

/** The conditions list (a map keyed by type). */
export const Conditions = MapListOf(
  Condition,
  "type",
  "Ready (the node matches the spec), Progressing (changes are being applied) and Degraded (the spec cannot " +
    "be reached; the reason names the cause).",
  8,
);

/**
 * Most entries a status lists of what the node observed (addresses, bridge ports): the node may hold any number, and a
 * status must stay within what the API server stores.
 */
export const MAX_OBSERVED = 256;

/** One address as the kernel reports it (reference netlink status object). */
export const NetlinkAddressStatus = Type.Object({
  label: Type.Optional(Type.String({ description: "Address label." })),
  flags: Type.Optional(Type.Integer({ description: "IFA_F_* flags." })),
  scope: Type.Optional(Type.Integer({ description: "Address scope (0 universe, 253 link, 254 host)." })),
  local: Type.Optional(Type.String({ description: "Local IP." })),
  peer: Type.Optional(Type.String({ description: "Peer as a CIDR (point-to-point addresses only)." })),
  broadcast: Type.Optional(Type.String({ description: "Broadcast IP; absent when none." })),
  preferedLft: Type.Optional(Type.Integer({ description: "Preferred lifetime in seconds." })),
  validLft: Type.Optional(Type.Integer({ description: "Valid lifetime in seconds." })),
  family: Type.Optional(StringEnum(["inet", "inet6"] as const, { description: "inet or inet6." })),
  linkIndex: Type.Optional(Type.Integer({ description: "ifindex of the link." })),
  prefixlen: Type.Optional(Type.Integer({ description: "Prefix length (of the peer if there is one)." })),
}, { description: "An address on the link as the kernel reports it." });

/** Snapshot of a link as the kernel reports it (the reference's netlink status object). */
export const NetlinkStatus = Type.Object({
  index: Type.Optional(Type.Integer({ description: "ifindex." })),
  name: Type.Optional(Type.String({ description: "Interface name." })),
  kind: Type.Optional(Type.String({ description: "Link kind (wireguard, dummy, bridge, vxlan, veth, ...)." })),
  mtu: Type.Optional(Type.Integer({ description: "MTU." })),
  hardwareAddr: Type.Optional(Type.String({ description: "MAC address; absent when the link has none." })),
  flags: Type.Optional(Type.Integer({
    description: "Go net.Flags bitmask as in the reference: up=1, broadcast=2, loopback=4, pointtopoint=8, " +
      "multicast=16, running=32.",
  })),
  rawFlags: Type.Optional(Type.Integer({ description: "Kernel IFF_* flags." })),
  parentIndex: Type.Optional(Type.Integer({ description: "ifindex of the parent link (IFLA_LINK)." })),
  masterIndex: Type.Optional(Type.Integer({ description: "ifindex of the master (bridge) link." })),
  alias: Type.Optional(Type.String({ description: "Interface alias." })),
  altNames: Type.Optional(Type.Array(Type.String(), { description: "Alternative names." })),
  statistics: Type.Optional(Type.Object({
    rxPackets: Type.Optional(Int64("Received packets.")),
    txPackets: Type.Optional(Int64("Transmitted packets.")),
    rxBytes: Type.Optional(Int64("Received bytes.")),
    txBytes: Type.Optional(Int64("Transmitted bytes.")),
    rxErrors: Type.Optional(Int64("Receive errors.")),
    txErrors: Type.Optional(Int64("Transmit errors.")),
    rxDropped: Type.Optional(Int64("Received packets dropped.")),
  }, { description: "Link counters." })),
  addrs: Type.Optional(Type.Array(NetlinkAddressStatus, {
    description: `Addresses on the link; the first ${MAX_OBSERVED} the kernel lists.`,
  })),
}, { description: "Snapshot of the link as the kernel reports it." });
/** Snapshot of a link as the kernel reports it. */
export type NetlinkStatus = Static<typeof NetlinkStatus>;

/** Kernel operstate names. */
export const OPER_STATES = ["unknown", "not-present", "down", "lower-layer-down", "testing", "dormant", "up"] as const;

/** Kernel operstate of a link. */
export const OperState = StringEnum(OPER_STATES, {
  description: "Kernel operstate: unknown, not-present, down, lower-layer-down, testing, dormant or up.",
});

/** Interface flag names in status, always in this order. */
export const LinkFlags = Type.Array(
  StringEnum(["UP", "BROADCAST", "POINTOPOINT", "MULTICAST", "RUNNING", "LOOPBACK"] as const, {
    description: "Flag name.",
  }),
  { description: "Subset of UP, BROADCAST, POINTOPOINT, MULTICAST, RUNNING, LOOPBACK, in that order." },
);

/** Addresses in status: "<local> -> <peer>/<len>" for point-to-point, else "<ip>/<len>". */
export const AddressStrings = Type.Array(Type.String(), {
  description: 'Addresses on the link: "<local> -> <peer>/<prefixlen>" for point-to-point addresses, else ' +
    `"<ip>/<prefixlen>"; the first ${MAX_OBSERVED} the kernel lists.`,
});

/** Fields common to every status: who observed it, for which generation, and the conditions. */
export const StatusBase = {
  observedGeneration: Type.Optional(Int64(
    "The metadata.generation the node last finished reconciling (all pending changes applied).",
  )),
  conditions: Type.Optional(Conditions),
  hostname: Type.Optional(Type.String({ description: "Host name of the controller process that wrote this status." })),
  nodename: Type.Optional(
    Type.String({ description: "Node name (-nodename) of the controller that wrote this status." }),
  ),
};
