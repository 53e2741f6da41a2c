/**
 * The kernel lab's control channel (lab/kernel/rpc.ts): framing, and a client against the server loop; the guest's
 * socat pipes (lab/kernel/socat.ts).
 */
import assert from "node:assert/strict";
import { socatPipe } from "../../lab/kernel/socat.ts";
import {
  LineSplitter,
  parseRequest,
  parseResponse,
  RpcClient,
  type RpcHandlers,
  serveRpc,
} from "../../lab/kernel/rpc.ts";

const enc = new TextEncoder();

Deno.test("LineSplitter: lines across chunks, a split UTF-8 sequence stays whole, the rest waits", () => {
  const s = new LineSplitter();
  const euro = enc.encode("€"); // 3 bytes
  assert.deepEqual(s.push(enc.encode("ab\ncd")), ["ab"]);
  assert.deepEqual(s.push(euro.subarray(0, 1)), []);
  assert.deepEqual(s.push(new Uint8Array([...euro.subarray(1), 10, 10])), ["cd€", ""]);
  assert.deepEqual(s.push(enc.encode("x")), []);
});

Deno.test("parseRequest: requests, skipped garbage with a reason, empty lines ignored", () => {
  const table: [string, ReturnType<typeof parseRequest>][] = [
    ['{"id":"a-1","op":"exec","args":{"argv":["true"]}}', { id: "a-1", op: "exec", args: { argv: ["true"] } }],
    ['{"id":"a-2","op":"hello"}', { id: "a-2", op: "hello", args: undefined }],
    ["", null],
    ["   ", null],
    ['{"id":"a-1","op":"ex', 'not JSON: {"id":"a-1","op":"ex'],
    ['{"op":"exec"}', 'not a request: {"op":"exec"}'],
    ["[1]", "not a request: [1]"],
  ];
  for (const [line, want] of table) assert.deepEqual(parseRequest(line), want, line);
  assert.deepEqual(parseResponse('{"id":"x","ok":true,"value":1}'), { id: "x", ok: true, value: 1 });
  assert.equal(parseResponse('{"id":"x"}'), null);
  assert.equal(parseResponse("nope"), null);
});

/** Serves `handlers` on a unix socket, one connection at a time like QEMU's chardev; returns the path. */
function server(dir: string, handlers: RpcHandlers): { path: string; listener: Deno.Listener } {
  const path = `${dir}/ctl.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  (async () => {
    for await (const conn of listener) {
      const reader = conn.readable.getReader();
      await serveRpc(
        async () => {
          const r = await reader.read();
          if (r.done) throw new Error("closed");
          return r.value;
        },
        async (line) => {
          await conn.write(line);
        },
        handlers,
        () => {},
      ).catch(() => {
        try {
          conn.close();
        } catch { /* the stream closed it */ }
      });
    }
  })();
  return { path, listener };
}

Deno.test("RpcClient: concurrent calls answered out of order, errors and unknown operations reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-kl-rpc-" });
  let release!: () => void;
  const slowGate = new Promise<void>((r) => release = r);
  const { path, listener } = server(dir, {
    slow: async () => {
      await slowGate;
      return "slow";
    },
    fast: (a: { n: number }) => Promise.resolve(a.n * 2),
    fail: () => Promise.reject(new Error("boom")),
    hang: () => new Promise(() => {}),
  });
  const c = await RpcClient.connect(path);
  try {
    const slow = c.call<string>("slow");
    assert.equal(await c.call<number>("fast", { n: 21 }), 42, "answered while slow is pending");
    release();
    assert.equal(await slow, "slow");
    await assert.rejects(c.call("fail"), /fail: boom/);
    await assert.rejects(c.call("nope"), /nope: unknown operation nope/);
    await assert.rejects(c.call("hang", {}, 1), /no answer .* within 1 ms/, "a timeout names the operation");
  } finally {
    c.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveRpc: a line cut short by a dead caller is skipped; the next caller is answered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-kl-rpc-" });
  const chunks = [enc.encode('{"id":"dead-1","op":"ec'), enc.encode('\n{"id":"b-1","op":"ping"}\n')];
  const out: string[] = [];
  const logs: string[] = [];
  await serveRpc(
    () => {
      const c = chunks.shift();
      if (!c) throw new Error("end");
      return Promise.resolve(c);
    },
    (line) => Promise.resolve(void out.push(new TextDecoder().decode(line))),
    { ping: () => Promise.resolve("pong") },
    (m) => logs.push(m),
  ).catch((e) => assert.equal((e as Error).message, "end"));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(out, ['{"id":"b-1","ok":true,"value":"pong"}\n']);
  assert.match(logs[0], /skipped not JSON/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("socatPipe: the lab's pipe addresses as socat addresses, forking per client", () => {
  assert.deepEqual(socatPipe("unix:/run/x/api.sock", "tcp:10.0.2.100:6443"), [
    "socat",
    "UNIX-LISTEN:/run/x/api.sock,fork,unlink-early",
    "TCP:10.0.2.100:6443",
  ]);
  assert.deepEqual(socatPipe("tcp:127.0.0.1:6443", "unix:/run/x/api.sock"), [
    "socat",
    "TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr",
    "UNIX-CONNECT:/run/x/api.sock",
  ]);
  assert.throws(() => socatPipe("tcp:h", "unix:/x"), /tcp:HOST:PORT/);
});
