/**
 * rtnetlink over the raw codec: constants, the decoders of RTM_NEWLINK / RTM_NEWADDR messages into the plain
 * {@link Link} / {@link Address} objects that listing, lookups and the event monitor all return, and the request
 * builders for what libnl lacks (link-group delete and change, IPv6 point-to-point addresses). Pure except for the
 * message types; no FFI.
 */
import { AttrDecoder } from "./attrs.ts";
import { formatIp, isMulticast } from "./ip.ts";
import {
  attrsAfter,
  decodeIfAddr,
  decodeIfInfo,
  IFADDRMSG_LEN,
  IFINFOMSG_LEN,
  type Message,
  MessageEncoder,
} from "./message.ts";

/** Message types. */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

/** Multicast groups (RTNLGRP_*). */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV6_IFADDR = 9;

/** Link attributes (IFLA_*). */
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_GROUP = 27;
export const IFLA_NET_NS_FD = 28;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

/** IFF_* flags. */
export const IFF_UP = 0x1;

/** Address attributes and flags. */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
/** IFA_PROTO (Linux ≥ 5.18): who created the address; sent only when not IFAPROT_UNSPEC. */
export const IFA_PROTO = 11;
export const IFA_F_NODAD = 0x02;
export const IFA_F_NOPREFIXROUTE = 0x200;

const OPERSTATES = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"];
const ADDR_FLAGS: [number, string][] = [
  [0x01, "secondary"],
  [0x02, "nodad"],
  [0x04, "optimistic"],
  [0x08, "dadfailed"],
  [0x10, "homeaddress"],
  [0x20, "deprecated"],
  [0x40, "tentative"],
  [0x80, "permanent"],
  [0x100, "mngtmpaddr"],
  [0x200, "noprefixroute"],
  [0x400, "autojoin"],
  [0x800, "stable-privacy"],
];
const SCOPES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };
const MACVLAN_MODES: Record<number, string> = { 1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source" };

/** VXLAN parameters as the kernel reports them. */
export interface VxlanInfo {
  vni: number | null;
  local: string | null;
  /** Multicast group, when IFLA_VXLAN_GROUP(6) is multicast. */
  group: string | null;
  /** Unicast remote, when IFLA_VXLAN_GROUP(6) is unicast. */
  remote: string | null;
  /** Underlay ifindex. */
  dev: number | null;
  port: number | null;
  learning: boolean | null;
  ttl: number | null;
  tos: number | null;
  proxy: boolean | null;
  ageing: number | null;
  portRange: { low: number; high: number } | null;
}

/** A link as read back from the kernel. */
export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND; null for loopback and physical devices. */
  kind: string | null;
  mtu: number;
  /** IFF_* flags. */
  flags: number;
  /** Admin state (IFF_UP). */
  up: boolean;
  operstate: string;
  /** Master ifindex, null when none. */
  master: number | null;
  group: number;
  alias: string | null;
  mac: string | null;
  /** IFLA_LINK: peer (veth) or parent (vlan, macvlan) ifindex; in `linkNetnsId`'s namespace when that is set. */
  link: number | null;
  linkNetnsId: number | null;
  /** For veth: the peer's ifindex (same as `link`). */
  peerIndex?: number | null;
  vxlan?: VxlanInfo;
  vlan?: { id: number; protocol: "802.1Q" | "802.1ad" | number };
  macvlan?: { mode: string };
}

/** An address as read back from the kernel. */
export interface Address {
  index: number;
  family: 4 | 6;
  /** Local address (IFA_LOCAL, else IFA_ADDRESS). */
  local: string;
  /** Point-to-point peer (IFA_ADDRESS when it differs from IFA_LOCAL). */
  peer: string | null;
  prefixlen: number;
  /** Flag names: permanent, nodad, noprefixroute, tentative, … */
  flags: string[];
  scope: string;
  label: string | null;
  /**
   * Originator (IFA_PROTO): the kernel's own loopback, router-advertisement or link-local addresses by name, another
   * value as a number; null when the kernel sent none (an address added without a protocol, or a kernel < 5.18).
   */
  proto: AddressProto | null;
}

