/**
 * IP prefixes (allowed IPs) and UDP endpoints in canonical form. IPv6 text is parsed and printed by ipaddr.js
 * (RFC 5952 output); dotted-quad IPv4 is simple enough to do here. This module adds host-bit masking, the byte
 * form the kernel codec needs and a total order for the diff.
 *
 * Addresses are held as plain arrays of 16-bit words (2 for IPv4, 8 for IPv6) rather than typed arrays: a device
 * with 10,000 peers holds tens of thousands of them, and small typed arrays are expensive to allocate and collect.
 */

import ipaddr from "ipaddr.js";
import { IPV4_TEXT } from "../netlink/ip.ts";
import { InvalidConfigError } from "./errors.ts";

/** Address family by IP version. */
export type IpVersion = 4 | 6;

interface Address {
  version: IpVersion;
  words: number[];
}

/** Parses a dotted-quad IPv4 (no shorthand, no leading zeros) or an IPv6 address. */
function parseAddress(text: string, field: string): Address {
  if (!text.includes(":")) {
    const m = IPV4_TEXT.exec(text);
    if (m) return { version: 4, words: [(+m[1] << 8) | +m[2], (+m[3] << 8) | +m[4]] };
  } else if (text.includes("%")) {
    throw new InvalidConfigError(field, `zone ids are not supported: "${text}"`);
  } else {
    // ipaddr.js throws on invalid input only, so valid input (the common case) stays on the fast path.
    try {
      return { version: 6, words: ipaddr.IPv6.parse(text).parts.slice() };
    } catch { /* reported below */ }
  }
  throw new InvalidConfigError(field, `not an IPv4 or IPv6 address: "${text}"`);
}

