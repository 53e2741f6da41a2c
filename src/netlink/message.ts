/**
 * Netlink messages: building (`nlmsghdr` + optional fixed header such as `genlmsghdr`, `ifinfomsg`, `ifaddrmsg` +
 * attributes) and parsing (datagrams into messages with validated lengths, error/ACK/DONE payloads with extended
 * ACK). Pure TypeScript; malformed input yields a {@link NetlinkError} (EBADMSG), never a crash.
 */
import { align4, AttrDecoder, AttrEncoder } from "./attrs.ts";
import { malformed } from "./errors.ts";

/** Size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;

/** Control message types. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** `nlmsg_flags`. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** Flags of an NLMSG_ERROR reply. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ACK TLV types (`enum nlmsgerr_attrs`). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

/** One parsed netlink message; `payload` excludes the 16-byte header and is a view into the datagram. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
}

/** Generic netlink header (`struct genlmsghdr`). */
export interface GenlHeader {
  cmd: number;
  version: number;
}

/** `struct ifinfomsg` (16 bytes). */
export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

/** `struct ifaddrmsg` (8 bytes). */
export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index: number;
}

/** Size of `struct ifinfomsg`. */
export const IFINFOMSG_LEN = 16;
/** Size of `struct ifaddrmsg`. */
export const IFADDRMSG_LEN = 8;
/** Size of `struct genlmsghdr`. */
export const GENL_HDRLEN = 4;

/** Encodes a `struct ifinfomsg`. */
export function encodeIfInfo(h: IfInfoMsg): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(IFINFOMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, h.family ?? 0);
  v.setUint16(2, h.type ?? 0, true);
  v.setInt32(4, h.index ?? 0, true);
  v.setUint32(8, h.flags ?? 0, true);
  v.setUint32(12, h.change ?? 0, true);
  return b;
}

/** Decodes a `struct ifinfomsg` at the start of `p`. */
export function decodeIfInfo(p: Uint8Array, op = "decode ifinfomsg"): Required<IfInfoMsg> {
  if (p.length < IFINFOMSG_LEN) throw malformed(op, `ifinfomsg needs ${IFINFOMSG_LEN} bytes, got ${p.length}`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    family: v.getUint8(0),
    type: v.getUint16(2, true),
    index: v.getInt32(4, true),
    flags: v.getUint32(8, true),
    change: v.getUint32(12, true),
  };
}

/** Encodes a `struct ifaddrmsg`. */
export function encodeIfAddr(h: IfAddrMsg): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(IFADDRMSG_LEN);
  const v = new DataView(b.buffer);
  v.setUint8(0, h.family);
  v.setUint8(1, h.prefixlen);
  v.setUint8(2, h.flags ?? 0);
  v.setUint8(3, h.scope ?? 0);
  v.setUint32(4, h.index, true);
  return b;
}

/** Decodes a `struct ifaddrmsg` at the start of `p`. */
export function decodeIfAddr(p: Uint8Array, op = "decode ifaddrmsg"): Required<IfAddrMsg> {
  if (p.length < IFADDRMSG_LEN) throw malformed(op, `ifaddrmsg needs ${IFADDRMSG_LEN} bytes, got ${p.length}`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    family: v.getUint8(0),
    prefixlen: v.getUint8(1),
    flags: v.getUint8(2),
    scope: v.getUint8(3),
    index: v.getUint32(4, true),
  };
}

/** Decodes a `struct genlmsghdr` at the start of `p`. */
export function decodeGenl(p: Uint8Array, op = "decode genlmsghdr"): GenlHeader {
  if (p.length < GENL_HDRLEN) throw malformed(op, `genlmsghdr needs ${GENL_HDRLEN} bytes, got ${p.length}`);
  return { cmd: p[0], version: p[1] };
}

/** The attributes following a fixed header of `fixedLen` bytes, as a decoder. */
export function attrsAfter(p: Uint8Array, fixedLen: number, op?: string): AttrDecoder {
  const off = align4(fixedLen);
  if (p.length < off) {
    throw malformed(op ?? "decode message", `payload of ${p.length} bytes shorter than header ${off}`);
  }
  return new AttrDecoder(p.subarray(off), op);
}

/**
 * Builds one netlink message: header, then at most one fixed header ({@link genl}, {@link ifinfo}, {@link ifaddr},
 * {@link fixed}), then attributes (inherited {@link AttrEncoder} methods). {@link finish} patches length, flags,
 * sequence number and port id.
 */
export class MessageEncoder extends AttrEncoder {
  readonly type: number;
  flags: number;
  #fixedDone = false;

  constructor(type: number, flags = 0, op = `netlink message ${type}`, capacity = 256) {
    super(op, capacity);
    this.type = type;
    this.flags = flags;
    this.ensure(NLMSG_HDRLEN);
    this.pos = NLMSG_HDRLEN;
  }

