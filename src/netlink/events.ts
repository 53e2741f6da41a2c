/**
 * Link and address change events of one namespace (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR).
 *
 * Deno cannot watch a foreign fd, so a `nonblocking` poll([netlink fd, eventfd]) waits on the FFI thread pool and
 * the main thread then drains the socket with MSG_DONTWAIT — the event loop is never blocked. The receive buffer is
 * 8 MiB (SO_RCVBUFFORCE); if the kernel still drops notifications (ENOBUFS), a `resync` event tells the consumer to
 * re-read the full state. `stop()` writes the eventfd, so the pending poll returns and the process can exit.
 */
import { EFD_CLOEXEC, errno, libc, POLLIN } from "../../ffi/libc.ts";
import { Errno, NetlinkError } from "./errors.ts";
import type { Message } from "./message.ts";
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
    this.fd = libc().eventfd(0, EFD_CLOEXEC);
    if (this.fd < 0) throw new NetlinkError({ op: "eventfd", errno: errno() });
  }
  signal(): void {
    libc().write(this.fd, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
  }
  close(): void {
    libc().close(this.fd);
  }
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

/** A running subscription; events are delivered to the handler in kernel order. */
export class NetlinkMonitor {
  readonly #ns: Netns;
  readonly #sock: NetlinkSocket;
  readonly #efd: EventFd;
  readonly #onEvent: (e: NetlinkEvent) => void;
  #stopping = false;
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
    try {
      this.#efd = new EventFd();
    } catch (e) {
      ns.release(this.#sock);
      throw e;
    }
    this.done = this.#run();
    this.done.catch(() => {}); // observed through `done`; never an unhandled rejection that kills the process
  }

  /**
   * Subscribes in namespace `ns` (synchronously: changes after this returns are delivered) and calls `onEvent` for
   * every notification. A throwing handler stops the monitor and rejects {@link done}.
   */
  static start(ns: Netns, onEvent: (e: NetlinkEvent) => void, opts: MonitorOptions = {}): NetlinkMonitor {
    return new NetlinkMonitor(ns, onEvent, opts);
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
        const ev = toEvent(m, at);
        if (ev) this.#onEvent(ev);
      }
    }
  }

  async #run(): Promise<void> {
    const pfds = new Uint8Array(16); // struct pollfd[2] { i32 fd; i16 events; i16 revents; }
    const v = new DataView(pfds.buffer);
    v.setInt32(0, this.#sock.fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(8, this.#efd.fd, true);
    v.setInt16(12, POLLIN, true);
    try {
      while (!this.#stopping) {
        const n = await libc().poll_nb(pfds, 2n, -1);
        if (this.#stopping || (n > 0 && v.getInt16(14, true) !== 0)) break;
        if (n > 0) this.#drain();
      }
    } finally {
      this.#stopping = true;
      this.#ns.release(this.#sock);
      this.#efd.close();
    }
  }

  /** Stops the monitor and releases its socket; resolves when the poll has returned. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#efd.signal();
    }
    await this.done.catch(() => {});
  }
}
