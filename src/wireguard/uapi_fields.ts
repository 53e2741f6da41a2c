/**
 * Byte-level parsers of the values in a UAPI `get=1` reply, for the common forms wireguard-go prints: hex keys,
 * decimal integers, dotted-quad IPv4 and plain IPv6 (groups of 1–4 hex digits, at most one `::`), prefixes and
 * endpoints. Each reads `b[start, end)` and returns undefined for anything else, without throwing: the decoder then
 * parses that value from text with the general parsers, which accept the same forms (and more) and raise the errors.
 */

import { Endpoint, IpPrefix } from "./addr.ts";
import { KEY_LEN } from "./key.ts";

const C0 = 0x30;
const COLON = 0x3a;
const DOT = 0x2e;
const SLASH = 0x2f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** Value of each byte as a hex digit, -1 for other bytes. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[C0 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x61 + i] = HEX[0x41 + i] = 10 + i;

/**
 * Hands out 32-byte views of shared buffers of {@link KEYS_PER_SLAB} keys: a decoded device holds one key per peer,
 * and a Uint8Array with a buffer of its own per key is many times slower to allocate and holds about twice the heap
 * (measured: 208 against 112 bytes). For public keys only: secret keys get arrays of their own, so that no public
 * key keeps one alive.
 */
export class KeySlab {
  #buf = new Uint8Array(0);
  #used = 0;

  /** The next free 32 bytes (written by the caller); taken for good only by {@link commit}. */
  next(): Uint8Array {
    if (this.#used === this.#buf.length) {
      this.#buf = new Uint8Array(KEYS_PER_SLAB * KEY_LEN);
      this.#used = 0;
    }
    return this.#buf.subarray(this.#used, this.#used + KEY_LEN);
  }

  /** Marks the bytes last returned by {@link next} as taken. */
  commit(): void {
    this.#used += KEY_LEN;
  }
}

const KEYS_PER_SLAB = 64;

/** 64 hex digits (either case) as 32 bytes, from `slab` or fresh. */
export function hexKey(b: Uint8Array, start: number, end: number, slab?: KeySlab): Uint8Array | undefined {
  if (end - start !== 2 * KEY_LEN) return undefined;
  const out = slab ? slab.next() : new Uint8Array(KEY_LEN);
  for (let i = 0; i < KEY_LEN; i++) {
    const hi = HEX[b[start + 2 * i]];
    const lo = HEX[b[start + 2 * i + 1]];
    if ((hi | lo) < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  slab?.commit();
  return out;
}

/** True if `b[start, end)` is 64 `0` digits: the all-zero key. */
export function isZeroHexKey(b: Uint8Array, start: number, end: number): boolean {
  if (end - start !== 2 * KEY_LEN) return false;
  for (let i = start; i < end; i++) if (b[i] !== C0) return false;
  return true;
}

/**
 * 1 to `maxDigits` (at most 15, so the value is exact) decimal digits as a number; -1 for anything else.
 */
export function decimal(b: Uint8Array, start: number, end: number, maxDigits = 15): number {
  if (end <= start || end - start > maxDigits) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = b[i] - C0;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Dotted-quad IPv4 without leading zeros as two 16-bit words. */
function ipv4Words(b: Uint8Array, start: number, end: number): number[] | undefined {
  let word0 = 0;
  let acc = 0;
  let i = start;
  for (let part = 0; part < 4; part++) {
    const from = i;
    let v = 0;
    while (i < end && i - from < 3) {
      const d = b[i] - C0;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    if (i === from || v > 255 || (b[from] === C0 && i - from > 1)) return undefined;
    if (part < 3) {
      if (i >= end || b[i] !== DOT) return undefined;
      i++;
    }
    acc = (acc << 8) | v;
    if (part === 1) {
      word0 = acc;
      acc = 0;
    }
  }
  return i === end ? [word0, acc] : undefined;
}

/** IPv6 as eight 16-bit words: 1–4 hex digits per group, at most one `::` standing for at least one zero group. */
function ipv6Words(b: Uint8Array, start: number, end: number): number[] | undefined {
  const words = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gap = -1; // number of groups before `::`
  let i = start;
  if (end - start >= 2 && b[i] === COLON && b[i + 1] === COLON) {
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let v = 0;
    const from = i;
    while (i < end && i - from < 4) {
      const h = HEX[b[i]];
      if (h < 0) break;
      v = (v << 4) | h;
      i++;
    }
    if (i === from || count === 8) return undefined;
    words[count++] = v;
    if (i === end) break;
    if (b[i] !== COLON) return undefined;
    i++;
    if (i < end && b[i] === COLON) {
      if (gap >= 0) return undefined;
      gap = count;
      i++;
    } else if (i === end) return undefined; // a single trailing colon
  }
  if (gap < 0) return count === 8 ? words : undefined;
  if (count > 7) return undefined;
  // Move the groups after `::` to the end; zeros fill the gap.
  for (let k = count - 1, shift = 8 - count; k >= gap; k--) {
    words[k + shift] = words[k];
    words[k] = 0;
  }
  return words;
}

/** An IPv4 or IPv6 address in the forms above, as its words (2 or 8). */
function addressWords(b: Uint8Array, start: number, end: number): number[] | undefined {
  for (let i = start; i < end; i++) if (b[i] === COLON) return ipv6Words(b, start, end);
  return ipv4Words(b, start, end);
}

/** `address/length` (the form wireguard-go prints allowed IPs in) as a prefix with host bits cleared. */
export function prefixAt(b: Uint8Array, start: number, end: number, field: string): IpPrefix | undefined {
  let slash = end - 1;
  while (slash > start && b[slash] !== SLASH) slash--;
  if (slash <= start) return undefined;
  const words = addressWords(b, start, slash);
  const bits = decimal(b, slash + 1, end, 3);
  if (!words || bits < 0) return undefined;
  const version = words.length === 2 ? 4 : 6;
  if (bits > (version === 4 ? 32 : 128)) return undefined;
  return IpPrefix.fromWords(version, words, bits, field);
}

/** `a.b.c.d:port` or `[ipv6]:port` with a port 1–65535. */
export function endpointAt(b: Uint8Array, start: number, end: number, field: string): Endpoint | undefined {
  let colon = end - 1;
  while (colon > start && b[colon] !== COLON) colon--;
  const port = decimal(b, colon + 1, end, 5);
  if (colon <= start || port < 1 || port > 65535) return undefined;
  const bracketed = b[start] === LBRACKET;
  if (bracketed !== (b[colon - 1] === RBRACKET)) return undefined;
  const words = bracketed ? ipv6Words(b, start + 1, colon - 1) : ipv4Words(b, start, colon);
  return words && Endpoint.fromWords(bracketed ? 6 : 4, words, port, field);
}
