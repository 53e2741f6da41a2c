/**
 * Desired-link shapes for the typed link API and their validation (pure; no FFI). Validation happens before
 * anything reaches libnl, which would silently truncate names and abort the process on misuse.
 */
import { Errno, NetlinkError } from "./errors.ts";
import { parseIp } from "./ip.ts";
import type { Netns } from "./netns.ts";

/** A link by name or ifindex (in the namespace the operation runs in). */
export type LinkRef = string | number;

/** Attributes every kind accepts. */
export interface LinkBase {
  name: string;
  mtu?: number;
  /** Admin state; default down. */
  up?: boolean;
  /** Bridge (or other master) to enslave to. */
  master?: LinkRef;
  /** Link group (managed links share one, for bulk teardown). */
  group?: number;
  /** ifalias. */
  alias?: string;
}

/** The peer end of a veth pair. */
export interface VethPeer {
  name: string;
  mtu?: number;
  up?: boolean;
  group?: number;
  alias?: string;
  /** Create the peer directly in this namespace (by fd); default: the namespace of the first end. */
  netns?: Netns;
}

/** VXLAN parameters. */
export interface VxlanParams {
  vni: number;
  local?: string;
  /** Multicast group (exclusive with remote). */
  group?: string;
  /** Unicast remote (exclusive with group). */
  remote?: string;
  /** Underlay device. */
  dev?: LinkRef;
  /** UDP destination port (default kernel: 8472; IANA 4789). */
  port?: number;
  learning?: boolean;
  ttl?: number;
  tos?: number;
  proxy?: boolean;
  /** FDB ageing in seconds. */
  ageing?: number;
  /** UDP source port range. */
  portRange?: { low: number; high: number };
}

/** MACVLAN modes. */
export type MacvlanMode = "private" | "vepa" | "bridge" | "passthru" | "source";

/** A link to create. */
export type LinkSpec =
  | (LinkBase & { kind: "veth"; peer: VethPeer })
  | (LinkBase & { kind: "bridge" })
  | (LinkBase & { kind: "dummy" })
  | (LinkBase & { kind: "wireguard" })
  | (LinkBase & { kind: "vxlan"; vxlan: VxlanParams })
  | (LinkBase & { kind: "macvlan"; parent: LinkRef; mode?: MacvlanMode })
  | (LinkBase & { kind: "vlan"; parent: LinkRef; vlanId: number; protocol?: "802.1Q" | "802.1ad" });

/** Changes to an existing link; omitted fields stay as they are. */
export interface LinkChanges {
  name?: string;
  mtu?: number;
  up?: boolean;
  /** Bridge to enslave to; null releases the link from its master. */
  master?: LinkRef | null;
  group?: number;
  /** New ifalias; "" removes it. */
  alias?: string;
  /** Move the link into this namespace. */
  netns?: Netns;
}

/** Link kinds the API creates. */
export const LINK_KINDS = ["veth", "bridge", "dummy", "wireguard", "vxlan", "macvlan", "vlan"] as const;

function invalid(op: string, detail: string): NetlinkError {
  return new NetlinkError({ op, errno: Errno.EINVAL, detail });
}

/**
 * Validates an interface name like the kernel's dev_valid_name: 1..15 bytes UTF-8, not `.`/`..`, no `/`, `:` or
 * whitespace. libnl would silently truncate a longer name.
 */
export function validateLinkName(name: unknown, op: string, field = "name"): void {
  if (typeof name !== "string" || name.length === 0) throw invalid(op, `${field}: must be a non-empty string`);
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > 15) throw invalid(op, `${field} "${name}": ${bytes} bytes, the kernel allows at most 15`);
  if (name === "." || name === "..") throw invalid(op, `${field} "${name}": reserved name`);
  if (/[/:\s\0]/.test(name)) throw invalid(op, `${field} "${name}": must not contain '/', ':', NUL or whitespace`);
}

function intIn(v: unknown, lo: number, hi: number, op: string, field: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw invalid(op, `${field}: ${v} is not an integer in ${lo}..${hi}`);
  }
}

function validateRef(ref: unknown, op: string, field: string): void {
  if (typeof ref === "number") intIn(ref, 1, 0x7fffffff, op, field);
  else validateLinkName(ref, op, field);
}

