/**
 * The one error type of the netlink layer. Kernel failures (errno + extended-ACK text), libnl failures (mapped to
 * the errno the kernel most likely reported), socket/syscall failures and malformed input to the codec all become a
 * {@link NetlinkError} naming the operation. `isNotFound` / `isAlreadyExists` answer the two questions callers ask.
 */

/** Linux errno numbers → names (x86-64/arm64 generic values). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  32: "EPIPE",
  34: "ERANGE",
  61: "ENODATA",
  62: "ETIME",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  84: "EILSEQ",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  122: "EDQUOT",
  125: "ECANCELED",
};

/** errno values used by the layer itself. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EBADF: 9,
  E2BIG: 7,
  EAGAIN: 11,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ERANGE: 34,
  EBADMSG: 74,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRNOTAVAIL: 99,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
} as const;

/** Name of an errno value, e.g. `ENOENT`, or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

const NOT_FOUND = new Set<number>([Errno.ENOENT, Errno.ENODEV, Errno.ESRCH, Errno.EADDRNOTAVAIL]);

/** Details of a {@link NetlinkError}. */
export interface NetlinkErrorInit {
  /** What was being done, e.g. `link add veth0`, `RTM_NEWADDR`, `decode attribute`. */
  op: string;
  /** Positive errno (kernel or libc), or the errno a libnl/codec failure corresponds to. */
  errno: number;
  /** Kernel extended-ACK message, when the kernel sent one. */
  extAck?: string;
  /** Byte offset of the offending attribute in the request (extended ACK), when given. */
  offset?: number;
  /** Free text detail (libnl message, codec detail). */
  detail?: string;
}

/** A failed netlink operation, socket call, or malformed netlink data. */
export class NetlinkError extends Error {
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  readonly extAck?: string;
  readonly offset?: number;
  readonly detail?: string;

  constructor(init: NetlinkErrorInit) {
    const name = errnoName(init.errno);
    const why = [init.extAck, init.detail].filter(Boolean).join("; ");
    super(`${init.op}: ${name}${why ? `: ${why}` : ""}`);
    this.name = "NetlinkError";
    this.op = init.op;
    this.errno = init.errno;
    this.errnoName = name;
    this.extAck = init.extAck;
    this.offset = init.offset;
    this.detail = init.detail;
  }

  /** The object (link, address, family, namespace, device) does not exist. */
  get notFound(): boolean {
    return NOT_FOUND.has(this.errno);
  }

  /** The object already exists. */
  get alreadyExists(): boolean {
    return this.errno === Errno.EEXIST;
  }
}

/** True when `e` is a {@link NetlinkError} meaning "does not exist" (ENOENT, ENODEV, ESRCH, EADDRNOTAVAIL). */
export function isNotFound(e: unknown): boolean {
  return e instanceof NetlinkError && e.notFound;
}

/** True when `e` is a {@link NetlinkError} meaning "already exists" (EEXIST). */
export function isAlreadyExists(e: unknown): boolean {
  return e instanceof NetlinkError && e.alreadyExists;
}

/** A codec error: malformed or oversized netlink data (errno EBADMSG unless given). */
export function malformed(op: string, detail: string, errno: number = Errno.EBADMSG): NetlinkError {
  return new NetlinkError({ op, errno, detail });
}
