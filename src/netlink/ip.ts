/** IP address parsing/formatting for the netlink layer (on ipaddr.js), with field-named typed errors. */
import ipaddr from "ipaddr.js";
import { Errno, NetlinkError } from "./errors.ts";

/** Linux address families. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** A parsed address with optional prefix length. */
export interface IpPrefix {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array<ArrayBuffer>;
  /** Prefix length; the full length (32/128) when the text had none. */
  prefixlen: number;
  /** Whether the text carried `/N`. */
  hasPrefix: boolean;
  /** Canonical text of the address (no prefix). */
  address: string;
}

function bad(op: string, field: string, value: string, why: string): NetlinkError {
  return new NetlinkError({ op, errno: Errno.EINVAL, detail: `${field} "${value}": ${why}` });
}

/** Parses `10.0.0.1`, `10.0.0.1/24`, `fd00::1/64`; IPv4 must be four-part decimal. */
export function parseIp(text: string, op: string, field: string): IpPrefix {
  const [addr, plen, ...rest] = text.split("/");
  if (rest.length > 0) throw bad(op, field, text, "more than one '/'");
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addr)) ip = ipaddr.IPv4.parse(addr);
  else if (ipaddr.IPv6.isValid(addr) && addr.includes(":")) ip = ipaddr.IPv6.parse(addr);
  else throw bad(op, field, text, "not an IPv4 or IPv6 address");
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).zoneId) throw bad(op, field, text, "zone ids are not allowed");
  const max = ip.kind() === "ipv4" ? 32 : 128;
  let prefixlen = max;
  if (plen !== undefined) {
    if (!/^\d{1,3}$/.test(plen) || Number(plen) > max) throw bad(op, field, text, `prefix length must be 0..${max}`);
    prefixlen = Number(plen);
  }
  return {
    family: ip.kind() === "ipv4" ? AF_INET : AF_INET6,
    bytes: new Uint8Array(ip.toByteArray()),
    prefixlen,
    hasPrefix: plen !== undefined,
    address: ip.toString(),
  };
}

/** Formats 4 or 16 address bytes (RFC 5952 for IPv6); null for other lengths. */
export function formatIp(bytes: Uint8Array): string | null {
  if (bytes.length !== 4 && bytes.length !== 16) return null;
  return ipaddr.fromByteArray([...bytes]).toString();
}

/** True for an IPv4 (224/4) or IPv6 (ff00::/8) multicast address. */
export function isMulticast(bytes: Uint8Array): boolean {
  return bytes.length === 4 ? (bytes[0] & 0xf0) === 0xe0 : bytes.length === 16 && bytes[0] === 0xff;
}
