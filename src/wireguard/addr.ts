/**
 * IP prefixes (allowed IPs) and UDP endpoints in canonical form. Parsing and printing of addresses is done by
 * ipaddr.js; this module adds host-bit masking, byte forms for the kernel codec and a total order for the diff.
 */

import ipaddr from "ipaddr.js";
import { InvalidConfigError } from "./errors.ts";

/** Address family by IP version. */
export type IpVersion = 4 | 6;

function parseAddress(text: string, field: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(":") && ipaddr.IPv6.isValid(text)) {
    const a = ipaddr.IPv6.parse(text);
    if (a.zoneId !== undefined) throw new InvalidConfigError(field, `zone ids are not supported: "${text}"`);
    return a;
  }
  throw new InvalidConfigError(field, `not an IPv4 or IPv6 address: "${text}"`);
}

function addressText(version: IpVersion, bytes: Uint8Array): string {
  const a = ipaddr.fromByteArray(Array.from(bytes));
  return version === 4 ? a.toString() : (a as ipaddr.IPv6).toRFC5952String();
}

/** An IP prefix with its host bits cleared, e.g. `10.0.0.0/24` or `fd00::/64`. */
export class IpPrefix {
  /** Canonical text form; equal prefixes have equal text. */
  readonly text: string;

  private constructor(
    readonly version: IpVersion,
    /** Network address, 4 or 16 bytes, host bits zero. */
    readonly address: Uint8Array,
    /** Prefix length (0–32 or 0–128). */
    readonly bits: number,
  ) {
    this.text = `${addressText(version, address)}/${bits}`;
  }

  /** Parses `addr/len` (or a bare address, meaning a host prefix) and clears host bits. */
  static parse(text: string, field = "allowed IP"): IpPrefix {
    const slash = text.indexOf("/");
    const addr = parseAddress(slash < 0 ? text : text.slice(0, slash), field);
    const version: IpVersion = addr.kind() === "ipv4" ? 4 : 6;
    let bits = version === 4 ? 32 : 128;
    if (slash >= 0) {
      const len = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(len) || Number(len) > bits) {
        throw new InvalidConfigError(field, `prefix length must be 0–${bits}: "${text}"`);
      }
      bits = Number(len);
    }
    return IpPrefix.fromBytes(version, Uint8Array.from(addr.toByteArray()), bits, field);
  }

  /** Builds a prefix from its kernel form (family, address bytes, CIDR mask), clearing host bits. */
  static fromBytes(version: IpVersion, address: Uint8Array, bits: number, field = "allowed IP"): IpPrefix {
    const size = version === 4 ? 4 : 16;
    if (address.length !== size) throw new InvalidConfigError(field, `IPv${version} address must be ${size} bytes`);
    if (!Number.isInteger(bits) || bits < 0 || bits > size * 8) {
      throw new InvalidConfigError(field, `prefix length must be 0–${size * 8}, got ${bits}`);
    }
    const masked = address.slice();
    for (let i = 0; i < size; i++) {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      masked[i] &= (0xff00 >> keep) & 0xff;
    }
    return new IpPrefix(version, masked, bits);
  }

  /** Total order: IPv4 before IPv6, then by address bytes, then by length. */
  static compare(a: IpPrefix, b: IpPrefix): number {
    if (a.version !== b.version) return a.version - b.version;
    for (let i = 0; i < a.address.length; i++) {
      if (a.address[i] !== b.address[i]) return a.address[i] - b.address[i];
    }
    return a.bits - b.bits;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}

/** A UDP endpoint `ip:port` / `[ip6]:port`. */
export class Endpoint {
  /** Canonical text form. */
  readonly text: string;

  private constructor(readonly version: IpVersion, readonly address: Uint8Array, readonly port: number) {
    const host = addressText(version, address);
    this.text = version === 4 ? `${host}:${port}` : `[${host}]:${port}`;
  }

  /** Parses `1.2.3.4:51820` or `[fd00::1]:51820`. Host names are not resolved here. */
  static parse(text: string, field = "endpoint"): Endpoint {
    const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
    if (!m) throw new InvalidConfigError(field, `must be ip:port or [ipv6]:port: "${text}"`);
    const addr = parseAddress(m[1] ?? m[2], field);
    if (m[1] !== undefined && addr.kind() !== "ipv6") {
      throw new InvalidConfigError(field, `brackets are for IPv6 addresses: "${text}"`);
    }
    return Endpoint.fromBytes(addr.kind() === "ipv4" ? 4 : 6, Uint8Array.from(addr.toByteArray()), Number(m[3]), field);
  }

  /** Builds an endpoint from address bytes and a port. */
  static fromBytes(version: IpVersion, address: Uint8Array, port: number, field = "endpoint"): Endpoint {
    if (address.length !== (version === 4 ? 4 : 16)) throw new InvalidConfigError(field, "wrong address length");
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidConfigError(field, `port must be 1–65535, got ${port}`);
    }
    return new Endpoint(version, address.slice(), port);
  }

  equals(other: Endpoint | undefined): boolean {
    return other !== undefined && other.text === this.text;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}
