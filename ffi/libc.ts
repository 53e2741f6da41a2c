/**
 * libc symbols used by the netlink layer: sockets, namespaces, poll/eventfd and errno. Loaded once, by absolute
 * path. `*_nb` symbols are `nonblocking` twins that run on Deno's FFI thread pool (they cannot report errno; use
 * them only where the return value carries the result, or retry synchronously to learn errno).
 */
import { openLibrary } from "./load.ts";

const symbols = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  sendto_nb: {
    name: "sendto",
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
    nonblocking: true,
  },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  open_nb: { name: "open", parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
  fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  // ioctl is variadic; the request codes used here take no argument, so the fixed part is the whole call.
  ioctl: { parameters: ["i32", "u64"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  poll_nb: { name: "poll", parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The libc symbol table (opened on first use). */
export function libc(): Deno.DynamicLibrary<typeof symbols>["symbols"] {
  lib ??= openLibrary("libc.so.6", symbols);
  return lib.symbols;
}

/** errno of the last failed libc call on the calling (main) thread; read it immediately after the call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32(0);
}

/** Linux constants used across the netlink layer. */
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUFFORCE = 33;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;
export const O_NOCTTY = 0o400;
/** Open a path without opening the file itself: no FIFO wait, no device side effects (open(2)). */
export const O_PATH = 0o10000000;
/** statfs f_type of the namespace file system (nsfs), linux/magic.h. */
export const NSFS_MAGIC = 0x6e736673;
/** ioctl on a namespace fd: which kind of namespace it is (_IO(0xb7, 0x3), linux/nsfs.h, Linux ≥ 4.11). */
export const NS_GET_NSTYPE = 0xb703;
export const CLONE_NEWNET = 0x40000000;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const POLLIN = 1;
