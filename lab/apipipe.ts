/**
 * A byte pipe between a listening address and a dialled one, each `tcp:HOST:PORT` or `unix:PATH`. The lab runs
 * two: in the root namespace `unix:<state>/api.sock → tcp:127.0.0.1:<apiserver port>`, and inside agentx
 * `tcp:127.0.0.1:<same port> → unix:<state>/api.sock` (unix sockets are reachable from every network namespace),
 * so controllers in agentx use the admin kubeconfig unchanged and no link of the root namespace is touched.
 * TLS passes through end to end.
 *
 *   deno run --allow-net --allow-read --allow-write lab/apipipe.ts LISTEN DIAL
 */

/** A parsed `tcp:HOST:PORT` or `unix:PATH` address. */
export type PipeAddress = { transport: "tcp"; hostname: string; port: number } | { transport: "unix"; path: string };

/** Parses `tcp:HOST:PORT` or `unix:PATH`; throws naming the bad address. */
export function parsePipeAddress(s: string): PipeAddress {
  const unix = /^unix:(\/.+)$/.exec(s);
  if (unix) return { transport: "unix", path: unix[1] };
  const tcp = /^tcp:([^:]+):(\d{1,5})$/.exec(s);
  if (tcp && Number(tcp[2]) > 0 && Number(tcp[2]) < 65536) {
    return { transport: "tcp", hostname: tcp[1], port: Number(tcp[2]) };
  }
  throw new TypeError(`pipe address "${s}": expected tcp:HOST:PORT or unix:/ABSOLUTE/PATH`);
}

function pipe(a: Deno.Conn, b: Deno.Conn): void {
  const close = () => {
    for (const c of [a, b]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  a.readable.pipeTo(b.writable).catch(() => {}).finally(close);
  b.readable.pipeTo(a.writable).catch(() => {}).finally(close);
}

/** Serves `listener`, connecting each client to `dial()`; a failed dial closes that client only. */
export async function serve(listener: Deno.Listener, dial: () => Promise<Deno.Conn>): Promise<void> {
  for await (const c of listener) dial().then((u) => pipe(c, u), () => c.close());
}

/** Opens a listener on `a` (a stale unix socket file is replaced). */
export async function listenOn(a: PipeAddress): Promise<Deno.Listener> {
  if (a.transport === "tcp") return Deno.listen({ hostname: a.hostname, port: a.port });
  await Deno.remove(a.path).catch(() => {});
  return Deno.listen({ transport: "unix", path: a.path });
}

/** Connects to `a`. */
export function dialTo(a: PipeAddress): Promise<Deno.Conn> {
  return a.transport === "tcp"
    ? Deno.connect({ hostname: a.hostname, port: a.port })
    : Deno.connect({ transport: "unix", path: a.path });
}

if (import.meta.main) {
  if (Deno.args.length !== 2) {
    console.error("usage: apipipe.ts LISTEN DIAL   (each tcp:HOST:PORT or unix:PATH)");
    Deno.exit(2);
  }
  try {
    const [from, to] = Deno.args.map(parsePipeAddress);
    await serve(await listenOn(from), () => dialTo(to));
  } catch (e) {
    console.error(`apipipe: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