/** IFA_PROTO values: IFAPROT_KERNEL_LO, _RA and _LL by name; any other (user-chosen) value as a number. */
export type AddressProto = "kernel_lo" | "kernel_ra" | "kernel_ll" | number;

const ADDRESS_PROTOS: Record<number, AddressProto> = { 1: "kernel_lo", 2: "kernel_ra", 3: "kernel_ll" };

function ipOf(d: AttrDecoder): string | null {
  return formatIp(d.bytes());
}

function decodeVxlan(d: AttrDecoder): VxlanInfo {
  const v: VxlanInfo = {
    vni: null,
    local: null,
    group: null,
    remote: null,
    dev: null,
    port: null,
    learning: null,
    ttl: null,
    tos: null,
    proxy: null,
    ageing: null,
    portRange: null,
  };
  while (d.next()) {
    switch (d.type) {
      case 1:
        v.vni = d.u32();
        break;
      case 2:
      case 16: { // GROUP, GROUP6
        const b = d.bytes();
        if (b.some((x) => x !== 0)) isMulticast(b) ? (v.group = formatIp(b)) : (v.remote = formatIp(b));
        break;
      }
      case 3:
        v.dev = d.u32() || null;
        break;
      case 4:
      case 17: { // LOCAL, LOCAL6
        const ip = ipOf(d);
        if (ip && ip !== "0.0.0.0" && ip !== "::") v.local = ip;
        break;
      }
      case 5:
        v.ttl = d.u8();
        break;
      case 6:
        v.tos = d.u8();
        break;
      case 7:
        v.learning = d.u8() !== 0;
        break;
      case 8:
        v.ageing = d.u32();
        break;
      case 10: {
        const b = d.bytes();
        if (b.length === 4) v.portRange = { low: (b[0] << 8) | b[1], high: (b[2] << 8) | b[3] };
        break;
      }
      case 11:
        v.proxy = d.u8() !== 0;
        break;
      case 15:
        v.port = d.be16();
        break;
    }
  }
  return v;
}

/** Decodes an RTM_NEWLINK / RTM_DELLINK message. Throws NetlinkError (EBADMSG) on malformed input. */
export function decodeLink(m: Message): Link {
  const op = "decode link";
  const h = decodeIfInfo(m.payload, op);
  const l: Link = {
    index: h.index,
    name: "",
    kind: null,
    mtu: 0,
    flags: h.flags,
    up: (h.flags & IFF_UP) !== 0,
    operstate: "unknown",
    master: null,
    group: 0,
    alias: null,
    mac: null,
    link: null,
    linkNetnsId: null,
  };
  let data: Uint8Array | null = null;
  const d = attrsAfter(m.payload, IFINFOMSG_LEN, op);
  while (d.next()) {
    switch (d.type) {
      case IFLA_IFNAME:
        l.name = d.string();
        break;
      case IFLA_MTU:
        l.mtu = d.u32();
        break;
      case IFLA_LINK:
        l.link = d.u32();
        break;
      case IFLA_MASTER:
        l.master = d.u32() || null;
        break;
      case IFLA_OPERSTATE:
        l.operstate = OPERSTATES[d.u8()] ?? "unknown";
        break;
      case IFLA_IFALIAS:
        l.alias = d.string() || null;
        break;
      case IFLA_GROUP:
        l.group = d.u32();
        break;
      case IFLA_LINK_NETNSID:
        l.linkNetnsId = d.i32();
        break;
      case IFLA_ADDRESS:
        l.mac = [...d.bytes()].map((b) => b.toString(16).padStart(2, "0")).join(":");
        break;
      case IFLA_LINKINFO:
        d.nested((li) => {
          while (li.next()) {
            if (li.type === IFLA_INFO_KIND) l.kind = li.string();
            else if (li.type === IFLA_INFO_DATA) data = li.bytes();
          }
        });
        break;
    }
  }
  d.done();
  if (l.kind === "veth") l.peerIndex = l.link;
  if (data) {
    const k = new AttrDecoder(data, op);
    if (l.kind === "vxlan") l.vxlan = decodeVxlan(k);
    else if (l.kind === "vlan") {
      let id = 0, proto = 0x8100;
      while (k.next()) k.type === 1 ? (id = k.u16()) : k.type === 5 ? (proto = k.be16()) : 0;
      l.vlan = { id, protocol: proto === 0x8100 ? "802.1Q" : proto === 0x88a8 ? "802.1ad" : proto };
    } else if (l.kind === "macvlan") {
      let mode = 0;
      while (k.next()) if (k.type === 1) mode = k.u32();
      l.macvlan = { mode: MACVLAN_MODES[mode] ?? String(mode) };
    }
    k.done();
  }
  return l;
}

