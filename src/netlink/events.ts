/**
 * Link and address change events of one namespace (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR).
 *
 * Deno cannot watch a foreign fd, so ONE `nonblocking` poll over every monitor's socket (plus an eventfd that wakes
 * it when the set changes) waits on the FFI thread pool, however many namespaces are watched — a thread per
 * namespace would exhaust the pool that file I/O and DNS share. The main thread then drains a ready socket with
 * MSG_DONTWAIT, so the event loop is never blocked. The receive buffer is 8 MiB (SO_RCVBUFFORCE); if the kernel still
 * drops notifications (ENOBUFS), a `resync` event tells the consumer to re-read the full state. When the last monitor
 * stops the poll returns and nothing keeps the process alive.
 */
import { EFD_CLOEXEC, EFD_NONBLOCK, errno, libc, POLLIN } from "../../ffi/libc.ts";
import { Errno, NetlinkError } from "./errors.ts";
import { type Message, MessageEncoder, NLMSG_ERROR, NLMSG_NOOP, parseError } from "./message.ts";
import type { Netns } from "./netns.ts";
import {
  type Address,
  decodeAddress,
  decodeLink,
  type Link,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
} from "./rtnl.ts";
import { NETLINK_ROUTE, NetlinkSocket } from "./socket.ts";

/** One change notification; `at` is `performance.now()` when it was read. */
export type NetlinkEvent =
  | { type: "link"; action: "new" | "del"; link: Link; at: number }
  | { type: "address"; action: "new" | "del"; address: Address; at: number }
  | { type: "resync"; reason: string; at: number };

/** Options of {@link NetlinkMonitor.start}. */
export interface MonitorOptions {
  /** What to watch (default all three). */
  groups?: ("link" | "ipv4" | "ipv6")[];
  /** Receive buffer in bytes (default 8 MiB). */
  rcvbuf?: number;
}

const GROUPS = { link: RTNLGRP_LINK, ipv4: RTNLGRP_IPV4_IFADDR, ipv6: RTNLGRP_IPV6_IFADDR } as const;

class EventFd {
  readonly fd: number;
  constructor() {
    this.fd = libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.fd < 0) throw new NetlinkError({ op: "eventfd", errno: errno() });
  }
  signal(): void {
    libc().write(this.fd, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  }
  /** Resets the counter (nonblocking: nothing to read is fine). */
  drain(): void {
    libc().read(this.fd, new Uint8Array(8), 8n);
  }
}

/**
 * One poll thread for every watched fd of the process. `watch` adds an fd with its readable-callback; `unwatch`
 * removes it and resolves once the poll no longer includes it, so the caller may close the fd without a poll still
 * holding its number.
 */
class SharedPoller {
  readonly #fds = new Map<number, () => void>();
  #wake?: EventFd;
  #running = false;
  /** Resolved by the loop whenever it (re)starts a poll with the current set, or stops. */
  #applied: (() => void)[] = [];

  /** How many fds are watched. */
  get size(): number {
    return this.#fds.size;
  }

  watch(fd: number, onReadable: () => void): void {
    this.#fds.set(fd, onReadable);
    void this.#kick();
  }

  unwatch(fd: number): Promise<void> {
    this.#fds.delete(fd);
    return this.#kick();
  }

  #kick(): Promise<void> {
    const applied = new Promise<void>((r) => this.#applied.push(r));
    this.#wake ??= new EventFd();
    if (this.#running) this.#wake.signal();
    else {
      this.#running = true;
      void this.#run();
    }
    return applied;
  }

  #settle(): void {
    for (const r of this.#applied.splice(0)) r();
  }

  async #run(): Promise<void> {
    const wake = this.#wake!;
    try {
      while (this.#fds.size > 0) {
        const fds = [...this.#fds.keys()];
        const pfds = new Uint8Array(8 * (fds.length + 1)); // struct pollfd { i32 fd; i16 events; i16 revents; }
        const v = new DataView(pfds.buffer);
        [wake.fd, ...fds].forEach((fd, i) => {
          v.setInt32(8 * i, fd, true);
          v.setInt16(8 * i + 4, POLLIN, true);
        });
        this.#settle();
        const n = await libc().poll_nb(pfds, BigInt(fds.length + 1), -1);
        if (n <= 0) continue;
        if (v.getInt16(6, true) !== 0) wake.drain();
        fds.forEach((fd, i) => {
          if (v.getInt16(8 * (i + 1) + 6, true) !== 0) this.#fds.get(fd)?.();
        });
      }
    } finally {
      this.#running = false;
      this.#settle();
    }
  }
}

const poller = new SharedPoller();

/** How many sockets the shared poll watches (one per running monitor). */
export function watchedSockets(): number {
  return poller.size;
}

/** Converts one notification into an event (null for other message types). */
export function toEvent(m: Message, at: number): NetlinkEvent | null {
  switch (m.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return { type: "link", action: m.type === RTM_NEWLINK ? "new" : "del", link: decodeLink(m), at };
    case RTM_NEWADDR:
    case RTM_DELADDR:
      return { type: "address", action: m.type === RTM_NEWADDR ? "new" : "del", address: decodeAddress(m), at };
    default:
      return null;
  }
}

/** What a {@link NetlinkMonitor.sync} gets from a monitor that has stopped. */
function monitorStopped(): NetlinkError {
  return new NetlinkError({ op: "netlink monitor barrier", errno: Errno.EBADF, detail: "monitor stopped" });
}

/** A running subscription; events are delivered to the handler in kernel order. */
export class NetlinkMonitor {
  readonly #ns: Netns;
  readonly #sock: NetlinkSocket;
  readonly #onEvent: (e: NetlinkEvent) => void;
  #stopping?: Promise<void>;
  #settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** {@link sync} calls waiting for their acknowledgement, by sequence number. */
  readonly #barriers = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  /**
   * Settles when the monitor has stopped; rejects if the handler threw, a message could not be decoded or the socket
   * failed (e.g. the namespace handle was closed first) — the monitor then has stopped: resubscribe and resync.
   */
  readonly done: Promise<void>;

