/**
 * The API client's transport: credentials mapping and line splitting (pure), watch-stream handling against a tiny
 * local HTTP server (the error mapping only; the real watch behaviour is covered by informer_test.ts and
 * restart_test.ts against the real API server), and connection reuse against the real API server, counted by a TCP
 * relay in front of it.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { KubeConfig } from "@kubernetes/client-node";
import { skipUnless } from "../helpers/caps.ts";
import { serve } from "../../kit/apiproxy.ts";
import { createCa } from "../../scripts/controlplane/pki.ts";
import { errorOf, forEachLine, isGone, KubeApiError, KubeClient, requestUrl } from "../../src/kube/client.ts";
import { KubeConfigError, loadKubeConfig } from "../../src/kube/config.ts";
import { fromHttpsOptions, toClientConfig } from "../../src/kube/credentials.ts";
import { checkSupported, CREDENTIALS_TTL_MS, needsNodeTls, Transport } from "../../src/kube/transport.ts";
import { widget, WIDGETS, withKr } from "./testcrd.ts";

function kubeConfigFor(server: string, cluster: Record<string, unknown> = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: "c", server, skipTLSVerify: server.startsWith("http:"), ...cluster }, {
    name: "u",
  });
  return kc;
}

Deno.test("fromHttpsOptions: headers (also repeated), basic auth, PEM from Buffers and strings", () => {
  const { tls, headers } = fromHttpsOptions({
    headers: { Authorization: "Bearer t0k", "Impersonate-Group": ["a", "b"], "X-N": 3 },
    auth: "user:pässword",
    ca: Buffer.from("CA PEM"),
    cert: "CERT PEM",
    key: Buffer.from("KEY PEM"),
  });
  assert.equal(headers.get("authorization"), `Basic ${Buffer.from("user:pässword").toString("base64")}`);
  assert.equal(headers.get("impersonate-group"), "a, b");
  assert.equal(headers.get("x-n"), "3");
  assert.deepEqual(tls, { caCerts: ["CA PEM"], cert: "CERT PEM", key: "KEY PEM" });
  const none = fromHttpsOptions({});
  assert.deepEqual(none.tls, { caCerts: [], cert: undefined, key: undefined });
  assert.equal([...none.headers].length, 0);
});

Deno.test("needsNodeTls and checkSupported: node:https only for insecure or tls-server-name over https; no proxy then", () => {
  const endpoint = (server: string, cluster: Record<string, unknown> = {}) =>
    toClientConfig(kubeConfigFor(server, cluster)).cluster;
  assert.equal(needsNodeTls(endpoint("https://127.0.0.1:6443")), false);
  assert.equal(needsNodeTls(endpoint("http://127.0.0.1:8001")), false); // plain http (kubectl proxy via -master)
  assert.equal(needsNodeTls(endpoint("https://127.0.0.1:6443", { skipTLSVerify: true })), true);
  assert.equal(needsNodeTls(endpoint("https://127.0.0.1:6443", { tlsServerName: "api.example" })), true);
  checkSupported(endpoint("https://127.0.0.1:6443", { proxyUrl: "http://proxy:3128" }));
  for (const cluster of [{ skipTLSVerify: true }, { tlsServerName: "api.example" }]) {
    assert.throws(
      () => new KubeClient(kubeConfigFor("https://127.0.0.1:6443", { ...cluster, proxyUrl: "http://proxy:3128" })),
      (e: Error) =>
        e instanceof KubeConfigError &&
        /cluster c: proxy-url cannot be combined with insecure-skip-tls-verify or tls-server-name/.test(e.message),
    );
  }
});

Deno.test("Transport: credentials resolved once per TTL or after invalidate; a new TLS identity gets a new pool", async () => {
  const kc = kubeConfigFor("https://127.0.0.1:6443");
  const ca = await createCa("dn42op-kr-transport-test");
  const [one, two] = [await createCa("dn42op-kr-client-1"), await createCa("dn42op-kr-client-2")];
  let calls = 0;
  let token = "t1";
  let identity = one;
  kc.applyToHTTPSOptions = (opts) => {
    calls++;
    const tls = { ca: ca.certPem, cert: identity.certPem, key: identity.keyPem };
    Object.assign(opts, { headers: { Authorization: `Bearer ${token}` }, ...tls });
    return Promise.resolve();
  };
  let now = 0;
  const t = new Transport(kc, () => now);
  try {
    const a = await t.prepare();
    a.headers.set("Accept", "x"); // a per-request copy: does not leak into the next request
    const b = await t.prepare();
    assert.equal(calls, 1);
    assert.equal(b.pool, a.pool);
    assert.equal(b.headers.get("accept"), null);
    token = "t2";
    now = CREDENTIALS_TTL_MS;
    const c = await t.prepare();
    assert.equal(calls, 2);
    assert.equal(c.headers.get("authorization"), "Bearer t2");
    assert.equal(c.pool, a.pool, "same TLS identity keeps the pool");
    identity = two;
    t.invalidate();
    const d = await t.prepare();
    assert.equal(calls, 3);
    assert.notEqual(d.pool, a.pool, "a rotated client certificate gets a new pool");
  } finally {
    t.close();
  }
});

Deno.test("requestUrl and errorOf: query without undefined values; Status reason and message, or the raw body", () => {
  assert.equal(
    requestUrl("https://h:1/", "/api/v1/pods", { a: "x y", b: undefined, c: 2, d: true }).href,
    "https://h:1/api/v1/pods?a=x+y&c=2&d=true",
  );
  const e = errorOf(409, JSON.stringify({ kind: "Status", reason: "AlreadyExists", message: "exists" }), "POST /x");
  assert.equal(e.code, 409);
  assert.equal(e.reason, "AlreadyExists");
  assert.equal(e.message, "POST /x: 409 AlreadyExists: exists");
  const raw = errorOf(502, "bad gateway", "GET /y");
  assert.equal(raw.reason, "HTTP502");
  assert.equal(raw.message, "GET /y: 502 HTTP502: bad gateway");
});

Deno.test("forEachLine: lines split across chunks and UTF-8 sequences split across chunks; last line unterminated", async () => {
  const bytes = new TextEncoder().encode('{"a":1}\n{"b":"ä€"}\n\n{"c":3}');
  const cuts = [3, 9, 14, 15, 16, bytes.length];
  const chunks = cuts.map((end, i) => bytes.slice(i ? cuts[i - 1] : 0, end));
  const lines: string[] = [];
  await forEachLine(ReadableStream.from(chunks), (l) => lines.push(l));
  assert.deepEqual(lines, ['{"a":1}', '{"b":"ä€"}', '{"c":3}']);
});

/** A plain-HTTP server that answers every request with `handler`; closed by the returned function. */
function localServer(handler: (req: Request) => Response): { url: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("watch: events in order, server end → onDone(null); HTTP 410 → KubeApiError isGone; abort → one onDone", async () => {
  const events = ['{"type":"ADDED","object":{"metadata":{"name":"a"}}}', '{"type":"DELETED","object":{"metadata":{}}}'];
  const srv = localServer((req) => {
    const u = new URL(req.url);
    if (u.searchParams.get("watch") !== "true") return new Response("not a watch", { status: 400 });
    if (u.searchParams.get("resourceVersion") === "old") {
      return Response.json({ kind: "Status", code: 410, reason: "Expired", message: "too old" }, { status: 410 });
    }
    if (u.searchParams.get("resourceVersion") === "hang") return new Response(new ReadableStream());
    return new Response(events.join("\n") + "\n");
  });
  const client = new KubeClient(loadKubeConfig({ master: srv.url }));
  try {
    const watchOnce = (resourceVersion: string) =>
      new Promise<{ got: string[]; err: unknown; done: number }>((resolve) => {
        const got: string[] = [];
        let done = 0;
        client.watch<{ metadata: { name?: string } }>(
          WIDGETS,
          { namespace: "ns", resourceVersion },
          (ev) => got.push(`${ev.type}:${ev.object.metadata.name ?? ""}`),
          (err) => {
            done++;
            setTimeout(() => resolve({ got, err, done }), 50);
          },
        ).then((abort) => resourceVersion === "hang" && setTimeout(() => (abort(), abort()), 50));
      });
    assert.deepEqual(await watchOnce("1"), { got: ["ADDED:a", "DELETED:"], err: null, done: 1 });
    const gone = await watchOnce("old");
    assert.ok(isGone(gone.err), String(gone.err));
    assert.ok(gone.err instanceof KubeApiError && gone.err.message.includes("too old"));
    assert.deepEqual(await watchOnce("hang"), { got: [], err: null, done: 1 });
  } finally {
    client.close();
    await srv.close();
  }
});

Deno.test({
  name: "transport: 300 requests with 8 in flight (writes, reads, a watch) reuse a few TCP connections (≤ 18, not 300)",
  ignore: skipUnless("cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withKr(async ({ kubeconfigPath, server, namespace }) => {
      // A TCP relay in front of the API server counts the connections the client opens (the server certificate is
      // valid for 127.0.0.1, so TLS works through it unchanged).
      const apiPort = Number(new URL(server).port);
      const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      let connections = 0;
      const relaying = serve(relay, () => (connections++, Deno.connect({ hostname: "127.0.0.1", port: apiPort })));
      const client = new KubeClient(
        loadKubeConfig({ kubeconfig: kubeconfigPath, master: `https://127.0.0.1:${relay.addr.port}` }),
      );
      try {
        const seen: string[] = [];
        let watchEnded: unknown = "open";
        const stop = await client.watch<{ metadata: { name?: string } }>(
          WIDGETS,
          { namespace },
          (ev) => ev.type === "ADDED" && seen.push(ev.object.metadata.name ?? ""),
          (err) => (watchEnded = err),
        );
        let next = 0;
        await Promise.all(Array.from({ length: 8 }, async () => {
          while (next < 100) {
            const name = `w-${next++}`;
            await client.create(WIDGETS, namespace, widget(namespace, name, "n1"));
            await client.get(WIDGETS, namespace, name);
            await client.patch(WIDGETS, namespace, name, "merge", { spec: { value: "v1" } });
          }
        }));
        const deadline = Date.now() + 30_000;
        while (seen.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.equal(seen.length, 100, "the watch on the shared client saw every create");
        stop();
        assert.equal(watchEnded, null);
        // 8 request connections plus the watch's in steady state; the pool may open another when a request starts just
        // before a finished one returns its connection (seen: 10), so the bound is twice that — far from the one
        // connection per request (≈300) of client-node's own transport.
        assert.ok(connections >= 1 && connections <= 18, `${connections} connections for 300 requests and a watch`);
      } finally {
        client.close();
        relay.close();
        await relaying.catch(() => {});
      }
    }),
});