/** Decodes an RTM_NEWADDR / RTM_DELADDR message. */
export function decodeAddress(m: Message): Address {
  const op = "decode address";
  const h = decodeIfAddr(m.payload, op);
  let local: string | null = null, address: string | null = null, label: string | null = null;
  let flags = h.flags, proto: AddressProto | null = null;
  const d = attrsAfter(m.payload, IFADDRMSG_LEN, op);
  while (d.next()) {
    switch (d.type) {
      case IFA_ADDRESS:
        address = ipOf(d);
        break;
      case IFA_LOCAL:
        local = ipOf(d);
        break;
      case IFA_LABEL:
        label = d.string();
        break;
      case IFA_FLAGS:
        flags = d.u32();
        break;
      case IFA_PROTO: {
        const v = d.u8();
        proto = ADDRESS_PROTOS[v] ?? v;
        break;
      }
    }
  }
  d.done();
  return {
    index: h.index,
    family: h.family === 10 ? 6 : 4,
    local: local ?? address ?? "",
    peer: local !== null && address !== null && address !== local ? address : null,
    prefixlen: h.prefixlen,
    flags: ADDR_FLAGS.filter(([bit]) => flags & bit).map(([, n]) => n),
    scope: SCOPES[h.scope] ?? String(h.scope),
    label,
    proto,
  };
}

/** RTM_GETLINK for one link by ifindex or name. */
export function getLinkRequest(ref: string | number): MessageEncoder {
  const m = new MessageEncoder(RTM_GETLINK, 0, `get link ${ref}`);
  return typeof ref === "number" ? m.ifinfo({ index: ref }) : m.ifinfo({}).string(IFLA_IFNAME, ref);
}

/** Filter of a link dump. */
export interface LinkDumpFilter {
  /** Only the links enslaved to this ifindex (IFLA_MASTER; the kernel filters since 4.5). */
  master?: number;
}

/** RTM_GETLINK dump, optionally filtered by the kernel. */
export function dumpLinksRequest(filter: LinkDumpFilter = {}): MessageEncoder {
  const m = new MessageEncoder(RTM_GETLINK, 0, "list links").ifinfo({});
  return filter.master === undefined ? m : m.u32(IFLA_MASTER, filter.master);
}

/** Filter of an address dump. */
export interface AddressDumpFilter {
  /** Address family (AF_INET, AF_INET6); 0 or absent = all. */
  family?: number;
  /**
   * Only the addresses of this ifindex. The kernel applies it on a strictly checking socket (Linux ≥ 4.20, see
   * `NetlinkSocket.strictCheck`) and answers ENODEV for a missing link; older kernels ignore it.
   */
  index?: number;
}

/** RTM_GETADDR dump. Header fields other than family and index stay zero, as strict checking demands. */
export function dumpAddressesRequest(filter: AddressDumpFilter = {}): MessageEncoder {
  return new MessageEncoder(RTM_GETADDR, 0, "list addresses")
    .ifaddr({ family: filter.family ?? 0, prefixlen: 0, index: filter.index ?? 0 });
}

/** RTM_DELLINK for every link in `group` (one request; the kernel deletes them all). */
export function deleteGroupRequest(group: number): MessageEncoder {
  return new MessageEncoder(RTM_DELLINK, 0, `delete link group ${group}`).ifinfo({}).u32(IFLA_GROUP, group);
}

/** RTM_NEWLINK changing the admin state of every link in `group`. */
export function setGroupUpRequest(group: number, up: boolean): MessageEncoder {
  return new MessageEncoder(RTM_NEWLINK, 0, `set link group ${group} ${up ? "up" : "down"}`)
    .ifinfo({ flags: up ? IFF_UP : 0, change: IFF_UP }).u32(IFLA_GROUP, group);
}