function validateCommon(l: Pick<LinkBase, "mtu" | "group" | "alias" | "up">, op: string, prefix = ""): void {
  if (l.mtu !== undefined) intIn(l.mtu, 68, 65535, op, `${prefix}mtu`);
  if (l.group !== undefined) intIn(l.group, 0, 0xffffffff, op, `${prefix}group`);
  if (l.alias !== undefined && (typeof l.alias !== "string" || new TextEncoder().encode(l.alias).length > 255)) {
    throw invalid(op, `${prefix}alias: must be a string of at most 255 bytes`);
  }
  if (l.up !== undefined && typeof l.up !== "boolean") throw invalid(op, `${prefix}up: must be a boolean`);
}

function validateVxlan(v: VxlanParams, op: string): void {
  intIn(v.vni, 0, 0xffffff, op, "vxlan.vni");
  const fam = new Set<number>();
  for (const f of ["local", "group", "remote"] as const) {
    const a = v[f];
    if (a === undefined) continue;
    const p = parseIp(a, op, `vxlan.${f}`);
    if (p.hasPrefix) throw invalid(op, `vxlan.${f} "${a}": no prefix length allowed`);
    fam.add(p.family);
  }
  if (fam.size > 1) throw invalid(op, "vxlan: local, group and remote must be of one address family");
  if (v.group !== undefined && v.remote !== undefined) throw invalid(op, "vxlan: group and remote are exclusive");
  if (v.dev !== undefined) validateRef(v.dev, op, "vxlan.dev");
  if (v.port !== undefined) intIn(v.port, 1, 65535, op, "vxlan.port");
  if (v.ttl !== undefined) intIn(v.ttl, 0, 255, op, "vxlan.ttl");
  if (v.tos !== undefined) intIn(v.tos, 0, 255, op, "vxlan.tos");
  if (v.ageing !== undefined) intIn(v.ageing, 0, 0xffffffff, op, "vxlan.ageing");
  if (v.portRange !== undefined) {
    intIn(v.portRange.low, 1, 65535, op, "vxlan.portRange.low");
    intIn(v.portRange.high, v.portRange.low, 65535, op, "vxlan.portRange.high");
  }
}

/** Validates a {@link LinkSpec}; throws a NetlinkError (EINVAL) naming the field. */
export function validateLinkSpec(spec: LinkSpec, op = `link add ${spec?.name}`): void {
  if (!spec || typeof spec !== "object") throw invalid(op, "spec must be an object");
  if (!(LINK_KINDS as readonly string[]).includes(spec.kind)) {
    throw invalid(op, `kind "${spec.kind}": expected one of ${LINK_KINDS.join(", ")}`);
  }
  validateLinkName(spec.name, op);
  validateCommon(spec, op);
  if (spec.master !== undefined) validateRef(spec.master, op, "master");
  switch (spec.kind) {
    case "veth":
      if (!spec.peer) throw invalid(op, "peer: required for veth");
      validateLinkName(spec.peer.name, op, "peer.name");
      validateCommon(spec.peer, op, "peer.");
      if (spec.peer.name === spec.name && !spec.peer.netns) throw invalid(op, "peer.name: equals name");
      break;
    case "vxlan":
      if (!spec.vxlan) throw invalid(op, "vxlan: required for kind vxlan");
      validateVxlan(spec.vxlan, op);
      break;
    case "macvlan":
      validateRef(spec.parent, op, "parent");
      if (spec.mode !== undefined && !["private", "vepa", "bridge", "passthru", "source"].includes(spec.mode)) {
        throw invalid(op, `mode "${spec.mode}": expected private, vepa, bridge, passthru or source`);
      }
      break;
    case "vlan":
      validateRef(spec.parent, op, "parent");
      intIn(spec.vlanId, 0, 4094, op, "vlanId");
      if (spec.protocol !== undefined && spec.protocol !== "802.1Q" && spec.protocol !== "802.1ad") {
        throw invalid(op, `protocol "${spec.protocol}": expected 802.1Q or 802.1ad`);
      }
      break;
  }
}

/** Validates {@link LinkChanges}. */
export function validateLinkChanges(ch: LinkChanges, op: string): void {
  if (!ch || typeof ch !== "object") throw invalid(op, "changes must be an object");
  if (ch.name !== undefined) validateLinkName(ch.name, op);
  validateCommon(ch, op);
  if (ch.master !== undefined && ch.master !== null) validateRef(ch.master, op, "master");
}
