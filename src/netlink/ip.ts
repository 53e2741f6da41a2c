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

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
/** Four-part decimal IPv4 (`10.0.0.1`; no shorthand, no leading zeros, octets 0–255). */
export const IPV4_TEXT = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/**
 * Parses `10.0.0.1`, `10.0.0.1/24`, `fd00::1/64`; IPv4 must be four-part decimal. The family is told by the text's
 * shape (IPv6 has a colon, IPv4 never does), so valid input never reaches ipaddr.js's `isValid` of the other family,
 * which works by throwing and catching inside (an exception per address is slow).
 */
export function parseIp(text: string, op: string, field: string): IpPrefix {
  const [addr, plen, ...rest] = text.split("/");
  if (rest.length > 0) throw bad(op, field, text, "more than one '/'");
  let bytes: number[];
  let address: string;
  let max: number;
  if (!addr.includes(":")) {
    const m = IPV4_TEXT.exec(addr);
    if (!m) throw bad(op, field, text, "not an IPv4 or IPv6 address");
    bytes = [+m[1], +m[2], +m[3], +m[4]];
    address = bytes.join(".");
    max = 32;
  } else {
    if (!ipaddr.IPv6.isValid(addr)) throw bad(op, field, text, "not an IPv4 or IPv6 address");
    if (addr.includes("%")) throw bad(op, field, text, "zone ids are not allowed");
    const ip = ipaddr.IPv6.parse(addr);
    bytes = ip.toByteArray();
    address = ip.toString();
    max = 128;
  }
  let prefixlen = max;
  if (plen !== undefined) {
    if (!/^\d{1,3}$/.test(plen) || Number(plen) > max) throw bad(op, field, text, `prefix length must be 0..${max}`);
    prefixlen = Number(plen);
  }
  return {
    family: max === 32 ? AF_INET : AF_INET6,
    bytes: new Uint8Array(bytes),
    prefixlen,
    hasPrefix: plen !== undefined,
    address,
  };
}

/** Formats 4 or 16 address bytes (RFC 5952 for IPv6); null for other lengths. */
export function formatIp(bytes: Uint8Array): string | null {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) return null;
  const parts = new Array<number>(8);
  for (let i = 0; i < 8; i++) parts[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** True for an IPv4 (224/4) or IPv6 (ff00::/8) multicast address. */
export function isMulticast(bytes: Uint8Array): boolean {
  return bytes.length === 4 ? (bytes[0] & 0xf0) === 0xe0 : bytes.length === 16 && bytes[0] === 0xff;
}
