/**
 * The wireguard-go holder's protocol, and its client. A holder (src/wireguard/holder.ts, program
 * wireguard-go-holder) starts wireguard-go daemons on request, so that they are its processes rather than the
 * requester's: in a pod, the daemons then live in the holder's container and survive a restart of wg-controller's
 * (deploy/README.md, "WireGuard in a pod").
 *
 * One request per connection on the holder's unix socket, one JSON line each way:
 *
 *   → {"start":{"name":"wg0","stateDir":"/run/dn42op/wireguard-go/default/n1","netnsPath":"/proc/42/fd/17",
 *       "startTimeoutMs":30000}}
 *   ← {"pid":4321}        the daemon answers on its UAPI socket
 *   ← {"error":"…"}       it did not start, or the request was refused
 *
 * The daemon is started exactly as src/wireguard/wggo.ts starts it (same argv, namespaces, PID and log files in the
 * state directory); everything after the start (UAPI, adoption by PID file, stop by PID) needs no holder. The
 * request names no program: the holder runs only its own wireguard-go. Nothing secret passes here (keys are set over
 * the daemon's UAPI socket afterwards).
 */

import { DaemonError, InvalidConfigError } from "./errors.ts";
import { checkDeviceName } from "./uapi.ts";

/** A start request, validated. */
export interface StartRequest {
  name: string;
  /** State directory (absolute): PID and log files, the daemon's /var/run. */
  stateDir: string;
  /** Network namespace to start in (absolute path); absent: the holder's own. */
  netnsPath?: string;
  /** How long the holder waits for the daemon's UAPI socket. */
  startTimeoutMs?: number;
}

/** The longest start a request may ask the holder to wait for. */
export const MAX_START_TIMEOUT_MS = 300_000;

/** Upper bound of a request line; a longer one is refused. */
export const MAX_REQUEST_BYTES = 16 * 1024;

/** The request line of {@link StartRequest} (newline-terminated JSON). */
export function encodeStartRequest(r: StartRequest): string {
  return `${JSON.stringify({ start: r })}\n`;
}

/** An absolute path without `.`/`..` segments, empty segments or NUL: what the holder may hand to nsenter and mount. */
function checkPath(v: unknown, field: string): string {
  if (typeof v !== "string" || !v.startsWith("/") || v.includes("\0") || v.length > 4096) {
    throw new InvalidConfigError(field, "must be an absolute path");
  }
  if (v.slice(1).split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new InvalidConfigError(field, `"${v}" is not a normalized absolute path`);
  }
  return v;
}

/**
 * Parses and validates one request line (pure): throws InvalidConfigError naming the field (`start.name`, …) on
 * anything but a start request with a valid device name, absolute normalized paths and a bounded timeout.
 */
export function parseStartRequest(line: string): StartRequest {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    throw new InvalidConfigError("request", "not a JSON object");
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObj(msg)) throw new InvalidConfigError("request", "not a JSON object");
  const extra = Object.keys(msg).find((k) => k !== "start");
  if (extra) throw new InvalidConfigError(`request.${extra}`, "unknown operation (only start is served)");
  const s = msg.start;
  if (!isObj(s)) throw new InvalidConfigError("start", "missing or not an object");
  const unknown = Object.keys(s).find((k) => !["name", "stateDir", "netnsPath", "startTimeoutMs"].includes(k));
  if (unknown) throw new InvalidConfigError(`start.${unknown}`, "unknown field");
  if (typeof s.name !== "string") throw new InvalidConfigError("start.name", "must be a string");
  try {
    checkDeviceName(s.name);
  } catch (e) {
    throw new InvalidConfigError("start.name", (e as Error).message.replace(/^[^:]*: /, ""));
  }
  const out: StartRequest = { name: s.name, stateDir: checkPath(s.stateDir, "start.stateDir") };
  if (s.netnsPath !== undefined) out.netnsPath = checkPath(s.netnsPath, "start.netnsPath");
  if (s.startTimeoutMs !== undefined) {
    const t = s.startTimeoutMs;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > MAX_START_TIMEOUT_MS) {
      throw new InvalidConfigError("start.startTimeoutMs", `must be an integer from 1 to ${MAX_START_TIMEOUT_MS}`);
    }
    out.startTimeoutMs = t;
  }
  return out;
}

/** A holder's reply: the daemon's PID, or why there is none. */
export type HolderReply = { pid: number } | { error: string };

/** The reply line of `r`. */
export function encodeReply(r: HolderReply): string {
  return `${JSON.stringify(r)}\n`;
}

/** Parses a reply line (pure); throws Error on anything that is not one. */
export function parseReply(line: string): HolderReply {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    throw new Error(`not a reply: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const o = r as Record<string, unknown> | null;
  if (typeof o?.pid === "number" && Number.isInteger(o.pid) && o.pid > 1) return { pid: o.pid };
  if (typeof o?.error === "string") return { error: o.error };
  throw new Error(`not a reply: ${JSON.stringify(line.slice(0, 80))}`);
}

/** Reads one line (without its newline) of at most `max` bytes; null when the stream ends first. */
export async function readLine(conn: Deno.Conn, max: number): Promise<string | null> {
  const buf = new Uint8Array(max + 1);
  let len = 0;
  while (len < buf.length) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) return null;
    const nl = buf.subarray(len, len + n).indexOf(0x0a);
    if (nl >= 0) return new TextDecoder().decode(buf.subarray(0, len + nl));
    len += n;
  }
  throw new Error(`line longer than ${max} bytes`);
}

/** Time to wait for the reply beyond the start timeout (the holder's own checks around the start). */
const REPLY_MARGIN_MS = 10_000;

/**
 * Asks the holder at `socketPath` to start wireguard-go for `r.name`; returns the daemon's PID once it answers on
 * its UAPI socket. A holder not listening yet (its container starting next to ours) is waited for up to the start
 * timeout. Throws DaemonError with the holder's reason.
 */
export async function requestStart(socketPath: string, r: StartRequest): Promise<number> {
  const op = `start wireguard-go ${r.name}`;
  const timeoutMs = r.startTimeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let conn: Deno.UnixConn | undefined;
  while (!conn) {
    try {
      conn = await Deno.connect({ transport: "unix", path: socketPath });
    } catch (e) {
      const absent = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused;
      if (!absent || Date.now() >= deadline) {
        throw new DaemonError(op, `wireguard-go holder ${socketPath}: ${(e as Error).message}`);
      }
      await new Promise((res) => setTimeout(res, 100)); // the holder's socket appears when it is up
    }
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs + REPLY_MARGIN_MS);
  let line: string | null;
  try {
    const data = new TextEncoder().encode(encodeStartRequest(r));
    for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
    line = await readLine(conn, MAX_REQUEST_BYTES);
  } catch (e) {
    const why = timedOut ? `no reply within ${timeoutMs + REPLY_MARGIN_MS} ms` : (e as Error).message;
    throw new DaemonError(op, `wireguard-go holder ${socketPath}: ${why}`);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  if (line === null) throw new DaemonError(op, `wireguard-go holder ${socketPath} closed the connection`);
  const reply = parseReply(line);
  if ("error" in reply) throw new DaemonError(op, `wireguard-go holder: ${reply.error}`);
  return reply.pid;
}
