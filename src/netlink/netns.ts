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
import {
  CLONE_NEWNET,
  errno,
  libc,
  NS_GET_NSTYPE,
  NSFS_MAGIC,
  O_CLOEXEC,
  O_NOCTTY,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
} from "../../ffi/libc.ts";
import { cstr } from "../../ffi/mem.ts";
import { NetlinkError } from "./errors.ts";
import { FamilyCache } from "./genl.ts";
import { NETLINK_GENERIC, NETLINK_ROUTE, NetlinkSocket } from "./socket.ts";

const EXIT_NETNS_LOST = 70;
const EINVAL = 22;
const ETIMEDOUT = 110;

let originFd: number | undefined;

/** A verified network namespace file: an fd fit for setns(2) and the namespace's identity. */
export interface NetnsFile {
  fd: number;
  /** `st_dev:st_ino` of the namespace (equal for every path that reaches the same namespace). */
  id: string;
}

/** fstat(2) of `fd` (through FFI: the netlink layer needs no read permission): identity and file type bits. */
function fstat(fd: number): { id: string; mode: number } | null {
  const st = new BigUint64Array(32); // struct stat; st_dev and st_ino are its first two words on x86_64 and arm64
  if (libc().fstat(fd, st) !== 0) return null;
  // st_mode: after st_nlink (8 bytes) on x86_64, right after st_ino on arm64 (the generic layout).
  const mode = new DataView(st.buffer).getUint32(Deno.build.arch === "x86_64" ? 24 : 16, true);
  return { id: `${st[0]}:${st[1]}`, mode };
}

/** Identity `dev:ino` of what `fd` refers to. */
function fdIdentity(fd: number): string {
  const st = fstat(fd);
  if (!st) throw new NetlinkError({ op: "fstat namespace fd", errno: errno() });
  return st.id;
}

const S_IFMT = 0o170000;
const FILE_KINDS: Record<number, string> = {
  0o010000: "a FIFO",
  0o020000: "a device",
  0o060000: "a device",
  0o140000: "a socket",
  0o040000: "a directory",
};

/** What kind of file `fd` (O_PATH) is, for messages. */
function fileKind(fd: number): string {
  const st = fstat(fd);
  return st ? FILE_KINDS[st.mode & S_IFMT] ?? "a regular file" : "not a namespace file";
}

const NS_TYPES: Record<number, string> = {
  0x00020000: "mount",
  0x02000000: "cgroup",
  0x04000000: "uts",
  0x08000000: "ipc",
  0x10000000: "user",
  0x20000000: "pid",
  0x00000080: "time",
};

/**
 * Turns an O_PATH fd of `path` into a network namespace fd, or throws. The fd must be on nsfs (so opening it cannot
 * block or touch a device); it is reopened through `/proc/self/fd` (the same inode, never the path again), must be
 * a network namespace (NS_GET_NSTYPE), and its identity is read from the reopened fd — what we hold, not what the
 * path names now. Closes `pathFd` in every case.
 */
function verifyNetns(pathFd: number, path: string): NetnsFile {
  const c = libc();
  const op = `open network namespace ${path}`;
  try {
    const sfs = new BigInt64Array(32); // struct statfs; f_type is its first word
    if (c.fstatfs(pathFd, sfs) !== 0) throw new NetlinkError({ op, errno: errno() });
    if (sfs[0] !== BigInt(NSFS_MAGIC)) {
      throw new NetlinkError({ op, errno: EINVAL, detail: `${fileKind(pathFd)}, not a namespace file (nsfs)` });
    }
    const fd = c.open(cstr(`/proc/self/fd/${pathFd}`), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) throw new NetlinkError({ op, errno: errno() });
    try {
      const type = c.ioctl(fd, BigInt(NS_GET_NSTYPE));
      if (type < 0) throw new NetlinkError({ op: `${op}: NS_GET_NSTYPE`, errno: errno() });
      if (type !== CLONE_NEWNET) {
        throw new NetlinkError({
          op,
          errno: EINVAL,
          detail: `a ${NS_TYPES[type] ?? `type 0x${type.toString(16)}`} namespace, not a network namespace`,
        });
      }
      return { fd, id: fdIdentity(fd) };
    } catch (e) {
      c.close(fd);
      throw e;
    }
  } finally {
    c.close(pathFd);
  }
}

/**
 * Opens `path` as a network namespace without blocking on what it names (a FIFO, a device): see
 * {@link verifyNetns}. The path lookup itself runs on the calling thread; use {@link openNetnsFileAsync} for paths
 * that come from users.
 */
export function openNetnsFile(path: string): NetnsFile {
  const pathFd = libc().open(cstr(path), O_PATH | O_CLOEXEC);
  if (pathFd < 0) throw new NetlinkError({ op: `open network namespace ${path}`, errno: errno() });
  return verifyNetns(pathFd, path);
}

/** Closes a file from {@link openNetnsFile} that did not become a {@link Netns} handle. */
export function closeNetnsFile(file: NetnsFile): void {
  libc().close(file.fd);
}

/**
 * {@link openNetnsFile} with the path lookup on Deno's FFI thread pool, bounded by `timeoutMs`: a path on a hung
 * file system (FUSE, NFS) fails with ETIMEDOUT instead of stalling the agent (a lookup that finishes later has its
 * fd closed).
 */
export async function openNetnsFileAsync(path: string, timeoutMs = 5000): Promise<NetnsFile> {
  const c = libc();
  const name = cstr(path);
  const lookup = c.open_nb(name, O_PATH | O_CLOEXEC);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
  const first = await Promise.race([lookup, timeout]).finally(() => clearTimeout(timer));
  if (first === "timeout") {
    void lookup.then((fd) => fd >= 0 && c.close(fd));
    throw new NetlinkError({
      op: `open network namespace ${path}`,
      errno: ETIMEDOUT,
      detail: `the path lookup took longer than ${timeoutMs} ms`,
    });
  }
  // The pool thread's errno is not ours: a failed lookup is repeated here (fast: it already failed once) for errno.
  return first >= 0 ? verifyNetns(first, path) : openNetnsFile(path);
}

/** fd of the namespace the main thread runs in (opened once, before any switch). */
function origin(): number {
  originFd ??= openNetnsFile("/proc/thread-self/ns/net").fd;
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
  /** Identity of the namespace (`dev:ino`), read from the fd we hold. */
  readonly id: string;
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

  private constructor(label: string, { fd, id }: NetnsFile, isHost: boolean) {
    this.label = label;
    this.fd = fd;
    this.id = id;
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
    return new Netns("host", openNetnsFile("/proc/thread-self/ns/net"), true);
  }

  /** The namespace of process `pid` (`/proc/PID/ns/net`). */
  static byPid(pid: number): Netns {
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new NetlinkError({ op: "open network namespace", errno: 22, detail: `invalid pid ${pid}` });
    }
    return Netns.byPath(`/proc/${pid}/ns/net`, `pid ${pid}`);
  }

  /** A namespace by bind-mount or proc path (`/run/netns/NAME`, `/proc/PID/ns/net`, …); see {@link openNetnsFile}. */
  static byPath(path: string, label = path): Netns {
    return new Netns(label, openNetnsFile(path), false);
  }

  /** A namespace from a file opened with {@link openNetnsFile} or {@link openNetnsFileAsync}; the handle owns its fd. */
  static fromFile(file: NetnsFile, label: string): Netns {
    return new Netns(label, file, false);
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
