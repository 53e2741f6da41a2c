/**
 * The operations HTTP server (Deno.serve): /metrics (Prometheus text), /healthz (liveness), /readyz (readiness).
 * Probes answer 200 "ok" or 503 with one line per check (`[+]name ok` / `[-]name failed: reason`), like the
 * kube-apiserver's; `?verbose` lists passing checks too.
 *
 * Address in use: an address the user gave is a fatal error (probes and scrapers expect it). The program's default
 * address is only a preference: several programs on one host (the reference README runs five in one network
 * namespace) cannot all have it, so when it is taken the server listens on a free port of the same host instead and
 * logs a warning naming it ({@link opsListen}).
 */
import { logger } from "../log/mod.ts";

const log = logger("kube", "server");

/** A named probe: returns true when healthy, or a failure reason. */
export interface Check {
  name: string;
  check(): boolean | string | Promise<boolean | string>;
}

/** Options of the operations server. */
export interface OpsServerOptions {
  /** Listen address, Go style: ":8080", "127.0.0.1:8080", "[::1]:8080"; port 0 picks a free port. */
  address: string;
  /** When `address` is in use: fail (the default), or listen on a free port of the same host with a warning. */
  fallbackToFreePort?: boolean;
  /** Renders /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Liveness checks (the process answering at all is the implicit first one). */
  healthz?: Check[];
  /** Readiness checks, e.g. "informers synced". */
  readyz?: Check[];
}

/** A running operations server. */
export interface OpsServer {
  hostname: string;
  port: number;
  /** Stops listening; resolves when closed. */
  shutdown(): Promise<void>;
}

/** Parses a Go-style listen address (pure); throws a RangeError naming the bad value. */
export function parseListenAddress(address: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`invalid listen address "${address}" (want host:port or :port)`);
  return { hostname: m[1] ?? (m[2] || "0.0.0.0"), port };
}

async function runChecks(checks: Check[], verbose: boolean): Promise<Response> {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    let r: boolean | string;
    try {
      r = await c.check();
    } catch (e) {
      r = e instanceof Error ? e.message : String(e);
    }
    if (r === true) lines.push(`[+]${c.name} ok`);
    else {
      ok = false;
      lines.push(`[-]${c.name} failed: ${r === false ? "not ready" : r}`);
    }
  }
  const body = ok && !verbose ? "ok\n" : `${lines.join("\n")}\n${ok ? "check passed" : "check failed"}\n`;
  return new Response(body, { status: ok ? 200 : 503, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * The listen settings of a `-metrics-bind-address` value: "0" disables the server (undefined), "" means the
 * program's `programDefault` with a fallback to a free port, anything else is that address exactly.
 */
export function opsListen(
  value: string,
  programDefault: string,
): Pick<OpsServerOptions, "address" | "fallbackToFreePort"> | undefined {
  if (value === "0") return undefined;
  return value === "" ? { address: programDefault, fallbackToFreePort: true } : { address: value };
}

/** Starts the operations server. */
export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const { hostname, port } = parseListenAddress(o.address);
  try {
    return await listen(o, hostname, port);
  } catch (e) {
    if (!o.fallbackToFreePort || !(e instanceof Error && e.cause instanceof Deno.errors.AddrInUse)) throw e;
    const server = await listen(o, hostname, 0);
    log.warn("default metrics address in use; serving on a free port instead (set -metrics-bind-address to choose)", {
      wanted: o.address,
      port: server.port,
    });
    return server;
  }
}

async function listen(o: OpsServerOptions, hostname: string, port: number): Promise<OpsServer> {
  const ac = new AbortController();
  return await new Promise((resolve, reject) => {
    let server: Deno.HttpServer;
    try {
      server = Deno.serve({
        hostname,
        port,
        signal: ac.signal,
        onListen: (addr) => {
          log.info("serving /metrics /healthz /readyz", { host: addr.hostname, port: addr.port });
          resolve({
            hostname: addr.hostname,
            port: addr.port,
            shutdown: async () => {
              ac.abort();
              await server.finished;
            },
          });
        },
        onError: (e) => {
          log.error("ops server request failed", { error: String(e) });
          return new Response("internal error\n", { status: 500 });
        },
      }, async (req) => {
        const url = new URL(req.url);
        const verbose = url.searchParams.has("verbose");
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405 });
        switch (url.pathname) {
          case "/metrics": {
            if (!o.metrics) return new Response("no metrics\n", { status: 404 });
            const m = await o.metrics();
            return new Response(m.body, { headers: { "content-type": m.contentType } });
          }
          case "/healthz":
          case "/livez":
            return runChecks(o.healthz ?? [], verbose);
          case "/readyz":
            return runChecks(o.readyz ?? [], verbose);
          default:
            return new Response("not found\n", { status: 404 });
        }
      });
    } catch (e) {
      const where = port === 0 ? `${hostname}:0` : o.address;
      reject(new Error(`cannot listen on ${where}: ${e instanceof Error ? e.message : e}`, { cause: e }));
    }
  });
}
