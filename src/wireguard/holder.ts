/**
 * The wireguard-go holder (program wireguard-go-holder; protocol and client in src/wireguard/holder_protocol.ts):
 * listens on a unix socket, starts the daemons it is asked for with {@link startWireGuardGo} (so they are its
 * children, in its container), reaps and logs them when they exit, and stops the ones still running when it is
 * stopped itself (they would not outlive its container anyway).
 *
 * It answers one request per connection and serves them concurrently. The socket is made 0600 in a directory of
 * 0700: only root of the pod that shares the directory reaches it.
 */

import { WireGuardError } from "./errors.ts";
import {
  encodeReply,
  type HolderReply,
  MAX_REQUEST_BYTES,
  parseStartRequest,
  readLine,
  type StartRequest,
} from "./holder_protocol.ts";
import { startWireGuardGo, stopWireGuardGo, type WireGuardGoDaemon } from "./wggo.ts";
import { refChild } from "./child.ts";

/** Where the holder's events go (the program passes its logger). */
export interface HolderLog {
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
}

/** Options of {@link serveHolder}. */
export interface HolderOptions {
  /** The unix socket to listen on; its directory is created. */
  socketPath: string;
  /** wireguard-go executable. Default `wireguard-go`. */
  binary?: string;
  /** Stops serving: the listener closes, the daemons still running are stopped, the socket removed. */
  signal: AbortSignal;
  log?: HolderLog;
  /** A client that sends nothing for this long is dropped. Default 10 s. */
  requestTimeoutMs?: number;
}

/** How long {@link serveHolder} waits for a daemon to exit on SIGTERM before SIGKILL, when stopping. */
const STOP_GRACE_MS = 3000;

const quiet: HolderLog = { info: () => {}, warn: () => {} };

/** Refuses to start when a live holder already serves `path`; removes a stale socket file. */
async function claimSocket(path: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    throw new Error(`another wireguard-go holder serves ${path}`);
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) await Deno.remove(path);
    else if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Serves until `opts.signal` aborts (see the module comment). Resolves once the daemons are stopped. */
export async function serveHolder(opts: HolderOptions): Promise<void> {
  const log = opts.log ?? quiet;
  await claimSocket(opts.socketPath);
  const listener = Deno.listen({ transport: "unix", path: opts.socketPath });
  await Deno.chmod(opts.socketPath, 0o600);
  const daemons = new Map<number, { daemon: WireGuardGoDaemon; stateDir: string }>();
  const handling = new Set<Promise<void>>();

  const start = async (r: StartRequest): Promise<HolderReply> => {
    const { stateDir, netnsPath, startTimeoutMs } = r;
    const daemon = await startWireGuardGo(r.name, { stateDir, netnsPath, startTimeoutMs, binary: opts.binary });
    if (daemon.child) refChild(daemon.child); // ours to reap (wggo.ts unrefs it: a direct starter may exit before it)
    daemons.set(daemon.pid, { daemon, stateDir: r.stateDir });
    log.info("started wireguard-go", { name: r.name, pid: daemon.pid, netns: r.netnsPath ?? "(own)" });
    daemon.child?.status.then((s) => {
      daemons.delete(daemon.pid);
      log.info("wireguard-go exited", { name: r.name, pid: daemon.pid, code: s.code, signal: s.signal });
    });
    return { pid: daemon.pid };
  };

  const handle = async (conn: Deno.UnixConn): Promise<void> => {
    const timer = setTimeout(() => conn.close(), opts.requestTimeoutMs ?? 10_000);
    let reply: HolderReply;
    try {
      const line = await readLine(conn, MAX_REQUEST_BYTES);
      clearTimeout(timer);
      if (line === null) return;
      reply = await start(parseStartRequest(line));
    } catch (e) {
      clearTimeout(timer);
      const err = e as Error;
      // The client's own error names the operation: keep only the reason of a start failure.
      const why = e instanceof WireGuardError && e.op.startsWith("start wireguard-go ")
        ? err.message.slice(e.op.length + 2)
        : err.message;
      log.warn("request failed", { error: why });
      reply = { error: why };
    }
    try {
      await conn.write(new TextEncoder().encode(encodeReply(reply)));
    } catch { /* the client is gone; a started daemon stays (found by its PID file) */ }
  };

  if (opts.signal.aborted) listener.close();
  else opts.signal.addEventListener("abort", () => listener.close(), { once: true });
  log.info("serving", { socket: opts.socketPath });
  try {
    for await (const conn of listener) {
      const p = handle(conn).finally(() => {
        handling.delete(p);
        try {
          conn.close();
        } catch { /* closed by the timer */ }
      });
      handling.add(p);
    }
  } catch (e) {
    if (!opts.signal.aborted) throw e;
  }
  await Promise.allSettled(handling);
  const running = [...daemons.values()];
  await Promise.allSettled(running.map(({ daemon, stateDir }) => stopWireGuardGo(daemon, { stateDir }, STOP_GRACE_MS)));
  await Deno.remove(opts.socketPath).catch(() => {});
  log.info("stopped", { daemonsStopped: running.length });
}
