/**
 * The controller runtime against the in-memory API server (tests/doubles/apiserver.ts): informer, controller and
 * work queue, status writes, finalizers, leader election and the manager, without root or a cluster, in about a
 * second. The same paths against the real kube-apiserver: informer_test, harness_test, leaderelection_test.
 */
import assert from "node:assert/strict";
import type { KubeObject, ResourceType } from "../../src/kube/client.ts";
import { Controller } from "../../src/kube/controller.ts";
import { addFinalizer, removeFinalizer } from "../../src/kube/finalizers.ts";
import { Informer } from "../../src/kube/informer.ts";
import { LeaderElector } from "../../src/kube/leaderelection.ts";
import { Manager } from "../../src/kube/manager.ts";
import { ControllerMetrics } from "../../src/kube/metrics.ts";
import { ItemExponentialRateLimiter } from "../../src/kube/ratelimit.ts";
import { StatusWriter } from "../../src/kube/status.ts";
import { FakeApiServer, jsonPatch, matchesFields, matchesLabels, mergePatch } from "../doubles/apiserver.ts";
import { until } from "../../kit/wait.ts";

const WIDGETS: ResourceType = { group: "kr.test.dn42op.io", version: "v1", plural: "widgets" };
const LEASES: ResourceType = { group: "coordination.k8s.io", version: "v1", plural: "leases" };

interface Widget extends KubeObject {
  spec?: { node?: string; value?: string };
  status?: { observed?: string };
}

function widget(name: string, node = "n1", value = "v0", labels?: Record<string, string>): Widget {
  return {
    apiVersion: "kr.test.dn42op.io/v1",
    kind: "Widget",
    metadata: { name, namespace: "ns", labels },
    spec: { node, value },
  };
}

const quiet = () => new ControllerMetrics(undefined, { processMetrics: false });

Deno.test("fake API: selectors and patches follow the API server's rules (pure)", () => {
  assert.ok(matchesLabels({ a: "1", b: "2" }, "a=1,b"));
  assert.ok(!matchesLabels({ a: "1" }, "a!=1"));
  assert.ok(matchesLabels({}, "!a"));
  assert.ok(matchesFields({ spec: { node: "n1" } }, "spec.node=n1"));
  assert.ok(!matchesFields({ spec: { node: "n1" } }, "spec.node=n2"));
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 } }), { a: 1, b: { d: 3, e: 4 } });
  assert.deepEqual(
    jsonPatch({ f: ["x", "y"] }, [{ op: "test", path: "/f/1", value: "y" }, { op: "remove", path: "/f/1" }]),
    { f: ["x"] },
  );
  assert.throws(() => jsonPatch({ f: ["x"] }, [{ op: "test", path: "/f/0", value: "z" }]), /test of \/f\/0 failed/);
});

Deno.test("fake API: informer lists, follows the watch, filters by field selector, relists after 410 Gone", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  await client.create(WIDGETS, "ns", widget("pre"));
  await client.create(WIDGETS, "ns", widget("other", "n2"));
  const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace: "ns", fieldSelector: "spec.node=n1" });
  const log: string[] = [];
  inf.on({
    add: (o) => log.push(`add:${o.metadata.name}`),
    update: (_a, b) => log.push(`update:${b.metadata.name}:${b.spec?.value}`),
    delete: (o) => log.push(`delete:${o.metadata.name}`),
  });
  inf.start();
  try {
    assert.equal(await inf.waitForSync(), true);
    assert.deepEqual(log, ["add:pre"]);
    const w1 = await client.create(WIDGETS, "ns", widget("w1"));
    await until("add:w1", () => log.includes("add:w1"), 5000, 1);
    await client.replace(WIDGETS, { ...w1, spec: { node: "n1", value: "v1" } });
    await until("update:w1:v1", () => log.includes("update:w1:v1"), 5000, 1);
    await client.delete(WIDGETS, "ns", "w1");
    await until("delete:w1", () => log.includes("delete:w1"), 5000, 1);

    // a change, then its history compacted, while the watch is down: the informer relists (410 Gone) and fires
    // only the differences
    const unblock = api.intercept((r) => r.query.get("watch") ? { status: 503 } : undefined);
    api.closeWatches();
    await client.create(WIDGETS, "ns", widget("while-away"));
    api.compact();
    unblock();
    await until("add:while-away", () => log.includes("add:while-away"), 5000, 1);
    assert.equal(inf.stats.relists, 1);
    assert.deepEqual(inf.store.keys().sort(), ["ns/pre", "ns/while-away"]);
    assert.deepEqual(log, ["add:pre", "add:w1", "update:w1:v1", "delete:w1", "add:while-away"]);
  } finally {
    await inf.stop();
  }
});

