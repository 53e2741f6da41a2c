/**
 * The libnl socket of a namespace and libnl error mapping. A libnl `nl_sock` is opened inside the namespace
 * through the handle's critical section, cached per handle and closed with it. All use of one socket is serialized
 * (async mutex): libnl sockets are not thread-safe and slow operations run on the FFI thread pool.
 */
import { libnl, libnlRoute } from "../../../ffi/libnl.ts";
import { cstr, PointerSlot, readCString } from "../../../ffi/mem.ts";
import { Errno, NetlinkError } from "../errors.ts";
import type { Closable, Netns } from "../netns.ts";

/** libnl NLE_* code → the errno the kernel (or libnl) most likely meant. */
const NLE_ERRNO: Record<number, number> = {
  1: 5, // FAILURE (kernel ENOTCONN, E2BIG, EMSGSIZE, ENETUNREACH, … are all lost) → EIO
  2: Errno.EINTR,
  3: 9, // BAD_SOCK → EBADF
  4: Errno.EAGAIN,
  5: Errno.ENOBUFS, // NOMEM (kernel ENOBUFS maps here too)
  6: Errno.EEXIST,
  7: Errno.EINVAL,
  8: Errno.ERANGE,
  9: Errno.EMSGSIZE,
  10: Errno.EOPNOTSUPP,
  11: Errno.EAFNOSUPPORT,
  12: Errno.ENOENT, // OBJ_NOTFOUND
  13: 61, // NOATTR → ENODATA
  14: Errno.EINVAL, // MISSING_ATTR
  15: Errno.EAFNOSUPPORT, // AF_MISMATCH
  16: 71, // SEQ_MISMATCH → EPROTO
  17: 75, // MSG_OVERFLOW → EOVERFLOW
  18: Errno.EMSGSIZE, // MSG_TRUNC
  19: Errno.EADDRNOTAVAIL, // NOADDR
  20: Errno.EOPNOTSUPP,
  21: Errno.EBADMSG, // MSG_TOOSHORT
  22: Errno.EOPNOTSUPP, // MSGTYPE_NOSUPPORT
  23: Errno.EINVAL, // OBJ_MISMATCH
  24: Errno.ENOENT, // NOCACHE
  25: Errno.EBUSY,
  26: 93, // PROTO_MISMATCH → EPROTONOSUPPORT
  27: 13, // NOACCESS → EACCES
  28: Errno.EPERM,
  31: Errno.ENODEV,
  32: Errno.EPERM, // IMMUTABLE
  33: Errno.EINTR, // DUMP_INTR
  34: Errno.ERANGE, // ATTRSIZE
};

/** Throws a NetlinkError for a negative libnl return code. */
export function checkNl(rc: number, op: string): void {
  if (rc >= 0) return;
  const code = -rc;
  const text = readCString(libnl().nl_geterror(rc)) ?? `NLE ${code}`;
  throw new NetlinkError({ op, errno: NLE_ERRNO[code] ?? 5, detail: `libnl: ${text}` });
}

/** A connected NETLINK_ROUTE libnl socket. */
export class LibnlSocket implements Closable {
  #sk: Deno.PointerObject | null;
  #lock: Promise<void> = Promise.resolve();

  private constructor(sk: Deno.PointerObject) {
    this.#sk = sk;
  }

  /** Allocates and connects a socket in the calling thread's namespace (synchronous). */
  static connect(): LibnlSocket {
    const nl = libnl();
    const sk = nl.nl_socket_alloc();
    if (sk === null) throw new NetlinkError({ op: "nl_socket_alloc", errno: 12 });
    const rc = nl.nl_connect(sk, 0);
    if (rc < 0) {
      nl.nl_socket_free(sk);
      checkNl(rc, "nl_connect(NETLINK_ROUTE)");
    }
    return new LibnlSocket(sk);
  }

  /** Runs `fn` with the socket pointer, one call at a time. */
  async use<T>(op: string, fn: (sk: Deno.PointerObject) => T | Promise<T>): Promise<T> {
    const prev = this.#lock;
    let release!: () => void;
    this.#lock = new Promise((r) => (release = r));
    await prev;
    try {
      if (this.#sk === null) throw new NetlinkError({ op, errno: 9, detail: "libnl socket closed" });
      return await fn(this.#sk);
    } finally {
      release();
    }
  }

  /** Frees the socket (after any running call). */
  close(): void {
    const sk = this.#sk;
    this.#sk = null;
    if (sk) void this.#lock.then(() => libnl().nl_socket_free(sk));
  }
}

const sockets = new WeakMap<Netns, LibnlSocket>();

/** The libnl socket of `ns`, opened inside it on first use and closed with the handle. */
export function libnlSocket(ns: Netns): LibnlSocket {
  let s = sockets.get(ns);
  if (!s) {
    libnlRoute(); // load the libraries before entering the namespace: only FFI calls happen while switched
    s = ns.open(() => LibnlSocket.connect());
    sockets.set(ns, s);
  }
  return s;
}

/** Parses `text` with nl_addr_parse, runs `fn` with the nl_addr, and puts it afterwards. */
export function withNlAddr<T>(text: string, family: number, op: string, fn: (a: Deno.PointerObject) => T): T {
  const slot = new PointerSlot();
  checkNl(libnl().nl_addr_parse(cstr(text), family, new Uint8Array(slot.buf.buffer)), `${op}: parse ${text}`);
  const a = slot.value;
  if (a === null) throw new NetlinkError({ op, errno: Errno.EINVAL, detail: `cannot parse ${text}` });
  try {
    return fn(a);
  } finally {
    libnl().nl_addr_put(a);
  }
}
