/**
 * Network namespace handles — the only module that calls setns(2).
 *
 * `setns` switches only the calling OS thread, and all JavaScript runs on the main thread, so a namespace is
 * entered in one synchronous critical section: setns(target) → open sockets (sync FFI only; no await, no Deno API,
 * nothing that could run other JS) → setns(back) in `finally`. If switching back fails the process exits (code 70)
 * rather than keep running in the wrong namespace. A socket stays in the namespace it was opened in, so afterwards
 * every call on it, from any thread, acts there.
 *
 * A {@link Netns} handle owns its namespace fd (for moving links: `handle.fd`), a NETLINK_ROUTE and a
 * NETLINK_GENERIC socket opened together, further resources opened through {@link Netns.open}, and a cache of
 * generic-netlink families. `close()` releases all of them (a namespace stays alive while we hold any of them).
 */
import { CLONE_NEWNET, errno, libc, O_CLOEXEC, O_RDONLY } from "../../ffi/libc.ts";
import { cstr } from "../../ffi/mem.ts";
import { NetlinkError } from "./errors.ts";
import { FamilyCache } from "./genl.ts";
import { NETLINK_GENERIC, NETLINK_ROUTE, NetlinkSocket } from "./socket.ts";

const EXIT_NETNS_LOST = 70;

let originFd: number | undefined;

function openNsFd(path: string): number {
  const fd = libc().open(cstr(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new NetlinkError({ op: `open network namespace ${path}`, errno: errno() });
  return fd;
}

/** fd of the namespace the main thread runs in (opened once, before any switch). */
function origin(): number {
  originFd ??= openNsFd("/proc/thread-self/ns/net");
  return originFd;
}

function fatal(msg: string): never {
  const b = new TextEncoder().encode(`FATAL: ${msg}\n`);
  libc().write(2, b, BigInt(b.length));
  Deno.exit(EXIT_NETNS_LOST);
}

/** Runs `fn` synchronously with the main thread switched into namespace `fd`; always switches back. */
function inside<T>(fd: number, label: string, fn: () => T): T {
  const c = libc();
  const back = origin();
  if (c.setns(fd, CLONE_NEWNET) !== 0) throw new NetlinkError({ op: `setns into ${label}`, errno: errno() });
  let result: T;
  try {
    result = fn();
  } finally {
    if (c.setns(back, CLONE_NEWNET) !== 0) {
      fatal(`cannot switch back from network namespace ${label} (errno ${errno()})`);
    }
  }
  if (result instanceof Promise) throw new TypeError(`Netns.open(${label}): the opener must be synchronous`);
  return result;
}

/** Something a handle closes with itself. */
export interface Closable {
  close(): void;
}

/** Valid `ip netns` name: non-empty, ≤ 255 bytes, no `/`, not `.` or `..`. */
export function validateNetnsName(name: string): void {
  if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0") || name.length > 255) {
    throw new NetlinkError({ op: "open network namespace", errno: 22, detail: `invalid namespace name "${name}"` });
  }
}

/** A handle on one network namespace with the sockets opened inside it. */
export class Netns {
  /** Human-readable identity: `host`, `pid 123`, a name or a path. */
  readonly label: string;
  /** Namespace fd (for moving links into this namespace, IFLA_NET_NS_FD). */
  readonly fd: number;
  /** True for the namespace the process runs in (no switching needed). */
  readonly isHost: boolean;
  /** Request socket for rtnetlink. */
  readonly route: NetlinkSocket;
  /** Request socket for generic netlink. */
  readonly generic: NetlinkSocket;
  /** Generic-netlink family ids resolved in this namespace. */
  readonly families: FamilyCache;
  readonly #owned: Closable[] = [];
  #closed = false;

  private constructor(label: string, fd: number, isHost: boolean) {
    this.label = label;
    this.fd = fd;
    this.isHost = isHost;
    try {
      [this.route, this.generic] = this.#enter(() => {
        const route = NetlinkSocket.open(NETLINK_ROUTE);
        try {
          return [route, NetlinkSocket.open(NETLINK_GENERIC)] as const;
        } catch (e) {
          route.close();
          throw e;
        }
      });
    } catch (e) {
      libc().close(fd);
      throw e;
    }
    this.families = new FamilyCache(this.generic);
  }

  #enter<T>(fn: () => T): T {
    if (this.isHost) {
      const r = fn();
      if (r instanceof Promise) throw new TypeError(`Netns.open(${this.label}): the opener must be synchronous`);
      return r;
    }
    return inside(this.fd, this.label, fn);
  }

  /** The namespace the process runs in. */
  static host(): Netns {
    return new Netns("host", openNsFd("/proc/thread-self/ns/net"), true);
  }

  /** The namespace of process `pid` (`/proc/PID/ns/net`). */
  static byPid(pid: number): Netns {
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new NetlinkError({ op: "open network namespace", errno: 22, detail: `invalid pid ${pid}` });
    }
    return Netns.byPath(`/proc/${pid}/ns/net`, `pid ${pid}`);
  }

  /** A namespace by bind-mount or proc path (`/run/netns/NAME`, `/proc/PID/ns/net`, …). */
  static byPath(path: string, label = path): Netns {
    return new Netns(label, openNsFd(path), false);
  }

  /** A namespace created by `ip netns add NAME` (`/run/netns/NAME`). */
  static byName(name: string): Netns {
    validateNetnsName(name);
    return Netns.byPath(`/run/netns/${name}`, name);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Opens a resource inside this namespace: `opener` runs synchronously with the thread switched (it must only make
   * synchronous FFI calls, e.g. create a socket) and its result is closed together with the handle.
   */
  open<T extends Closable>(opener: () => T): T {
    if (this.#closed) {
      throw new NetlinkError({ op: `open in ${this.label}`, errno: 9, detail: "namespace handle closed" });
    }
    const r = this.#enter(opener);
    this.#owned.push(r);
    return r;
  }

  /** Closes a resource opened with {@link open} before the handle closes. */
  release(r: Closable): void {
    const i = this.#owned.indexOf(r);
    if (i >= 0) this.#owned.splice(i, 1);
    r.close();
  }

  /** Closes every socket and resource of the handle and its namespace fd (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#owned.splice(0).reverse()) {
      try {
        r.close();
      } catch { /* keep releasing the rest */ }
    }
    this.generic.close();
    this.route.close();
    libc().close(this.fd);
  }
}
