/**
 * A raw `AF_NETLINK` socket over libc FFI, usable for NETLINK_ROUTE and NETLINK_GENERIC: bound with a
 * kernel-assigned port id, extended ACK and capped ACKs on, replies received with MSG_TRUNC (a truncated datagram is
 * an error, never silent corruption). rtnetlink sockets also ask for strict checking of requests
 * (NETLINK_GET_STRICT_CHK, Linux ≥ 4.20), which makes the kernel honour filters in dump requests (e.g. the ifindex
 * of an address dump); on an older kernel the option is refused, the socket works without it and
 * {@link NetlinkSocket.strictCheck} is false. {@link NetlinkSocket.request} and {@link NetlinkSocket.dump} keep one request in
 * flight per socket (async mutex), match replies by sequence number and port id, and turn NLMSG_ERROR / NLMSG_DONE
 * into results or a {@link NetlinkError}. Waiting never blocks the event loop: replies are read with MSG_DONTWAIT
 * and, when none is queued yet, a `nonblocking` poll() waits on the FFI thread pool.
 *
 * The socket's network namespace is the one the calling thread is in when {@link NetlinkSocket.open} runs; open
 * sockets for other namespaces only through a namespace handle (`netns.ts`).
 *
 * The datagrams themselves go through a {@link NetlinkConn}: the kernel's ({@link KernelConn}), or a test double's
 * (tests/doubles/netlink.ts) that answers requests in-process, so codec and error paths are tested without root.
 */
