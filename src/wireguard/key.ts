/**
 * WireGuard keys: 32-byte Curve25519 values. Private and preshared keys are secrets: their string, JSON and
 * inspect forms are a fixed placeholder, so a key that slips into a log line, an error message, a status field or
 * an Event reveals nothing. The bytes are reachable only through the explicit `toBase64`, `toHex` and `toBytes`
 * methods, which codecs call.
 *
 * X25519 runs through WebCrypto (Deno implements `X25519` in `crypto.subtle`). WebCrypto cannot import a raw
 * private key, so the 32 bytes are wrapped in the fixed PKCS#8 envelope of RFC 8410 (OneAsymmetricKey with
 * algorithm id-X25519 1.3.101.110).
 */

import { InvalidConfigError } from "./errors.ts";

/** Length of every WireGuard key in bytes (WG_KEY_LEN). */
export const KEY_LEN = 32;

/** What a key is for; `private` and `preshared` keys are secret. */
export type KeyKind = "public" | "private" | "preshared";

const INSPECT_DENO = Symbol.for("Deno.customInspect");
const INSPECT_NODE = Symbol.for("nodejs.util.inspect.custom");

/** A WireGuard key of a known kind. Immutable; secret kinds never reveal themselves implicitly. */
export class WireGuardKey {
  readonly kind: KeyKind;
  readonly #bytes: Uint8Array;
  #base64: string | undefined; // memoised: public keys serve as map keys and sort keys

  private constructor(kind: KeyKind, bytes: Uint8Array) {
    this.kind = kind;
    this.#bytes = bytes;
  }

  /**
   * Wraps 32 raw bytes (copied). Private keys are clamped as the kernel and `wg genkey` do, so the key we compare
   * with the one read back from a device is the one the device holds.
   */
  static fromBytes(kind: KeyKind, bytes: Uint8Array, field = `${kind} key`): WireGuardKey {
    if (bytes.length !== KEY_LEN) {
      throw new InvalidConfigError(field, `must be ${KEY_LEN} bytes, got ${bytes.length}`);
    }
    return WireGuardKey.#own(kind, bytes.slice());
  }

  /** Like {@link fromBytes} but takes ownership of `bytes` (no copy): for decoders holding a fresh array. */
  static adopt(kind: KeyKind, bytes: Uint8Array, field = `${kind} key`): WireGuardKey {
    if (bytes.length !== KEY_LEN) throw new InvalidConfigError(field, `must be ${KEY_LEN} bytes, got ${bytes.length}`);
    return WireGuardKey.#own(kind, bytes);
  }

