/**
 * Byte pipe of tests and benchmarks between a TCP port and a unix socket. Inside a throwaway network namespace it gives a
 * process the API server at 127.0.0.1:PORT (kit/agent.ts runs the root side). The pipe itself is the
 * lab's (lab/apipipe.ts).
 *   deno run -A kit/apiproxy.ts PORT SOCKET     (127.0.0.1:PORT → SOCKET)
 */
import { serve } from "../lab/apipipe.ts";

export { serve };

if (import.meta.main) {
  const [port, socket] = Deno.args;
  await serve(
    Deno.listen({ hostname: "127.0.0.1", port: Number(port) }),
    () => Deno.connect({ transport: "unix", path: socket }),
  );
}
