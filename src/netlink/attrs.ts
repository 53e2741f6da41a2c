/**
 * Netlink attribute encoder and decoder in the style of mdlayher/netlink: a sticky error (the first failure is kept,
 * later calls are no-ops, check once at the end), closure nesting (`enc.nested(type, (e) => …)`), 4-byte alignment,
 * the 65 535-byte limit of `nla_len` enforced for every attribute and every nest, typed getters that validate the
 * payload size, array-of-nests helpers, and the `NLA_F_NET_BYTEORDER` flag. Pure TypeScript, no FFI.
 */
import { Errno, malformed, NetlinkError } from "./errors.ts";

/** `nla_type` flag: the attribute holds nested attributes. */
export const NLA_F_NESTED = 0x8000;
/** `nla_type` flag: the integer payload is big-endian. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** Mask of the attribute type without flags. */
export const NLA_TYPE_MASK = 0x3fff;
/** Size of `struct nlattr`. */
export const NLA_HDRLEN = 4;
/** Largest attribute (header + payload) or nest that `nla_len` (u16) can describe. */
export const NLA_MAX_LEN = 0xffff;

/** Rounds `n` up to the netlink alignment of 4 bytes. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Builds a sequence of netlink attributes into a growable buffer. Every method returns `this`, records the first
 * error (bad type, out-of-range value, oversized attribute or nest) and turns later calls into no-ops; {@link bytes}
 * throws that error.
 */
export class AttrEncoder {
  protected buf: Uint8Array<ArrayBuffer>;
  protected view: DataView;
  protected pos = 0;
  #error: NetlinkError | null = null;