Deno.test("status writer: a cache that has not yet seen our last write costs no conflict; a foreign write still does", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const stale = await client.create(WIDGETS, "ns", widget("w"));
  const status = new StatusWriter<Widget>(client, WIDGETS, "test");
  const sent = () => api.requests.filter((r) => r.path.endsWith("/widgets/w/status") || r.method === "GET").length;

  assert.equal((await status.update("ns", "w", () => ({ observed: "a" }), stale)).written, true);
  let before = sent();
  const second = await status.update("ns", "w", () => ({ observed: "b" }), stale); // the cache still shows `stale`
  assert.equal(second.conflicts, 0, "based on our own write, not on the stale copy");
  assert.equal(sent() - before, 1, "one PUT, no GET");
  assert.equal(api.object<Widget>("kr.test.dn42op.io/widgets", "ns", "w")?.status?.observed, "b");

  const theirs = await client.replace<Widget>(WIDGETS, { ...second.object, status: { observed: "theirs" } }, {
    subresource: "status",
  });
  before = sent();
  const third = await status.update("ns", "w", (o) => ({ observed: `${o.status?.observed}+c` }), second.object);
  assert.equal(third.conflicts, 1, "another writer's change is read again, never overwritten blindly");
  assert.equal(sent() - before, 3, "PUT (409), GET, PUT");
  assert.equal(third.object.status?.observed, "theirs+c");
  assert.notEqual(third.object.metadata.resourceVersion, theirs.metadata.resourceVersion);
});

Deno.test("status writer: the caller's copy is never modified; a mutation may change the status it is given", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const created = await client.create(WIDGETS, "ns", widget("w"));
  const status = new StatusWriter<Widget>(client, WIDGETS, "test");
  const cached = (await status.update("ns", "w", () => ({ observed: "a" }), created)).object;
  const before = structuredClone(cached);
  const r = await status.update("ns", "w", (o) => {
    o.status!.observed += "+b"; // its own copy of the status
    return o.status;
  }, cached);
  assert.equal(r.written, true);
  assert.equal(r.object.status?.observed, "a+b");
  assert.deepEqual(cached, before, "the cached object is as it was");
  const same = await status.update("ns", "w", (o) => o.status, r.object);
  assert.equal(same.written, false, "an unchanged status is not sent");
  assert.equal(same.object, r.object, "nothing written: the caller's object, not a copy");
});

Deno.test("fake API: controller reconciles, retries errors with backoff, writes status, holds a finalizer", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace: "ns" });
  const status = new StatusWriter<Widget>(client, WIDGETS, "test");
  const FIN = "kr.test.dn42op.io/finalizer";
  let failuresLeft = 2;
  const seen: string[] = [];
  const ctl = new Controller<Widget>({
    name: "fake-test",
    informer: inf,
    workers: 2,
    metrics: quiet(),
    rateLimiter: new ItemExponentialRateLimiter(1, 10),
    reconcile: async (key) => {
      seen.push(key);
      const o = inf.store.get(key);
      if (!o) return;
      if (o.metadata.deletionTimestamp) {
        await removeFinalizer(client, WIDGETS, o, FIN);
        return;
      }
      if (failuresLeft-- > 0) throw new Error("transient");
      const cur = await addFinalizer(client, WIDGETS, o, FIN) ?? o;
      await status.update("ns", o.metadata.name!, (w) => ({ observed: w.spec?.value }), cur);
    },
  });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  try {
    await client.create(WIDGETS, "ns", widget("w"));
    const done = await until(
      "status observed",
      () => {
        const o = api.object<Widget>("kr.test.dn42op.io/widgets", "ns", "w");
        return o?.status?.observed === "v0" && o;
      },
      5000,
      1,
    );
    assert.deepEqual(done.metadata.finalizers, [FIN]);
    assert.equal(done.metadata.generation, 1, "status writes do not bump the generation");
    assert.ok(seen.filter((k) => k === "ns/w").length >= 3, "two failures retried");
    await client.delete(WIDGETS, "ns", "w");
    await until("object gone", () => api.object("kr.test.dn42op.io/widgets", "ns", "w") === undefined, 5000, 1);
  } finally {
    ac.abort();
    await running;
    await inf.stop();
  }
});

