/**
 * Test-only byte pipe between a TCP port and a unix socket. Inside a throwaway network namespace it gives a
 * process the API server at 127.0.0.1:PORT (tests/helpers/agent.ts runs the root side).
 *   deno run -A tests/helpers/apiproxy.ts PORT SOCKET     (127.0.0.1:PORT → SOCKET)
 */

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

/** Serves `listener`, connecting each client to `dial()`. */
export async function serve(listener: Deno.Listener, dial: () => Promise<Deno.Conn>): Promise<void> {
  for await (const c of listener) dial().then((u) => pipe(c, u), () => c.close());
}

if (import.meta.main) {
  const [port, socket] = Deno.args;
  await serve(
    Deno.listen({ hostname: "127.0.0.1", port: Number(port) }),
    () => Deno.connect({ transport: "unix", path: socket }),
  );
}