  private constructor(ns: Netns, onEvent: (e: NetlinkEvent) => void, opts: MonitorOptions) {
    this.#ns = ns;
    this.#onEvent = onEvent;
    const groups = (opts.groups ?? ["link", "ipv4", "ipv6"]).map((g) => GROUPS[g]);
    this.#sock = ns.open(() => NetlinkSocket.open(NETLINK_ROUTE, { groups, rcvbuf: opts.rcvbuf ?? 8 << 20 }));
    this.done = new Promise((resolve, reject) => this.#settle = { resolve, reject });
    this.done.catch(() => {}); // observed through `done`; never an unhandled rejection that kills the process
    poller.watch(this.#sock.fd, () => this.#readable());
  }

  /**
   * Subscribes in namespace `ns` (synchronously: changes after this returns are delivered) and calls `onEvent` for
   * every notification. A throwing handler stops the monitor and rejects {@link done}.
   */
  static start(ns: Netns, onEvent: (e: NetlinkEvent) => void, opts: MonitorOptions = {}): NetlinkMonitor {
    return new NetlinkMonitor(ns, onEvent, opts);
  }

  /**
   * Resolves once every notification the kernel queued for this monitor before the call has been handed to
   * `onEvent`: it sends a no-op request, whose acknowledgement the kernel queues behind them (a netlink socket keeps
   * its messages in order), and resolves when the drain reaches it. Rejects when the monitor stops first.
   */
  async sync(): Promise<void> {
    if (this.#stopping) throw monitorStopped();
    const op = "netlink monitor barrier";
    const done = Promise.withResolvers<void>();
    const { seq, sent } = this.#sock.post(new MessageEncoder(NLMSG_NOOP, 0, op), op);
    this.#barriers.set(seq, done);
    try {
      await sent;
    } catch (e) {
      this.#barriers.delete(seq);
      throw e;
    }
    return await done.promise;
  }

  #readable(): void {
    if (this.#stopping) return;
    try {
      this.#drain();
    } catch (e) {
      void this.#finish(e);
    }
  }

  /** Reads and dispatches everything queued. */
  #drain(): void {
    for (;;) {
      let ms: Message[] | null;
      try {
        ms = this.#sock.receiveNow("receive netlink events");
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === Errno.ENOBUFS) {
          this.#onEvent({ type: "resync", reason: "kernel dropped notifications (ENOBUFS)", at: performance.now() });
          continue;
        }
        throw e;
      }
      if (!ms) return;
      const at = performance.now();
      for (const m of ms) {
        const barrier = m.type === NLMSG_ERROR ? this.#barriers.get(m.seq) : undefined;
        if (barrier) {
          this.#barriers.delete(m.seq);
          const e = parseError(m, "netlink monitor barrier");
          if (e.errno === 0) barrier.resolve();
          else barrier.reject(new NetlinkError({ op: "netlink monitor barrier", errno: e.errno }));
          continue;
        }
        const ev = toEvent(m, at);
        if (ev) this.#onEvent(ev);
      }
    }
  }

  /** Leaves the shared poll, then releases the socket; settles {@link done}. */
  #finish(error?: unknown): Promise<void> {
    this.#stopping ??= (async () => {
      for (const b of this.#barriers.values()) b.reject(monitorStopped());
      this.#barriers.clear();
      await poller.unwatch(this.#sock.fd);
      this.#ns.release(this.#sock);
      if (error === undefined) this.#settle.resolve();
      else this.#settle.reject(error);
    })();
    return this.#stopping;
  }

  /** Stops the monitor and releases its socket; resolves when the poll no longer watches it. Idempotent. */
  async stop(): Promise<void> {
    await this.#finish();
    await this.done.catch(() => {});
  }
}