function wordsFromBytes(version: IpVersion, bytes: Uint8Array, field: string): number[] {
  const size = version === 4 ? 4 : 16;
  if (bytes.length !== size) throw new InvalidConfigError(field, `IPv${version} address must be ${size} bytes`);
  const words = new Array<number>(size / 2);
  for (let i = 0; i < words.length; i++) words[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return words;
}

function wordsToBytes(words: number[]): Uint8Array {
  const b = new Uint8Array(words.length * 2);
  for (let i = 0; i < words.length; i++) {
    b[2 * i] = words[i] >> 8;
    b[2 * i + 1] = words[i] & 0xff;
  }
  return b;
}

function addressText(version: IpVersion, w: number[]): string {
  if (version === 4) return `${w[0] >> 8}.${w[0] & 0xff}.${w[1] >> 8}.${w[1] & 0xff}`;
  return new ipaddr.IPv6(w).toRFC5952String();
}

function compareWords(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** An IP prefix with its host bits cleared, e.g. `10.0.0.0/24` or `fd00::/64`. */
export class IpPrefix {
  #text: string | undefined;
  #bytes: Uint8Array | undefined;

  private constructor(
    readonly version: IpVersion,
    readonly words: readonly number[],
    /** Prefix length (0–32 or 0–128). */
    readonly bits: number,
  ) {}

  /** Parses `addr/len` (or a bare address, meaning a host prefix) and clears host bits. */
  static parse(text: string, field = "allowed IP"): IpPrefix {
    const slash = text.indexOf("/");
    const { version, words } = parseAddress(slash < 0 ? text : text.slice(0, slash), field);
    let bits = version === 4 ? 32 : 128;
    if (slash >= 0) {
      const len = text.slice(slash + 1);
      if (!/^\d{1,3}$/.test(len) || Number(len) > bits) {
        throw new InvalidConfigError(field, `prefix length must be 0–${bits}: "${text}"`);
      }
      bits = Number(len);
    }
    return IpPrefix.#masked(version, words, bits);
  }

  /** Builds a prefix from its kernel form (address bytes and CIDR mask), clearing host bits. */
  static fromBytes(version: IpVersion, address: Uint8Array, bits: number, field = "allowed IP"): IpPrefix {
    const words = wordsFromBytes(version, address, field);
    if (!Number.isInteger(bits) || bits < 0 || bits > words.length * 16) {
      throw new InvalidConfigError(field, `prefix length must be 0–${words.length * 16}, got ${bits}`);
    }
    return IpPrefix.#masked(version, words, bits);
  }

  /** Builds a prefix from 16-bit words (2 for IPv4, 8 for IPv6; taken over, not copied), clearing host bits. */
  static fromWords(version: IpVersion, words: number[], bits: number, field = "allowed IP"): IpPrefix {
    if (words.length !== (version === 4 ? 2 : 8) || !Number.isInteger(bits) || bits < 0 || bits > words.length * 16) {
      throw new InvalidConfigError(field, `invalid IPv${version} prefix`);
    }
    return IpPrefix.#masked(version, words, bits);
  }

  static #masked(version: IpVersion, words: number[], bits: number): IpPrefix {
    for (let i = 0; i < words.length; i++) {
      const keep = Math.max(0, Math.min(16, bits - i * 16));
      words[i] &= (0xffff0000 >>> keep) & 0xffff;
    }
    return new IpPrefix(version, words, bits);
  }

  /** Total order: IPv4 before IPv6, then by address, then by length. */
  static compare(a: IpPrefix, b: IpPrefix): number {
    if (a.version !== b.version) return a.version - b.version;
    return compareWords(a.words as number[], b.words as number[]) || a.bits - b.bits;
  }

  /** Network address bytes (4 or 16), host bits zero. */
  get address(): Uint8Array {
    return this.#bytes ??= wordsToBytes(this.words as number[]);
  }

  /** Canonical text form; equal prefixes have equal text. */
  get text(): string {
    return this.#text ??= `${addressText(this.version, this.words as number[])}/${this.bits}`;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}

/** A UDP endpoint `ip:port` / `[ip6]:port`. Its text is made when first asked for (a device read has one per peer). */
export class Endpoint {
  #text: string | undefined;
  #bytes: Uint8Array | undefined;

  private constructor(readonly version: IpVersion, readonly words: readonly number[], readonly port: number) {}

  /** Parses `1.2.3.4:51820` or `[fd00::1]:51820`. Host names are not resolved here. */
  static parse(text: string, field = "endpoint"): Endpoint {
    const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
    if (!m) throw new InvalidConfigError(field, `must be ip:port or [ipv6]:port: "${text}"`);
    const { version, words } = parseAddress(m[1] ?? m[2], field);
    if ((m[1] !== undefined) !== (version === 6)) {
      throw new InvalidConfigError(field, `IPv6 addresses, and only they, go in brackets: "${text}"`);
    }
    return Endpoint.#make(version, words, Number(m[3]), field);
  }

  /** Builds an endpoint from address bytes and a port. */
  static fromBytes(version: IpVersion, address: Uint8Array, port: number, field = "endpoint"): Endpoint {
    return Endpoint.#make(version, wordsFromBytes(version, address, field), port, field);
  }

  /** Builds an endpoint from 16-bit words (2 for IPv4, 8 for IPv6; taken over, not copied) and a port. */
  static fromWords(version: IpVersion, words: number[], port: number, field = "endpoint"): Endpoint {
    if (words.length !== (version === 4 ? 2 : 8)) throw new InvalidConfigError(field, `invalid IPv${version} address`);
    return Endpoint.#make(version, words, port, field);
  }

  static #make(version: IpVersion, words: number[], port: number, field: string): Endpoint {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidConfigError(field, `port must be 1–65535, got ${port}`);
    }
    return new Endpoint(version, words, port);
  }

  /** Address bytes (4 or 16). */
  get address(): Uint8Array {
    return this.#bytes ??= wordsToBytes(this.words as number[]);
  }

  /** Canonical text form; equal endpoints have equal text. */
  get text(): string {
    if (this.#text === undefined) {
      const host = addressText(this.version, this.words as number[]);
      this.#text = this.version === 4 ? `${host}:${this.port}` : `[${host}]:${this.port}`;
    }
    return this.#text;
  }

  /** Same address and port (what equal text means, without making the text). */
  equals(other: Endpoint | undefined): boolean {
    return other !== undefined && other.version === this.version && other.port === this.port &&
      compareWords(other.words as number[], this.words as number[]) === 0;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}