  #header(b: Uint8Array): this {
    if (this.#fixedDone || this.pos !== NLMSG_HDRLEN) {
      this.fail("fixed header must come first and only once");
      return this;
    }
    this.#fixedDone = true;
    this.rawAligned(b);
    return this;
  }

  /** Appends a generic netlink header. */
  genl(cmd: number, version: number): this {
    return this.#header(new Uint8Array([cmd, version, 0, 0]));
  }

  /** Appends an `ifinfomsg`. */
  ifinfo(h: IfInfoMsg): this {
    return this.#header(encodeIfInfo(h));
  }

  /** Appends an `ifaddrmsg`. */
  ifaddr(h: IfAddrMsg): this {
    return this.#header(encodeIfAddr(h));
  }

  /** Appends any other fixed header (padded to 4). */
  fixed(b: Uint8Array): this {
    return this.#header(b);
  }

  /**
   * Completes the header and returns the message bytes (a view into this encoder's buffer, valid until the next
   * change). Throws the sticky error.
   */
  finish(seq: number, pid: number, extraFlags = 0): Uint8Array<ArrayBuffer> {
    if (this.error) throw this.error;
    this.view.setUint32(0, this.pos, true);
    this.view.setUint16(4, this.type, true);
    this.view.setUint16(6, this.flags | extraFlags, true);
    this.view.setUint32(8, seq >>> 0, true);
    this.view.setUint32(12, pid >>> 0, true);
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Splits a datagram into messages. Validates every header (length ≥ 16, within the datagram); throws a
 * {@link NetlinkError} (EBADMSG) on malformed input. Payloads are views into `buf`.
 */
export function parseMessages(buf: Uint8Array, op = "parse netlink datagram"): Message[] {
  const out: Message[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    const remaining = buf.length - pos;
    if (remaining < NLMSG_HDRLEN) throw malformed(op, `truncated message header: ${remaining} bytes at offset ${pos}`);
    const len = v.getUint32(pos, true);
    if (len < NLMSG_HDRLEN || len > remaining) {
      throw malformed(op, `message length ${len} at offset ${pos} outside ${NLMSG_HDRLEN}..${remaining}`);
    }
    out.push({
      type: v.getUint16(pos + 4, true),
      flags: v.getUint16(pos + 6, true),
      seq: v.getUint32(pos + 8, true),
      pid: v.getUint32(pos + 12, true),
      payload: buf.subarray(pos + NLMSG_HDRLEN, pos + len),
    });
    pos += align4(len);
  }
  return out;
}

/** Result of an NLMSG_ERROR or NLMSG_DONE payload. */
export interface ErrorPayload {
  /** Positive errno; 0 = success (ACK / clean DONE). */
  errno: number;
  /** Extended-ACK message. */
  extAck?: string;
  /** Extended-ACK offset of the offending attribute in the request. */
  offset?: number;
  /** Type of the request this answers (NLMSG_ERROR only). */
  requestType?: number;
}

function extAckTlvs(tlvs: Uint8Array, out: ErrorPayload, op: string): void {
  const d = new AttrDecoder(tlvs, op);
  while (d.next()) {
    if (d.type === NLMSGERR_ATTR_MSG) out.extAck = d.string();
    else if (d.type === NLMSGERR_ATTR_OFFS && d.length === 4) out.offset = d.u32();
  }
  d.done();
}

/** Parses an NLMSG_ERROR message: errno, the echoed request type, extended-ACK TLVs. */
export function parseError(m: Message, op = "parse NLMSG_ERROR"): ErrorPayload {
  const p = m.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw malformed(op, `error payload of ${p.length} bytes, need ${4 + NLMSG_HDRLEN}`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const err = v.getInt32(0, true);
  const out: ErrorPayload = { errno: err === 0 ? 0 : -err, requestType: v.getUint16(8, true) };
  if (err > 0) throw malformed(op, `positive error code ${err}`);
  if (m.flags & NLM_F_ACK_TLVS) {
    let tlvStart = 4 + NLMSG_HDRLEN;
    if (!(m.flags & NLM_F_CAPPED)) tlvStart = 4 + align4(v.getUint32(4, true));
    if (tlvStart > p.length) throw malformed(op, `extended ACK starts at ${tlvStart} beyond payload ${p.length}`);
    extAckTlvs(p.subarray(tlvStart), out, op);
  }
  return out;
}

/** Parses an NLMSG_DONE message: the i32 status (0 = complete) and extended-ACK TLVs. */
export function parseDone(m: Message, op = "parse NLMSG_DONE"): ErrorPayload {
  const p = m.payload;
  if (p.length < 4) return { errno: 0 };
  const err = new DataView(p.buffer, p.byteOffset, p.byteLength).getInt32(0, true);
  const out: ErrorPayload = { errno: err < 0 ? -err : 0 };
  if (m.flags & NLM_F_ACK_TLVS) extAckTlvs(p.subarray(4), out, op);
  return out;
}
