/**
 * Transport of the wireguard-go UAPI: one request per connection over the unix socket `<socketDir>/<name>.sock`
 * (wireguard-go's own `/var/run/wireguard`, or the per-state-directory one of src/wireguard/wggo.ts). Sockets live
 * in the file system, which every network namespace shares, so they are reachable whichever namespace the device
 * sits in.
 */

import { DeviceNotFoundError, ProtocolError } from "./errors.ts";

/** Directory where wireguard-go creates its sockets (unless started by src/wireguard/wggo.ts). */
export const DEFAULT_SOCKET_DIR = "/var/run/wireguard";

/** Socket path of a device. */
export function uapiSocketPath(name: string, socketDir = DEFAULT_SOCKET_DIR): string {
  return `${socketDir}/${name}.sock`;
}

/**
 * Sends one request and returns the complete reply (everything up to and including the final `errno=N\n\n`) as text.
 * Throws DeviceNotFoundError when nothing listens on the socket, ProtocolError when the daemon closes the
 * connection early or does not answer within `timeoutMs`.
 */
export async function uapiCall(
  name: string,
  request: string,
  socketDir = DEFAULT_SOCKET_DIR,
  timeoutMs = 30_000,
): Promise<string> {
  return new TextDecoder().decode(await uapiCallBytes(name, request, socketDir, timeoutMs));
}

/**
 * Like {@link uapiCall} but returns the reply's bytes, for decoders that parse bytes (a `get=1` reply is MBs).
 * `sizeHint`, the size of the previous reply, sizes the buffer so that a large reply is read without regrowing it.
 */
export async function uapiCallBytes(
  name: string,
  request: string,
  socketDir = DEFAULT_SOCKET_DIR,
  timeoutMs = 30_000,
  sizeHint = 0,
): Promise<Uint8Array> {
  const op = `uapi ${request.slice(0, 5)} ${name}`;
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: uapiSocketPath(name, socketDir) });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
      throw new DeviceNotFoundError(name, { cause: e });
    }
    throw new ProtocolError(op, `cannot connect to the UAPI socket: ${(e as Error).message}`);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, timeoutMs);
  try {
    await writeAll(conn, new TextEncoder().encode(request));
    return await readUapiReply(conn, sizeHint + (sizeHint >> 2) + FIRST_READ);
  } catch (e) {
    if (timedOut) throw new ProtocolError(op, `no reply within ${timeoutMs} ms`);
    if (e instanceof ProtocolError) throw new ProtocolError(op, e.message.replace(/^[^:]*: /, ""));
    throw new ProtocolError(op, `socket error: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** What {@link readUapiReply} reads from: a connection, or any source of byte chunks. */
export interface ChunkReader {
  read(p: Uint8Array): Promise<number | null>;
}

const FIRST_READ = 64 * 1024;

/**
 * Reads until the reply ends in an `errno=N` line followed by the blank line, into one buffer of `size` bytes that
 * doubles when full (a 10,000-peer reply is 3.5 MB). Returns a view of the reply; ProtocolError if the stream ends
 * before.
 */
export async function readUapiReply(conn: ChunkReader, size = FIRST_READ): Promise<Uint8Array> {
  let buf = new Uint8Array(size);
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = new Uint8Array(Math.max(FIRST_READ, buf.length * 2));
      bigger.set(buf);
      buf = bigger;
    }
    const n = await conn.read(buf.subarray(len));
    if (n === null) throw new ProtocolError("uapi", "connection closed before a complete reply");
    len += n;
    if (replyComplete(buf, len)) return buf.subarray(0, len);
  }
}

const NL = 0x0a;
const ERRNO = new TextEncoder().encode("errno=");
/** How far back from the end the final line is looked for: an `errno=N` line is short. */
const TAIL = 32;

/**
 * True if the first `len` bytes of `b` end with the blank line that follows an `errno=` line: the end of every
 * UAPI reply. Only the last {@link TAIL} bytes are looked at, so the check costs the same for any reply size.
 */
export function replyComplete(b: Uint8Array, len: number): boolean {
  if (len < 2 || b[len - 1] !== NL || b[len - 2] !== NL) return false;
  const stop = Math.max(0, len - TAIL);
  for (let i = len - 3; i >= stop; i--) if (b[i] === NL) return startsWith(b, i + 1, ERRNO);
  return len <= TAIL && startsWith(b, 0, ERRNO);
}

function startsWith(b: Uint8Array, at: number, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}
