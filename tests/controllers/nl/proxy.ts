/**
 * Test-only byte pipe that lets a process inside a throwaway network namespace reach the API server on the root
 * namespace's loopback without touching any link: unix sockets are reachable from every network namespace.
 *   deno run -A proxy.ts tcp-to-unix PORT SOCKET   (inside the namespace: 127.0.0.1:PORT → SOCKET)
 *   deno run -A proxy.ts unix-to-tcp SOCKET PORT   (root namespace: SOCKET → 127.0.0.1:PORT)
 */
function pipe(a: Deno.Conn, b: Deno.Conn): void {
  const close = () => {
    try {
      a.close();
    } catch { /* closed */ }
    try {
      b.close();
    } catch { /* closed */ }
  };
  a.readable.pipeTo(b.writable).catch(() => {}).finally(close);
  b.readable.pipeTo(a.writable).catch(() => {}).finally(close);
}

/** Serves `listener`, connecting each client to `dial()`. */
export async function serve(listener: Deno.Listener, dial: () => Promise<Deno.Conn>): Promise<void> {
  for await (const c of listener) {
    dial().then((u) => pipe(c, u), () => c.close());
  }
}

if (import.meta.main) {
  const [mode, a, b] = Deno.args;
  if (mode === "tcp-to-unix") {
    await serve(
      Deno.listen({ hostname: "127.0.0.1", port: Number(a) }),
      () => Deno.connect({ transport: "unix", path: b }),
    );
  } else if (mode === "unix-to-tcp") {
    await serve(
      Deno.listen({ transport: "unix", path: a }),
      () => Deno.connect({ hostname: "127.0.0.1", port: Number(b) }),
    );
  } else {
    console.error("usage: proxy.ts tcp-to-unix PORT SOCKET | unix-to-tcp SOCKET PORT");
    Deno.exit(2);
  }
}
