/** The ops server's listen address: a given address in use is fatal, the program's default falls back to a free port. */
import assert from "node:assert/strict";
import { opsListen, startOpsServer } from "../../src/kube/server.ts";

Deno.test('opsListen: "0" disables, "" is the program\'s default with a fallback, anything else is exact', () => {
  assert.equal(opsListen("0", ":8080"), undefined);
  assert.deepEqual(opsListen("", ":8081"), { address: ":8081", fallbackToFreePort: true });
  assert.deepEqual(opsListen("127.0.0.1:9090", ":8080"), { address: "127.0.0.1:9090" });
});

Deno.test("ops server: a taken address is a fatal error when given, a free port with the default", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      startOpsServer({ address: `127.0.0.1:${port}` }),
      (e: Error) =>
        e.message.startsWith(`cannot listen on 127.0.0.1:${port}:`) && e.cause instanceof Deno.errors.AddrInUse,
    );
    const srv = await startOpsServer({ address: `127.0.0.1:${port}`, fallbackToFreePort: true });
    try {
      assert.notEqual(srv.port, port);
      const r = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
      assert.deepEqual([r.status, await r.text()], [200, "ok\n"]);
    } finally {
      await srv.shutdown();
    }
  } finally {
    taken.close();
  }
});
