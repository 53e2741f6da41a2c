/**
 * A netlink "kernel" in-process, after mdlayher/netlink's nltest: a {@link NetlinkConn} whose requests go to a
 * function that returns the reply messages, so the socket's own logic — sequence and port matching, NLMSG_ERROR and
 * NLMSG_DONE with extended ACKs, multi-part dumps, interrupted dumps, truncation, timeouts — and the codecs on top are
 * tested without root and without a kernel. The real kernel stays the proof (tests/netlink/*_test.ts in namespaces).
 */
import {
  type Message,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  parseMessages,
} from "../../src/netlink/message.ts";
import { NETLINK_ROUTE, type NetlinkConn, NetlinkSocket } from "../../src/netlink/socket.ts";

/** A reply message: type, flags and payload (seq and port are filled in from the request unless given). */
export interface Reply {
  type: number;
  flags?: number;
  payload?: Uint8Array;
  seq?: number;
  pid?: number;
}

/** The fake kernel: the reply datagrams (each a list of messages) to one request message. */
export type Kernel = (req: Message) => Reply[][];

/** Bytes of messages in one datagram (pure). */
export function datagram(msgs: (Reply & { seq: number; pid: number })[]): Uint8Array<ArrayBuffer> {
  const parts = msgs.map((m) => {
    const payload = m.payload ?? new Uint8Array();
    const len = NLMSG_HDRLEN + payload.length;
    const b = new Uint8Array((len + 3) & ~3);
    const v = new DataView(b.buffer);
    v.setUint32(0, len, true);
    v.setUint16(4, m.type, true);
    v.setUint16(6, m.flags ?? 0, true);
    v.setUint32(8, m.seq >>> 0, true);
    v.setUint32(12, m.pid >>> 0, true);
    b.set(payload, NLMSG_HDRLEN);
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

function attr(type: number, value: Uint8Array): Uint8Array {
  const b = new Uint8Array((4 + value.length + 3) & ~3);
  new DataView(b.buffer).setUint16(0, 4 + value.length, true);
  new DataView(b.buffer).setUint16(2, type, true);
  b.set(value, 4);
  return b;
}

/**
 * The NLMSG_ERROR answer to `req`: `errno` 0 is an ACK; with `message` (and `offset`) it carries an extended ACK the
 * way a kernel with NETLINK_CAP_ACK and NETLINK_EXT_ACK on sends it.
 */
export function errorReply(req: Message, errno: number, ext: { message?: string; offset?: number } = {}): Reply {
  const tlvs: Uint8Array[] = [];
  if (ext.message !== undefined) tlvs.push(attr(NLMSGERR_ATTR_MSG, new TextEncoder().encode(`${ext.message}\0`)));
  if (ext.offset !== undefined) {
    const o = new Uint8Array(4);
    new DataView(o.buffer).setUint32(0, ext.offset, true);
    tlvs.push(attr(NLMSGERR_ATTR_OFFS, o));
  }
  const head = new Uint8Array(4 + NLMSG_HDRLEN);
  const v = new DataView(head.buffer);
  v.setInt32(0, -errno, true);
  v.setUint32(4, NLMSG_HDRLEN + req.payload.length, true);
  v.setUint16(8, req.type, true);
  v.setUint16(10, req.flags, true);
  v.setUint32(12, req.seq, true);
  v.setUint32(16, req.pid, true);
  const payload = new Uint8Array(head.length + tlvs.reduce((n, t) => n + t.length, 0));
  payload.set(head);
  let at = head.length;
  for (const t of tlvs) payload.set(t, at), at += t.length;
  return { type: NLMSG_ERROR, flags: NLM_F_CAPPED | (tlvs.length ? NLM_F_ACK_TLVS : 0), payload };
}

/** The NLMSG_DONE that ends a dump (`errno` non-zero: the dump failed). */
export function doneReply(errno = 0, flags = NLM_F_MULTI): Reply {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setInt32(0, -errno, true);
  return { type: NLMSG_DONE, flags, payload: p };
}

/** A {@link NetlinkConn} answered by a {@link Kernel}. */
export class FakeConn implements NetlinkConn {
  readonly fd = -1;
  /** Every request message, in order. */
  readonly requests: Message[] = [];
  readonly #queue: Uint8Array[] = [];
  #wake: (() => void)[] = [];
  closed = false;

  constructor(private readonly kernel: Kernel, readonly portId = 4242) {}

  send(bytes: Uint8Array<ArrayBuffer>, op: string): Promise<void> {
    for (const req of parseMessages(bytes.slice(), op)) {
      this.requests.push(req);
      for (const d of this.kernel(req)) {
        this.inject(d.map((r) => ({ seq: req.seq, pid: this.portId, ...r })));
      }
    }
    return Promise.resolve();
  }

  /** Queues a datagram as if the kernel sent it unasked (a notification, a stale reply). */
  inject(msgs: (Reply & { seq: number; pid: number })[]): void {
    this.#queue.push(datagram(msgs));
    for (const w of this.#wake.splice(0)) w();
  }

  receive(buf: Uint8Array<ArrayBuffer>): number | null {
    const d = this.#queue.shift();
    if (!d) return null;
    buf.set(d.subarray(0, Math.min(d.length, buf.length)));
    return d.length;
  }

  waitReadable(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.#wake.push(() => (clearTimeout(t), resolve(true)));
    });
  }

  close(): void {
    this.closed = true;
  }
}

/** A NetlinkSocket (rtnetlink unless told otherwise) over a {@link FakeConn} answered by `kernel`. */
export function fakeSocket(
  kernel: Kernel,
  o: { protocol?: number; recvBufferSize?: number } = {},
): { sock: NetlinkSocket; conn: FakeConn } {
  const conn = new FakeConn(kernel);
  return {
    sock: new NetlinkSocket(conn, o.protocol ?? NETLINK_ROUTE, conn.portId, true, o.recvBufferSize),
    conn,
  };
}