  /** `op` names the operation in errors, e.g. `RTM_NEWLINK veth0`. */
  constructor(protected readonly op = "encode attributes", capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** The first error recorded, or null. */
  get error(): NetlinkError | null {
    return this.#error;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Current write position, for {@link rollback} (size-bounded packing). */
  mark(): number {
    return this.pos;
  }

  /** Discards everything written after `mark` (an error already recorded stays recorded). */
  rollback(mark: number): this {
    if (mark < 0 || mark > this.pos) throw new RangeError(`rollback to ${mark} outside 0..${this.pos}`);
    this.pos = mark;
    return this;
  }

  /** Records `detail` as the sticky error unless one is already recorded. */
  protected fail(detail: string, errno: number = Errno.EINVAL): void {
    this.#error ??= malformed(this.op, detail, errno);
  }

  protected ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Appends raw bytes padded to 4 (fixed headers such as ifinfomsg). */
  protected rawAligned(b: Uint8Array): void {
    const padded = align4(b.length);
    this.ensure(padded);
    this.buf.set(b, this.pos);
    this.buf.fill(0, this.pos + b.length, this.pos + padded);
    this.pos += padded;
  }

  /** Writes an attribute header and reserves `payload` bytes (+padding); returns the payload offset or -1. */
  #begin(type: number, payload: number, flags = 0): number {
    if (this.#error) return -1;
    if (!Number.isInteger(type) || type < 0 || type > NLA_TYPE_MASK) {
      this.fail(`attribute type ${type} outside 0..${NLA_TYPE_MASK}`);
      return -1;
    }
    const len = NLA_HDRLEN + payload;
    if (len > NLA_MAX_LEN) {
      this.fail(`attribute ${type}: ${len} bytes exceed the 65535-byte netlink attribute limit`, Errno.E2BIG);
      return -1;
    }
    const padded = align4(len);
    this.ensure(padded);
    this.view.setUint16(this.pos, len, true);
    this.view.setUint16(this.pos + 2, type | flags, true);
    this.buf.fill(0, this.pos + len, this.pos + padded);
    const at = this.pos + NLA_HDRLEN;
    this.pos += padded;
    return at;
  }

  #int(type: number, v: number, bits: number, signed: boolean): number | null {
    if (this.#error) return null;
    const min = signed ? -(2 ** (bits - 1)) : 0;
    const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    if (!Number.isInteger(v) || v < min || v > max) {
      this.fail(`attribute ${type}: value ${v} is not a ${signed ? "s" : "u"}${bits}`);
      return null;
    }
    return v;
  }

  /** Appends a u8 attribute. */
  u8(type: number, v: number): this {
    if (this.#int(type, v, 8, false) === null) return this;
    const at = this.#begin(type, 1);
    if (at >= 0) this.buf[at] = v;
    return this;
  }

  /** Appends a host-order (little-endian) u16 attribute. */
  u16(type: number, v: number): this {
    if (this.#int(type, v, 16, false) === null) return this;
    const at = this.#begin(type, 2);
    if (at >= 0) this.view.setUint16(at, v, true);
    return this;
  }

  /** Appends a host-order u32 attribute. */
  u32(type: number, v: number): this {
    if (this.#int(type, v, 32, false) === null) return this;
    const at = this.#begin(type, 4);
    if (at >= 0) this.view.setUint32(at, v, true);
    return this;
  }

  /** Appends a host-order s32 attribute. */
  i32(type: number, v: number): this {
    if (this.#int(type, v, 32, true) === null) return this;
    const at = this.#begin(type, 4);
    if (at >= 0) this.view.setInt32(at, v, true);
    return this;
  }

  /** Appends a host-order u64 attribute. */
  u64(type: number, v: bigint | number): this {
    if (this.#error) return this;
    const b = typeof v === "bigint" ? v : Number.isInteger(v) ? BigInt(v) : -1n;
    if (b < 0n || b > 0xffff_ffff_ffff_ffffn) {
      this.fail(`attribute ${type}: value ${v} is not a u64`);
      return this;
    }
    const at = this.#begin(type, 8);
    if (at >= 0) this.view.setBigUint64(at, b, true);
    return this;
  }

  /** Appends a big-endian u16 (ports); `flag` also sets `NLA_F_NET_BYTEORDER` in the type. */
  be16(type: number, v: number, flag = false): this {
    if (this.#int(type, v, 16, false) === null) return this;
    const at = this.#begin(type, 2, flag ? NLA_F_NET_BYTEORDER : 0);
    if (at >= 0) this.view.setUint16(at, v, false);
    return this;
  }

  /** Appends a big-endian u32; `flag` also sets `NLA_F_NET_BYTEORDER` in the type. */
  be32(type: number, v: number, flag = false): this {
    if (this.#int(type, v, 32, false) === null) return this;
    const at = this.#begin(type, 4, flag ? NLA_F_NET_BYTEORDER : 0);
    if (at >= 0) this.view.setUint32(at, v, false);
    return this;
  }

  /** Appends a NUL-terminated UTF-8 string attribute; a string containing NUL is an error. */
  string(type: number, s: string): this {
    if (this.#error) return this;
    if (s.includes("\0")) {
      this.fail(`attribute ${type}: string contains NUL`);
      return this;
    }
    const b = enc.encode(s);
    const at = this.#begin(type, b.length + 1);
    if (at >= 0) {
      this.buf.set(b, at);
      this.buf[at + b.length] = 0;
    }
    return this;
  }

  /** Appends an attribute with the given raw payload. */
  bytes(type: number, b: Uint8Array): this {
    const at = this.#begin(type, b.length);
    if (at >= 0) this.buf.set(b, at);
    return this;
  }

  /**
   * Appends an attribute of `size` zero bytes and returns its payload in place, for the caller to fill without an
   * intermediate array (keys, addresses, sockaddrs). The view is valid until the next write to this encoder; after
   * an error it is a detached empty array.
   */
  reserve(type: number, size: number): Uint8Array {
    if (!Number.isInteger(size) || size < 0) {
      this.fail(`attribute ${type}: payload size ${size} is not a byte count`);
      return new Uint8Array(0);
    }
    const at = this.#begin(type, size);
    if (at < 0) return new Uint8Array(0);
    this.buf.fill(0, at, at + size);
    return this.buf.subarray(at, at + size);
  }

  /** Appends a flag attribute (no payload). */
  flag(type: number): this {
    this.#begin(type, 0);
    return this;
  }

  /**
   * Appends a nested attribute (`NLA_F_NESTED` set) whose children `fn` writes into this encoder. A nest larger
   * than 65 535 bytes is an error.
   */
  nested(type: number, fn: (e: this) => void): this {
    const start = this.pos;
    if (this.#begin(type, 0, NLA_F_NESTED) < 0) return this;
    fn(this);
    if (this.#error) return this;
    const len = this.pos - start;
    if (len > NLA_MAX_LEN) {
      this.fail(`nested attribute ${type}: ${len} bytes exceed the 65535-byte netlink attribute limit`, Errno.E2BIG);
      return this;
    }
    this.view.setUint16(start, len, true);
    return this;
  }

  /** Appends an array of nests: a nest `type` whose children are nests typed 1, 2, … (one per item). */
  array<T>(type: number, items: Iterable<T>, fn: (e: this, item: T, index: number) => void): this {
    return this.nested(type, () => {
      let i = 0;
      for (const item of items) {
        const index = i++;
        this.nested(index + 1, () => fn(this, item, index));
        if (this.#error) return;
      }
    });
  }

  /** The encoded attributes (a copy); throws the sticky error if any. */
  encode(): Uint8Array<ArrayBuffer> {
    if (this.#error) throw this.#error;
    return this.buf.slice(0, this.pos);
  }
}

/**
 * Iterates the attributes of a buffer: `while (d.next()) switch (d.type) { case X: v = d.u32(); … }`, then
 * {@link done} (or check {@link error}). Malformed lengths and wrongly sized payloads set the sticky error and end
 * the iteration; getters then return zero values. Never throws while iterating.
 *
 * Zero-copy: nested decoders share their parent's buffer (bounded by offsets, no subarray, no DataView of their
 * own); {@link view} and the `…At` struct-field getters read the payload in place. Only {@link bytes} and
 * {@link string} copy.
 */
export class AttrDecoder {
  readonly #buf: Uint8Array;
  /** Created on first use and handed down to nested decoders. */
  #dv: DataView | undefined;
  /** Bounds of this decoder's attributes within `#buf`: [#begin, #end). */
  #begin = 0;
  #end: number;
  #pos = 0;
  #type = 0;
  #rawType = 0;
  #start = 0;
  #len = 0;
  #error: NetlinkError | null = null;

  /** `op` names what is decoded in errors, e.g. `RTM_NEWLINK reply`. */
  constructor(buf: Uint8Array, readonly op = "decode attributes") {
    this.#buf = buf;
    this.#end = buf.length;
  }

  /** The first error, or null. */
  get error(): NetlinkError | null {
    return this.#error;
  }

  /** Throws the sticky error, if any. */
  done(): void {
    if (this.#error) throw this.#error;
  }

  #fail(detail: string): void {
    this.#error ??= malformed(this.op, detail);
  }

  get #view(): DataView {
    const b = this.#buf;
    return this.#dv ??= new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** Advances to the next attribute; false at the end or after an error. */
  next(): boolean {
    if (this.#error) return false;
    const b = this.#buf;
    const pos = this.#pos;
    const remaining = this.#end - pos;
    if (remaining === 0) return false;
    if (remaining < NLA_HDRLEN) {
      this.#fail(`truncated attribute header: ${remaining} bytes left at offset ${pos - this.#begin}`);
      return false;
    }
    const len = b[pos] | (b[pos + 1] << 8);
    if (len < NLA_HDRLEN || len > remaining) {
      this.#fail(`attribute length ${len} at offset ${pos - this.#begin} outside ${NLA_HDRLEN}..${remaining}`);
      return false;
    }
    this.#rawType = b[pos + 2] | (b[pos + 3] << 8);
    this.#type = this.#rawType & NLA_TYPE_MASK;
    this.#start = pos + NLA_HDRLEN;
    this.#len = len - NLA_HDRLEN;
    this.#pos = Math.min(pos + align4(len), this.#end);
    return true;
  }

  /** Type of the current attribute without flags. */
  get type(): number {
    return this.#type;
  }

  /** Whether the current attribute carries `NLA_F_NESTED`. */
  get isNested(): boolean {
    return (this.#rawType & NLA_F_NESTED) !== 0;
  }

  /** Whether the current attribute carries `NLA_F_NET_BYTEORDER` (integer getters then read big-endian). */
  get netByteOrder(): boolean {
    return (this.#rawType & NLA_F_NET_BYTEORDER) !== 0;
  }

  /** Payload length of the current attribute. */
  get length(): number {
    return this.#len;
  }

  #sized(size: number, what: string): number {
    if (this.#error) return -1;
    if (this.#len !== size) {
      this.#fail(`attribute ${this.#type}: ${what} needs ${size} bytes, got ${this.#len}`);
      return -1;
    }
    return this.#start;
  }

  /** Position of a `size`-byte field at `offset` of the payload, or -1 (sticky error) if it lies outside. */
  #field(offset: number, size: number, what: string): number {
    if (this.#error) return -1;
    if (!(Number.isInteger(offset) && offset >= 0 && offset + size <= this.#len)) {
      this.#fail(`attribute ${this.#type}: ${what} at offset ${offset} outside its ${this.#len}-byte payload`);
      return -1;
    }
    return this.#start + offset;
  }

  /** The payload as u8. */
  u8(): number {
    const at = this.#sized(1, "u8");
    return at < 0 ? 0 : this.#buf[at];
  }

  /** The payload as u16 (big-endian if flagged). */
  u16(): number {
    const at = this.#sized(2, "u16");
    return at < 0 ? 0 : this.#view.getUint16(at, !this.netByteOrder);
  }

  /** The payload as u32 (big-endian if flagged). */
  u32(): number {
    const at = this.#sized(4, "u32");
    return at < 0 ? 0 : this.#view.getUint32(at, !this.netByteOrder);
  }

  /** The payload as s32. */
  i32(): number {
    const at = this.#sized(4, "s32");
    return at < 0 ? 0 : this.#view.getInt32(at, !this.netByteOrder);
  }

  /** The payload as u64 (bigint). */
  u64(): bigint {
    const at = this.#sized(8, "u64");
    return at < 0 ? 0n : this.#view.getBigUint64(at, !this.netByteOrder);
  }

  /** The payload as a big-endian u16 regardless of the flag (ports). */
  be16(): number {
    const at = this.#sized(2, "be16");
    return at < 0 ? 0 : this.#view.getUint16(at, false);
  }

  /** The payload as a big-endian u32 regardless of the flag. */
  be32(): number {
    const at = this.#sized(4, "be32");
    return at < 0 ? 0 : this.#view.getUint32(at, false);
  }

  /**
   * A u16 field at byte `offset` of a struct payload (e.g. `sockaddr_in6`), little-endian unless `bigEndian`. A
   * field beyond the payload sets the sticky error and reads 0.
   */
  u16At(offset: number, bigEndian = false): number {
    const at = this.#field(offset, 2, "u16 field");
    return at < 0 ? 0 : this.#view.getUint16(at, !bigEndian);
  }

  /** A u32 field at byte `offset` of a struct payload; see {@link u16At}. */
  u32At(offset: number, bigEndian = false): number {
    const at = this.#field(offset, 4, "u32 field");
    return at < 0 ? 0 : this.#view.getUint32(at, !bigEndian);
  }

  /** A little-endian s64 field at byte `offset` of a struct payload (e.g. `__kernel_timespec`); see {@link u16At}. */
  i64At(offset: number): bigint {
    const at = this.#field(offset, 8, "s64 field");
    return at < 0 ? 0n : this.#view.getBigInt64(at, true);
  }

  /** Whether every payload byte is zero (true for an empty payload); false after an error. */
  isZero(): boolean {
    if (this.#error) return false;
    const b = this.#buf;
    for (let i = this.#start, end = this.#start + this.#len; i < end; i++) if (b[i] !== 0) return false;
    return true;
  }

  /** The payload as a string (up to the first NUL). */
  string(): string {
    if (this.#error) return "";
    const b = this.#buf.subarray(this.#start, this.#start + this.#len);
    const z = b.indexOf(0);
    return dec.decode(z < 0 ? b : b.subarray(0, z));
  }

  /**
   * The payload in place, without a copy: valid only while the buffer being decoded (the datagram) is unchanged.
   * Copy what must outlive it, or use {@link bytes}.
   */
  view(): Uint8Array {
    if (this.#error) return new Uint8Array(0);
    return this.#buf.subarray(this.#start, this.#start + this.#len);
  }

  /** A copy of the payload (its own ArrayBuffer: costly per attribute; see {@link copyTo}). */
  bytes(): Uint8Array<ArrayBuffer> {
    if (this.#error) return new Uint8Array(0);
    return this.#buf.slice(this.#start, this.#start + this.#len);
  }

  /**
   * Copies the payload into `dst` at `offset` without allocating (e.g. many keys into one shared buffer) and
   * returns its length; 0 after an error. A payload that does not fit sets the sticky error and copies nothing.
   */
  copyTo(dst: Uint8Array, offset: number): number {
    if (this.#error) return 0;
    const n = this.#len;
    if (!(Number.isInteger(offset) && offset >= 0 && offset + n <= dst.length)) {
      this.#fail(`attribute ${this.#type}: ${n}-byte payload does not fit at offset ${offset} of ${dst.length} bytes`);
      return 0;
    }
    const b = this.#buf;
    for (let i = 0, at = this.#start; i < n; i++) dst[offset + i] = b[at + i];
    return n;
  }

  /** A decoder of the current attribute's payload sharing this decoder's buffer and DataView. */
  #child(): AttrDecoder {
    const c = new AttrDecoder(this.#buf, this.op);
    c.#dv = this.#view;
    c.#begin = c.#pos = this.#start;
    c.#end = this.#start + this.#len;
    return c;
  }

  /** Decodes the payload as nested attributes with `fn`; the child's error becomes this decoder's error. */
  nested(fn: (d: AttrDecoder) => void): void {
    if (this.#error) return;
    const child = this.#child();
    fn(child);
    if (child.#error) this.#error ??= child.#error;
  }

  /** Decodes an array of nests: calls `fn` for every child nest (its decoder and its index type). */
  array(fn: (d: AttrDecoder, index: number) => void): void {
    if (this.#error) return;
    const arr = this.#child();
    while (arr.next()) {
      const item = arr.#child();
      fn(item, arr.#type);
      if (item.#error) arr.#error ??= item.#error;
    }
    if (arr.#error) this.#error ??= arr.#error;
  }
}