Deno.test("fake API: a reconcile cancelled by the controller's stop is no error: not counted, not retried", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace: "ns" });
  const metrics = quiet();
  let started!: () => void;
  const inFlight = new Promise<void>((r) => started = r);
  let calls = 0;
  const ctl = new Controller<Widget>({
    name: "cancel-test",
    informer: inf,
    metrics,
    reconcile: (_key, signal) =>
      new Promise((_, reject) => {
        calls++;
        started();
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
  });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  try {
    await client.create(WIDGETS, "ns", widget("w"));
    await inFlight;
  } finally {
    ac.abort();
    await running;
    await inf.stop();
  }
  assert.equal(calls, 1);
  const { body: text } = await metrics.exposition();
  assert.doesNotMatch(text, /controller_runtime_reconcile_total\{controller="cancel-test",result="error"\} [1-9]/);
  assert.doesNotMatch(text, /controller_runtime_reconcile_errors_total\{controller="cancel-test"\} [1-9]/);
});

Deno.test("fake API: conflicting writes get 409, a failed JSON patch test 422, delete preconditions 409", async () => {
  const client = new FakeApiServer().client();
  const w = await client.create(WIDGETS, "ns", widget("w"));
  await client.replace(WIDGETS, { ...w, spec: { node: "n1", value: "v1" } });
  await assert.rejects(client.replace(WIDGETS, { ...w, spec: { node: "n1", value: "v2" } }), /409|Conflict/);
  await assert.rejects(
    client.patch(WIDGETS, "ns", "w", "json", [{ op: "test", path: "/metadata/finalizers", value: ["x"] }]),
    (e: { code?: number }) => e.code === 422,
  );
  await assert.rejects(client.delete(WIDGETS, "ns", "w", { preconditions: { uid: "other" } }), /409|Conflict/);
  const now = await client.get<Widget>(WIDGETS, "ns", "w");
  assert.equal(now.metadata.generation, 2);
});

/** Short but valid election timings (lease > renew deadline > 1.2 × retry). */
const FAST = { leaseDurationMs: 400, renewDeadlineMs: 300, retryPeriodMs: 50 };

Deno.test("fake API: leader election — one leader; released on cancel, the standby takes over at once", async () => {
  const api = new FakeApiServer();
  const events: string[] = [];
  const candidate = (id: string) => {
    const ac = new AbortController();
    const e = new LeaderElector(api.client(), {
      namespace: "ns",
      name: "lock",
      identity: id,
      ...FAST,
      onStartedLeading: () => events.push(`${id} leads`),
      onStoppedLeading: () => events.push(`${id} stopped`),
    });
    return { e, ac, done: e.run(ac.signal) };
  };
  const a = candidate("a");
  await until("a leads", () => a.e.isLeader(), 5000, 1);
  const b = candidate("b");
  await until("b sees a", () => b.e.leader === "a", 5000, 1);
  assert.equal(b.e.isLeader(), false);
  a.ac.abort();
  await a.done;
  await until("b leads", () => b.e.isLeader(), 5000, 1);
  const lease = api.object<KubeObject & { spec: { leaseTransitions: number } }>("/leases", "ns", "lock")!;
  assert.equal(lease.spec.leaseTransitions, 1);
  b.ac.abort();
  await b.done;
  assert.deepEqual(events, ["a leads", "a stopped", "b leads", "b stopped"]);
});

Deno.test("fake API: manager with leader election — standby ready, leader-only runnables, lost lease ends with 1", async () => {
  const api = new FakeApiServer();
  const started: string[] = [];
  const mk = (id: string) => {
    const m = new Manager({
      name: id,
      client: api.client(),
      metrics: quiet(),
      leaderElection: { namespace: "ns", leaseName: "mgr", identity: id, ...FAST },
    });
    m.add({
      name: "work",
      needLeaderElection: true,
      start: async (s) => {
        started.push(id);
        await new Promise((r) => s.addEventListener("abort", r, { once: true }));
      },
    });
    return m;
  };
  const a = mk("a");
  const ac = new AbortController();
  const runA = a.run(ac.signal);
  await until("a leads", () => a.isLeader() && started.includes("a"), 5000, 1);
  const b = mk("b");
  const runB = b.run(ac.signal);
  await new Promise((r) => setTimeout(r, FAST.leaseDurationMs / 2));
  assert.equal(b.isLeader(), false);
  assert.deepEqual(started, ["a"], "the standby's leader-only runnable waits");
  // someone else takes the Lease over: a cannot renew and stops with status 1
  const client = api.client();
  await until(
    "the Lease taken over",
    async () => {
      const lease = await client.get<KubeObject & { spec: Record<string, unknown> }>(LEASES, "ns", "mgr");
      const spec = { ...lease.spec, holderIdentity: "intruder", leaseDurationSeconds: 3600 };
      return await client.replace(LEASES, { ...lease, spec }).then(() => true, () => false);
    },
    5000,
    1,
  );
  assert.equal(await runA, 1);
  ac.abort();
  assert.equal(await runB, 0);
  assert.deepEqual(started, ["a"], "nobody else led");
});
