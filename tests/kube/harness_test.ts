import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { Informer } from "../../src/kube/informer.ts";
import { Controller } from "../../src/kube/controller.ts";
import { ControllerMetrics } from "../../src/kube/metrics.ts";
import { startOpsServer } from "../../src/kube/server.ts";
import { StatusWriter } from "../../src/kube/status.ts";
import { splitKey } from "../../src/kube/client.ts";
import { ItemExponentialRateLimiter } from "../../src/kube/ratelimit.ts";
import { type Widget, widget, WIDGETS, withKr } from "./testcrd.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

Deno.test({
  name: "ops server: /healthz, /readyz follows cache sync, /metrics in Prometheus text; bad address is a clear error",
  ignore: false,
  fn: async () => {
    const metrics = new ControllerMetrics();
    let synced = false;
    metrics.customGauge("kr_test_managed_links", "links managed, by kind", ["kind"], () => [
      { labels: { kind: "wireguard" }, value: 3 },
    ]);
    metrics.observeReconcile("kr-test", "success", 0.01);
    const srv = await startOpsServer({
      address: "127.0.0.1:0",
      metrics: () => metrics.exposition(),
      healthz: [{ name: "ping", check: () => true }],
      readyz: [{ name: "informers-synced", check: () => synced || "caches not synced" }],
    });
    try {
      const base = `http://127.0.0.1:${srv.port}`;
      assert.deepEqual(await get(`${base}/healthz`), { status: 200, body: "ok\n" });
      const notReady = await get(`${base}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(notReady.body, /\[-\]informers-synced failed: caches not synced/);
      synced = true;
      assert.deepEqual(await get(`${base}/readyz`), { status: 200, body: "ok\n" });
      assert.match((await get(`${base}/readyz?verbose`)).body, /\[\+\]informers-synced ok/);
      const m = await get(`${base}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.body, /^kr_test_managed_links\{kind="wireguard"\} 3$/m);
      assert.match(m.body, /^controller_runtime_reconcile_total\{controller="kr-test",result="success"\} 1$/m);
      assert.match(m.body, /^process_resident_memory_bytes \d+/m);
      assert.doesNotMatch(m.body, /nodejs_eventloop_lag/);
      assert.equal((await get(`${base}/nope`)).status, 404);
    } finally {
      await srv.shutdown();
    }
    await assert.rejects(startOpsServer({ address: "nonsense" }), /invalid listen address "nonsense"/);
  },
});

Deno.test({
  name:
    "controller harness: informer → queue → workers → reconcile; errors retried with backoff; requeueAfter; metrics",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace, resyncPeriodMs: 300 });
      const metrics = new ControllerMetrics(undefined, { processMetrics: false });
      metrics.watchInformers([inf]);
      const sw = new StatusWriter<Widget>(client, WIDGETS, "kr-harness");
      const calls = new Map<string, number>();
      let concurrent = 0;
      let maxConcurrentSameKey = 0;
      const inFlight = new Set<string>();
      const ctl = new Controller<Widget>({
        name: "kr-harness",
        informer: inf,
        workers: 4,
        metrics,
        rateLimiter: new ItemExponentialRateLimiter<string>(20, 200),
        reconcile: async (key) => {
          if (inFlight.has(key)) maxConcurrentSameKey = 2;
          inFlight.add(key);
          concurrent++;
          try {
            const n = (calls.get(key) ?? 0) + 1;
            calls.set(key, n);
            const { namespace: ns, name } = splitKey(key);
            const obj = inf.store.get(key);
            if (!obj) return;
            if (name === "flaky" && n <= 3) throw new Error(`flaky failure ${n}`);
            await sw.update(ns, name, (o) => ({ observed: o.spec?.value, count: n }), obj);
            if (name === "poll") return { requeueAfterMs: 100 };
          } finally {
            concurrent--;
            inFlight.delete(key);
          }
        },
      });
      const stop = new AbortController();
      const running = ctl.run(stop.signal);
      try {
        for (const n of ["plain", "flaky", "poll"]) {
          await client.create(WIDGETS, namespace, widget(namespace, n, "lax1", n));
        }
        await until("all statuses written", async () => {
          const items = (await client.list<Widget>(WIDGETS, { namespace })).items;
          return items.length === 3 && items.every((i) => i.status?.observed === i.metadata.name);
        }, 20_000);
        assert.equal(ctl.hasSynced(), true);
        assert.ok(calls.get(`${namespace}/flaky`)! >= 4, "flaky retried until it succeeded");
        await until("requeueAfter polling", () => (calls.get(`${namespace}/poll`) ?? 0) >= 5, 10_000);
        // resync ticks (300 ms) enqueue every object again, also the quiet "plain"
        const plainBefore = calls.get(`${namespace}/plain`)!;
        await until("resync reconciles", () => calls.get(`${namespace}/plain`)! > plainBefore + 1, 10_000);
        assert.equal(maxConcurrentSameKey, 0, "a key never ran on two workers at once");
        const text = await metrics.registry.metrics();
        assert.match(text, /controller_runtime_reconcile_errors_total\{controller="kr-harness"\} 3/);
        assert.match(text, /workqueue_retries_total\{name="kr-harness"\} 3/);
        assert.match(text, /controller_runtime_reconcile_total\{controller="kr-harness",result="requeue_after"\} \d+/);
        assert.match(text, /^informer_lists_total\{informer="widgets"\} 1$/m);
        assert.match(text, /^informer_cached_objects\{informer="widgets"\} 3$/m);
        // deleting an object enqueues its key; the reconciler sees it gone from the cache
        const before = calls.get(`${namespace}/plain`)!;
        await client.delete(WIDGETS, namespace, "plain");
        await until("delete reconciled", () =>
          calls.get(`${namespace}/plain`)! > before && !inf.store.get(`${namespace}/plain`), 10_000);
      } finally {
        stop.abort();
        await running;
        await inf.stop();
      }
      assert.equal(concurrent, 0, "graceful stop: no reconcile left running");
    }),
});
