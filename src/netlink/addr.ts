/**
 * Typed address API: add/delete/list IPv4 and IPv6 addresses, including point-to-point local+peer and the flags
 * nodad / noprefixroute. libnl does the work except for IPv6 peers, which libnl refuses and the raw codec sends
 * (RTM_NEWADDR/RTM_DELADDR with IFA_LOCAL + IFA_ADDRESS). Listing uses the raw codec, like the event monitor.
 */
import { Errno, isNotFound, NetlinkError } from "./errors.ts";
import { AF_INET6, type IpPrefix, parseIp } from "./ip.ts";
import * as nl from "./libnl/addr.ts";
import { libnlSocket } from "./libnl/socket.ts";
import { linkIndex } from "./link.ts";
import type { LinkRef } from "./linkspec.ts";
import { MessageEncoder, NLM_F_CREATE, NLM_F_EXCL } from "./message.ts";
import type { Netns } from "./netns.ts";
import {
  type Address,
  decodeAddress,
  dumpAddressesRequest,
  IFA_ADDRESS,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_FLAGS,
  IFA_LOCAL,
  RTM_DELADDR,
  RTM_NEWADDR,
} from "./rtnl.ts";

export type { Address, AddressProto } from "./rtnl.ts";

/** An address to add or delete. */
export interface AddressSpec {
  /** `10.0.0.1/24`, `fd00::1/64`; with `peer`, the local address without prefix. */
  local: string;
  /** Point-to-point peer, e.g. `10.0.0.2/32` or `fd00::2/128` (its prefix length is the address's). */
  peer?: string;
  nodad?: boolean;
  noprefixroute?: boolean;
}

function parseSpec(spec: AddressSpec, index: number, op: string): nl.AddrRequest {
  if (!spec || typeof spec.local !== "string") {
    throw new NetlinkError({ op, errno: Errno.EINVAL, detail: "local: required" });
  }
  const local = parseIp(spec.local, op, "local");
  let peer: IpPrefix | undefined;
  if (spec.peer !== undefined) {
    peer = parseIp(spec.peer, op, "peer");
    if (peer.family !== local.family) {
      throw new NetlinkError({ op, errno: Errno.EINVAL, detail: "local and peer must be of one address family" });
    }
    if (local.hasPrefix) {
      throw new NetlinkError({
        op,
        errno: Errno.EINVAL,
        detail: "local: no prefix length with a peer (the peer's applies)",
      });
    }
  }
  const flags = (spec.nodad ? IFA_F_NODAD : 0) | (spec.noprefixroute ? IFA_F_NOPREFIXROUTE : 0);
  return { index, local, peer, flags };
}

function rawPeerMessage(type: number, req: nl.AddrRequest, op: string): MessageEncoder {
  const peer = req.peer!;
  return new MessageEncoder(type, type === RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, op)
    .ifaddr({ family: AF_INET6, prefixlen: peer.prefixlen, flags: req.flags & 0xff, index: req.index })
    .bytes(IFA_LOCAL, req.local.bytes)
    .bytes(IFA_ADDRESS, peer.bytes)
    .u32(IFA_FLAGS, req.flags);
}

async function apply(ns: Netns, link: LinkRef, spec: AddressSpec, add: boolean): Promise<void> {
  const op = `address ${add ? "add" : "del"} ${spec?.local}${spec?.peer ? ` peer ${spec.peer}` : ""} dev ${link}`;
  const req = parseSpec(spec, await linkIndex(ns, link, op), op);
  if (req.peer && req.local.family === AF_INET6) {
    await ns.route.request(rawPeerMessage(add ? RTM_NEWADDR : RTM_DELADDR, req, op), op);
  } else if (add) await nl.addAddress(libnlSocket(ns), req, op);
  else await nl.deleteAddress(libnlSocket(ns), req, op);
}

/** Adds an address to `link`; an existing identical address is EEXIST (alreadyExists). */
export function addAddress(ns: Netns, link: LinkRef, spec: AddressSpec): Promise<void> {
  return apply(ns, link, spec, true);
}

/** Deletes an address from `link`; a missing one is EADDRNOTAVAIL (notFound). */
export function deleteAddress(ns: Netns, link: LinkRef, spec: AddressSpec): Promise<void> {
  return apply(ns, link, spec, false);
}

/**
 * Addresses of the namespace, or of one link. For one link the kernel is asked for that link's addresses only (an
 * ifindex-filtered dump, see {@link dumpAddressesRequest}), so the cost does not grow with the namespace's other
 * addresses; the result is filtered here too, for kernels that ignore the filter. A link that vanished meanwhile
 * has no addresses.
 */
export async function listAddresses(ns: Netns, link?: LinkRef): Promise<Address[]> {
  const op = link === undefined ? "list addresses" : `list addresses of ${link}`;
  const index = link === undefined ? undefined : await linkIndex(ns, link, op);
  let ms;
  try {
    ms = await ns.route.dump(dumpAddressesRequest({ index }), op);
  } catch (e) {
    if (index !== undefined && isNotFound(e)) return [];
    throw e;
  }
  const all = ms.filter((m) => m.type === RTM_NEWADDR).map(decodeAddress);
  return index === undefined ? all : all.filter((a) => a.index === index);
}