  /** Takes ownership of freshly made bytes (no copy). */
  static #own(kind: KeyKind, bytes: Uint8Array): WireGuardKey {
    if (kind === "private") clamp(bytes);
    return new WireGuardKey(kind, bytes);
  }

  /**
   * Parses a key given either as standard base64 text (44 characters, what `wg genkey` prints) or as raw 32 bytes
   * (how the reference implementation stores keys under a Secret's `data`). Bytes that are base64 text, with or
   * without a trailing newline, are decoded as text.
   */
  static parse(kind: KeyKind, input: string | Uint8Array, field = `${kind} key`): WireGuardKey {
    if (typeof input !== "string") {
      if (input.length === KEY_LEN) return WireGuardKey.fromBytes(kind, input, field);
      input = new TextDecoder("utf-8", { fatal: false }).decode(input);
    }
    const text = input.trim();
    if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text)) {
      throw new InvalidConfigError(field, `must be ${KEY_LEN} bytes as standard base64 (44 characters)`);
    }
    return WireGuardKey.#own(kind, Uint8Array.fromBase64(text));
  }

  /** Parses the 64-character lowercase/uppercase hex form used by the wireguard-go UAPI. */
  static fromHex(kind: KeyKind, hex: string, field = `${kind} key`): WireGuardKey {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InvalidConfigError(field, "must be 64 hex digits");
    return WireGuardKey.#own(kind, Uint8Array.fromHex(hex));
  }

  /** The all-zero key of the given kind ("no key" for preshared and private keys in the kernel API). */
  static zero(kind: KeyKind): WireGuardKey {
    return new WireGuardKey(kind, new Uint8Array(KEY_LEN));
  }

  /** True for private and preshared keys. */
  get secret(): boolean {
    return this.kind !== "public";
  }

  /** True when every byte is zero. */
  isZero(): boolean {
    for (let i = 0; i < KEY_LEN; i++) if (this.#bytes[i] !== 0) return false;
    return true;
  }

  /** Same kind and same bytes (constant time in the key bytes). */
  equals(other: WireGuardKey | undefined | null): boolean {
    if (!other || other.kind !== this.kind) return false;
    let diff = 0;
    for (let i = 0; i < KEY_LEN; i++) diff |= this.#bytes[i] ^ other.#bytes[i];
    return diff === 0;
  }

  /** Reveals the key as standard base64. */
  toBase64(): string {
    return this.#base64 ??= this.#bytes.toBase64();
  }

  /** Reveals the key as lowercase hex (wireguard-go UAPI form). */
  toHex(): string {
    return this.#bytes.toHex();
  }

  /** Reveals a copy of the raw bytes. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** Reveals the key by copying its 32 bytes into `dst` (an encoder's payload, so no array is made per key). */
  copyTo(dst: Uint8Array): void {
    if (dst.length !== KEY_LEN) throw new RangeError(`a key needs ${KEY_LEN} bytes, got ${dst.length}`);
    dst.set(this.#bytes);
  }

  /** Public keys print as base64; secret keys as a placeholder that names only their kind. */
  toString(): string {
    return this.secret ? `(${this.kind} key)` : this.toBase64();
  }

  /** Same as {@link toString}: JSON never holds secret key material. */
  toJSON(): string {
    return this.toString();
  }

  [INSPECT_DENO](): string {
    return `WireGuardKey(${this.kind}${this.secret ? "" : ` ${this.toBase64()}`})`;
  }

  [INSPECT_NODE](): string {
    return this[INSPECT_DENO]();
  }
}

/** RFC 7748 §5 clamping of a Curve25519 scalar, in place. */
function clamp(k: Uint8Array): void {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
}

/** DER prefix of a PKCS#8 OneAsymmetricKey holding an X25519 private key (RFC 8410 §7), followed by the 32 bytes. */
const PKCS8_X25519_PREFIX = Uint8Array.fromHex("302e020100300506032b656e04220420");

/** Wraps a raw X25519 private key in PKCS#8 for `crypto.subtle.importKey`. */
function pkcs8(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_LEN);
  der.set(PKCS8_X25519_PREFIX);
  der.set(raw, PKCS8_X25519_PREFIX.length);
  return der;
}

/** Generates a new private key (random, clamped) through WebCrypto. */
export async function generatePrivateKey(): Promise<WireGuardKey> {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]) as CryptoKeyPair;
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  if (der.length !== PKCS8_X25519_PREFIX.length + KEY_LEN) {
    throw new InvalidConfigError("generate private key", "WebCrypto returned an unexpected PKCS#8 length");
  }
  return WireGuardKey.fromBytes("private", der.subarray(PKCS8_X25519_PREFIX.length));
}

/** Generates a random preshared key (32 bytes from the CSPRNG, as `wg genpsk`). */
export function generatePresharedKey(): WireGuardKey {
  return WireGuardKey.fromBytes("preshared", crypto.getRandomValues(new Uint8Array(KEY_LEN)));
}

/** Derives the public key of a private key: X25519(private, 9) computed by WebCrypto. */
export async function publicKeyOf(privateKey: WireGuardKey): Promise<WireGuardKey> {
  if (privateKey.kind !== "private") {
    throw new InvalidConfigError("public key derivation", `needs a private key, got a ${privateKey.kind} key`);
  }
  const bytes = privateKey.toBytes();
  try {
    const key = await crypto.subtle.importKey("pkcs8", pkcs8(bytes), { name: "X25519" }, true, ["deriveBits"]);
    const jwk = await crypto.subtle.exportKey("jwk", key);
    if (typeof jwk.x !== "string") throw new Error("JWK without x");
    return WireGuardKey.fromBytes("public", Uint8Array.fromBase64(jwk.x, { alphabet: "base64url" }));
  } catch (e) {
    // The cause may quote the DER input; keep only its class name.
    throw new InvalidConfigError("public key derivation", `WebCrypto rejected the key (${(e as Error).name})`);
  } finally {
    bytes.fill(0);
  }
}
