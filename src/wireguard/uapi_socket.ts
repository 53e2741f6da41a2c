/**
 * Transport of the wireguard-go UAPI: one request per connection over the unix socket
 * `/var/run/wireguard/<name>.sock`. The socket lives on the host's /run, which every network namespace shares,
 * so it is reachable whichever namespace the device sits in.
 */

import { DeviceNotFoundError, ProtocolError } from "./errors.ts";

/** Directory where wireguard-go creates its sockets. */
export const DEFAULT_SOCKET_DIR = "/var/run/wireguard";

/** Socket path of a device. */
export function uapiSocketPath(name: string, socketDir = DEFAULT_SOCKET_DIR): string {
  return `${socketDir}/${name}.sock`;
}

/**
 * Sends one request and returns the complete reply (everything up to and including the final `errno=N\n\n`).
 * Throws DeviceNotFoundError when nothing listens on the socket, ProtocolError when the daemon closes the
 * connection early or does not answer within `timeoutMs`.
 */
export async function uapiCall(name: string, request: string, socketDir = DEFAULT_SOCKET_DIR, timeoutMs = 30_000) {
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
    return await readReply(conn);
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

/** Reads until the reply ends in an `errno=N` line followed by the blank line. */
async function readReply(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let tail = ""; // the last bytes received, enough to recognise the final "errno=N\n\n" line
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new ProtocolError("uapi", "connection closed before a complete reply");
    chunks.push(buf.slice(0, n));
    total += n;
    tail = (tail + latin1(buf.subarray(Math.max(0, n - 32), n))).slice(-32);
    if (tail.endsWith("\n\n")) {
      const lastLine = tail.lastIndexOf("\n", tail.length - 3);
      if (
        lastLine >= 0 ? tail.startsWith("errno=", lastLine + 1) : total === tail.length && tail.startsWith("errno=")
      ) {
        const all = new Uint8Array(total);
        let off = 0;
        for (const c of chunks) {
          all.set(c, off);
          off += c.length;
        }
        return new TextDecoder().decode(all);
      }
    }
  }
}

function latin1(b: Uint8Array): string {
  return String.fromCharCode(...b);
}
