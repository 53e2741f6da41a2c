/**
 * Addresses as the spec writes them, turned into one kernel-shaped form (local, optional point-to-point peer,
 * prefix length), and formatted the way status reports them.
 */
import { isIP } from "node:net";
import type { WireGuardAddress } from "./common.ts";
import type { NetlinkAddress } from "./netlink_interface.ts";

/** An address in kernel terms: IFA_LOCAL, optional IFA_ADDRESS peer, prefix length. */
export interface LinkAddress {
  family: 4 | 6;
  local: string;
  peer?: string;
  prefixlen: number;
}

/** An address the spec describes wrongly (normally caught at admission already). */
export class AddressError extends Error {
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "AddressError";
  }
}

function ipFamily(ip: string, field: string): 4 | 6 {
  const family = isIP(ip);
  if (family === 0) throw new AddressError(field, `"${ip}" is not an IP address`);
  return family as 4 | 6;
}

function prefix(text: string, family: 4 | 6, field: string): number {
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= (family === 4 ? 32 : 128))) {
    throw new AddressError(field, `prefix length "${text}" is out of range for IPv${family}`);
  }
  return n;
}

function splitCidr(cidr: string, field: string): { ip: string; family: 4 | 6; prefixlen: number } {
  const slash = cidr.lastIndexOf("/");
  if (slash < 0) throw new AddressError(field, `"${cidr}" has no prefix length (expected address/len)`);
  const ip = cidr.slice(0, slash);
  const family = ipFamily(ip, field);
  return { ip, family, prefixlen: prefix(cidr.slice(slash + 1), family, field) };
}

/** A WireGuardInterface / plan address {family, local, peer?, prefixlen}; `field` names it in errors. */
export function parseWireGuardAddress(address: WireGuardAddress, field: string): LinkAddress {
  const family = address.family === "inet" ? 4 : 6;
  if (ipFamily(address.local, `${field}.local`) !== family) {
    throw new AddressError(`${field}.local`, `"${address.local}" is not an ${address.family} address`);
  }
  if (address.peer !== undefined && ipFamily(address.peer, `${field}.peer`) !== family) {
    throw new AddressError(`${field}.peer`, `"${address.peer}" is not an ${address.family} address`);
  }
  const prefixlen = prefix(String(address.prefixlen), family, `${field}.prefixlen`);
  return address.peer === undefined
    ? { family, local: address.local, prefixlen }
    : { family, local: address.local, peer: address.peer, prefixlen };
}

/**
 * A NetlinkInterface address {ipcidr, peerCidr?}: without peerCidr, ipcidr is address/len; with it, ipcidr is the
 * bare local IP and peerCidr the peer/len. The peer is kept as written (the reference masked its host bits).
 */
export function parseNetlinkAddress(address: NetlinkAddress, field: string): LinkAddress {
  if (address.peerCidr === undefined) {
    const { ip, family, prefixlen } = splitCidr(address.ipcidr, `${field}.ipcidr`);
    return { family, local: ip, prefixlen };
  }
  const family = ipFamily(address.ipcidr, `${field}.ipcidr`);
  const peer = splitCidr(address.peerCidr, `${field}.peerCidr`);
  if (peer.family !== family) {
    throw new AddressError(`${field}.peerCidr`, `"${address.peerCidr}" is not of the family of ipcidr`);
  }
  return { family, local: address.ipcidr, peer: peer.ip, prefixlen: peer.prefixlen };
}

/** Status text of an address: "<local> -> <peer>/<len>" for point-to-point, else "<local>/<len>". */
export function formatLinkAddress(address: LinkAddress): string {
  return address.peer === undefined
    ? `${address.local}/${address.prefixlen}`
    : `${address.local} -> ${address.peer}/${address.prefixlen}`;
}