import {
  AF_NETLINK,
  errno,
  libc,
  MSG_DONTWAIT,
  MSG_TRUNC,
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  POLLIN,
  SO_RCVBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from "../../ffi/libc.ts";
import { Errno, NetlinkError } from "./errors.ts";
import {
  type Message,
  MessageEncoder,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  parseDone,
  parseError,
  parseMessages,
} from "./message.ts";

/** Netlink protocol numbers. */
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;
/** Socket option (SOL_NETLINK): validate requests strictly and apply the filters of dump requests. */
export const NETLINK_GET_STRICT_CHK = 12;

/** Options of {@link NetlinkSocket.open}. */
export interface SocketOptions {
  /** Multicast groups to join (e.g. RTNLGRP_LINK = 1). */
  groups?: number[];
  /** Receive buffer size set with SO_RCVBUFFORCE (needs CAP_NET_ADMIN). */
  rcvbuf?: number;
  /** Receive buffer for one datagram in bytes (default 128 KiB). */
  recvBufferSize?: number;
}

/** Options of one request. */
export interface RequestOptions {
  /** Send on the FFI thread pool: for operations the kernel spends milliseconds on (link delete). */
  offThread?: boolean;
  /** Give up waiting for the reply after this many ms (default 30 000) with ETIMEDOUT. */
  timeoutMs?: number;
}

const MAX_DUMP_RETRIES = 8;

/** What a {@link NetlinkSocket} sends and receives datagrams through. */
export interface NetlinkConn {
  /** The file descriptor, for pollers (-1 for a conn without one). */
  readonly fd: number;
  /** Sends one datagram; throws a {@link NetlinkError} naming `op` when it is not taken whole. */
  send(bytes: Uint8Array<ArrayBuffer>, op: string, offThread: boolean): Promise<void>;
  /** One queued datagram (its full length: longer than the buffer means truncated), or null when none is queued. */
  receive(buf: Uint8Array<ArrayBuffer>, op: string): number | null;
  /** Waits until a datagram is queued; false on timeout. */
  waitReadable(timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** The kernel's side of a netlink socket, over libc. */
export class KernelConn implements NetlinkConn {
  readonly #pollfd = new Uint8Array(8);

  constructor(readonly fd: number) {
    const pv = new DataView(this.#pollfd.buffer);
    pv.setInt32(0, fd, true);
    pv.setInt16(4, POLLIN, true);
  }

  async send(bytes: Uint8Array<ArrayBuffer>, op: string, offThread: boolean): Promise<void> {
    const c = libc();
    if (offThread) {
      const n = await c.sendto_nb(this.fd, bytes, BigInt(bytes.length), 0, null, 0);
      if (Number(n) === bytes.length) return;
      // The pool thread's errno is out of reach; the kernel did not take the message, so send again here to learn it.
    }
    for (;;) {
      const n = c.sendto(this.fd, bytes, BigInt(bytes.length), 0, null, 0);
      if (Number(n) === bytes.length) return;
      const e = n < 0n ? errno() : Errno.EMSGSIZE;
      if (e === Errno.EINTR) continue;
      throw new NetlinkError({ op, errno: e, detail: n < 0n ? "sendto failed" : `short send of ${n} bytes` });
    }
  }

  receive(buf: Uint8Array<ArrayBuffer>, op: string): number | null {
    for (;;) {
      const n = Number(libc().recv(this.fd, buf, BigInt(buf.length), MSG_DONTWAIT | MSG_TRUNC));
      if (n >= 0) return n;
      const e = errno();
      if (e === Errno.EINTR) continue;
      if (e === Errno.EAGAIN) return null;
      throw new NetlinkError({ op, errno: e, detail: "recv failed" });
    }
  }

  async waitReadable(timeoutMs: number): Promise<boolean> {
    return (await libc().poll_nb(this.#pollfd, 1n, timeoutMs)) > 0;
  }

  close(): void {
    libc().close(this.fd);
  }
}

function trySetIntOpt(fd: number, level: number, name: number, value: number): boolean {
  const v = new Int32Array([value]);
  return libc().setsockopt(fd, level, name, new Uint8Array(v.buffer), 4) === 0;
}

function setIntOpt(fd: number, level: number, name: number, value: number, what: string): void {
  if (!trySetIntOpt(fd, level, name, value)) throw new NetlinkError({ op: `setsockopt ${what}`, errno: errno() });
}

/** A bound netlink socket with a request engine; close it when done. */
export class NetlinkSocket {
  readonly protocol: number;
  readonly portId: number;
  /** Whether the kernel checks requests strictly and applies dump filters (rtnetlink on Linux ≥ 4.20). */
  readonly strictCheck: boolean;
  #seq: number;
  #received = 0;
  #closed = false;
  #lock: Promise<void> = Promise.resolve();
  readonly #rbuf: Uint8Array<ArrayBuffer>;

  /** A socket over `conn` (normally made by {@link NetlinkSocket.open}; tests pass a double). */
  constructor(
    readonly conn: NetlinkConn,
    protocol: number,
    portId: number,
    strictCheck: boolean,
    recvBufferSize = 128 * 1024,
  ) {
    this.protocol = protocol;
    this.portId = portId;
    this.strictCheck = strictCheck;
    this.#seq = (Date.now() & 0x7fffffff) >>> 0;
    this.#rbuf = new Uint8Array(recvBufferSize);
  }

  /** The file descriptor (for pollers of notifications). */
  get fd(): number {
    return this.conn.fd;
  }

  /** Opens and binds a socket in the calling thread's network namespace (synchronous: safe inside setns). */
  static open(protocol: number, opts: SocketOptions = {}): NetlinkSocket {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new NetlinkError({ op: `socket(AF_NETLINK, ${protocol})`, errno: errno() });
    try {
      setIntOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
      setIntOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK");
      const strict = protocol === NETLINK_ROUTE && trySetIntOpt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      if (opts.rcvbuf) setIntOpt(fd, SOL_SOCKET, SO_RCVBUFFORCE, opts.rcvbuf, "SO_RCVBUFFORCE");
      const sa = new Uint8Array(12);
      new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
      if (c.bind(fd, sa, 12) !== 0) throw new NetlinkError({ op: "bind netlink socket", errno: errno() });
      const len = new Uint32Array([12]);
      if (c.getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0) {
        throw new NetlinkError({ op: "getsockname netlink socket", errno: errno() });
      }
      const portId = new DataView(sa.buffer).getUint32(4, true);
      for (const g of opts.groups ?? []) setIntOpt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g, `join group ${g}`);
      return new NetlinkSocket(new KernelConn(fd), protocol, portId, strict, opts.recvBufferSize);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many netlink messages this socket has received so far (replies, ACKs, notifications; for metrics). */
  get received(): number {
    return this.#received;
  }

  /** Closes the socket (idempotent). A request waiting on it fails with EBADF once its poll returns. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.conn.close();
  }

  #check(op: string): void {
    if (this.#closed) throw new NetlinkError({ op, errno: 9, detail: "socket closed" });
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#lock;
    let release!: () => void;
    this.#lock = new Promise((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  /**
   * One nonblocking receive: the messages of one datagram (copied), or null when nothing is queued. Throws a
   * {@link NetlinkError} on failure, e.g. ENOBUFS when notifications were dropped, EMSGSIZE on a truncated datagram.
   */
  receiveNow(op = "recv netlink"): Message[] | null {
    this.#check(op);
    const n = this.conn.receive(this.#rbuf, op);
    if (n === null) return null;
    if (n > this.#rbuf.length) {
      throw new NetlinkError({ op, errno: Errno.EMSGSIZE, detail: `datagram of ${n} bytes truncated` });
    }
    const ms = parseMessages(this.#rbuf.slice(0, n), op);
    this.#received += ms.length;
    return ms;
  }

  /** Waits (off the JS thread) until a datagram is queued; false on timeout. */
  waitReadable(timeoutMs: number): Promise<boolean> {
    return this.conn.waitReadable(timeoutMs);
  }

  async #receive(op: string, deadline: number): Promise<Message[]> {
    for (;;) {
      const ms = this.receiveNow(op);
      if (ms) return ms;
      const left = deadline - performance.now();
      if (left <= 0 || !(await this.waitReadable(Math.ceil(left)))) {
        if (performance.now() >= deadline) throw new NetlinkError({ op, errno: Errno.ETIMEDOUT, detail: "no reply" });
      }
    }
  }

  async #exchange(msg: MessageEncoder, op: string, dump: boolean, opts: RequestOptions): Promise<Message[]> {
    this.#check(op);
    const seq = this.#nextSeq();
    const bytes = msg.finish(seq, this.portId, NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK));
    await this.conn.send(bytes, op, opts.offThread ?? false);
    const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
    const out: Message[] = [];
    let interrupted = false;
    for (;;) {
      for (const m of await this.#receive(op, deadline)) {
        if (m.seq !== seq || (m.pid !== this.portId && m.pid !== 0)) continue; // stale reply or notification
        if (m.type === NLMSG_NOOP || m.type === NLMSG_OVERRUN) continue;
        if (m.type === NLMSG_ERROR) {
          const e = parseError(m, op);
          if (e.errno !== 0) throw new NetlinkError({ op, errno: e.errno, extAck: e.extAck, offset: e.offset });
          return out;
        }
        if (m.type === NLMSG_DONE) {
          const e = parseDone(m, op);
          if (e.errno !== 0) throw new NetlinkError({ op, errno: e.errno, extAck: e.extAck, offset: e.offset });
          if (interrupted) throw new NetlinkError({ op, errno: Errno.EINTR, detail: "dump interrupted" });
          return out;
        }
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        out.push(m);
      }
    }
  }

  /**
   * Sends `msg` with NLM_F_REQUEST|NLM_F_ACK without reading anything: `seq` is known at once, `sent` settles when
   * the kernel took the message. The caller reads the ACK itself among the socket's other messages (a barrier on a
   * notification socket, whose reads belong to its own loop).
   */
  post(msg: MessageEncoder, op = `netlink message ${msg.type}`): { seq: number; sent: Promise<void> } {
    this.#check(op);
    const seq = this.#nextSeq();
    return { seq, sent: this.conn.send(msg.finish(seq, this.portId, NLM_F_REQUEST | NLM_F_ACK), op, false) };
  }

  /**
   * Sends `msg` with NLM_F_REQUEST|NLM_F_ACK and returns the reply messages that came before the ACK (empty for
   * plain changes). Throws {@link NetlinkError} with the kernel's errno and extended-ACK text on NLMSG_ERROR.
   */
  request(msg: MessageEncoder, op = `netlink request ${msg.type}`, opts: RequestOptions = {}): Promise<Message[]> {
    return this.#locked(() => this.#exchange(msg, op, false, opts));
  }

  /** Sends `msg` as a dump (NLM_F_DUMP) and returns every message up to NLMSG_DONE; retries interrupted dumps. */
  dump(msg: MessageEncoder, op = `netlink dump ${msg.type}`, opts: RequestOptions = {}): Promise<Message[]> {
    return this.#locked(async () => {
      for (let attempt = 1;; attempt++) {
        try {
          return await this.#exchange(msg, op, true, opts);
        } catch (e) {
          if (!(e instanceof NetlinkError && e.errno === Errno.EINTR && attempt < MAX_DUMP_RETRIES)) throw e;
        }
      }
    });
  }
}
