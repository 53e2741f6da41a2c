import assert from "node:assert/strict";
import { KubeApiError, type KubeObject } from "../../src/kube/client.ts";
import { ItemExponentialRateLimiter } from "../../src/kube/ratelimit.ts";
import { StatusQueue, type StatusWriter } from "../../src/kube/status.ts";
import { until } from "../../kit/wait.ts";

type Obj = KubeObject & { status?: { v: number } };

/** A writer double recording what StatusQueue asks of it; `gate` holds writes until released. */
function recorder(fail: (n: number) => unknown = () => undefined) {
  const calls: { key: string; status: unknown }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: () => void = () => {};
  let gate: Promise<void> | null = null;
  const writer = {
    async update(namespace: string, name: string, mutate: (o: Obj) => unknown, current?: Obj) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (gate) await gate;
        const status = mutate(current ?? { metadata: { namespace, name } });
        calls.push({ key: `${namespace}/${name}`, status });
        const err = fail(calls.length);
        if (err) throw err;
        return { written: true, object: current!, conflicts: 0 };
      } finally {
        inFlight--;
      }
    },
  } as unknown as StatusWriter<Obj>;
  return {
    writer,
    calls,
    maxInFlight: () => maxInFlight,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release() {
      gate = null;
      release();
    },
  };
}

/** Waits (up to 5 s) until `cond` holds: the queue's timers fire late on a loaded machine. */

Deno.test("status queue: submissions made while a write is in flight collapse into one write of the newest", async () => {
  const r = recorder();
  const q = new StatusQueue<Obj>(r.writer, { concurrency: 4 });
  r.hold();
  q.submit("ns", "a", () => ({ v: 1 }));
  await until("the first write in flight", () => r.maxInFlight() === 1, 5000, 5);
  for (let v = 2; v <= 5; v++) q.submit("ns", "a", () => ({ v }));
  assert.equal(q.pending, 1, "one pending submission per object");
  r.release();
  await q.close();
  assert.deepEqual(r.calls.map((c) => c.status), [{ v: 1 }, { v: 5 }]);
  assert.equal(r.maxInFlight(), 1, "never two writes of one object at once");
});

Deno.test("status queue: different objects are written concurrently up to the limit", async () => {
  const r = recorder();
  const q = new StatusQueue<Obj>(r.writer, { concurrency: 3 });
  r.hold();
  for (const n of ["a", "b", "c", "d", "e"]) q.submit("ns", n, () => ({ v: 1 }));
  await until("three writes in flight", () => r.maxInFlight() === 3, 5000, 5);
  r.release();
  await q.close();
  assert.equal(r.calls.length, 5);
  assert.equal(r.maxInFlight(), 3);
  assert.equal(q.written, 5);
});

Deno.test("status queue: a failed write is retried, a 404 is dropped, the lookup supplies the freshest copy", async () => {
  const errors: string[] = [];
  const r = recorder((n) =>
    n === 1
      ? new KubeApiError(500, "InternalError", "PUT x", "boom")
      : n === 3
      ? new KubeApiError(404, "NotFound", "PUT y", "gone")
      : undefined
  );
  const fresh: Obj = { metadata: { namespace: "ns", name: "x", resourceVersion: "9" } };
  const q = new StatusQueue<Obj>(r.writer, {
    concurrency: 1,
    rateLimiter: new ItemExponentialRateLimiter<string>(5, 50),
    lookup: (_ns, name) => (name === "x" ? fresh : undefined),
    onError: (key, e) => errors.push(`${key}: ${(e as Error).message}`),
  });
  q.submit("ns", "x", (o) => ({ v: Number(o.metadata.resourceVersion) }));
  // y goes in only after x's retry, whenever the backoff timer fires on a loaded machine
  await until("the retry of x", () => r.calls.length === 2, 5000, 5);
  q.submit("ns", "y", () => ({ v: 2 }));
  await q.close();
  assert.deepEqual(r.calls.map((c) => [c.key, c.status]), [["ns/x", { v: 9 }], ["ns/x", { v: 9 }], ["ns/y", { v: 2 }]]);
  assert.equal(errors.length, 1, "the 404 is not an error");
  assert.match(errors[0], /^ns\/x: .*boom/);
  assert.equal(q.failed, 1, "the failed write is counted, the 404 is not");
  assert.equal(q.pending, 0);
});

Deno.test("status queue: cancel drops an unwritten submission", async () => {
  const r = recorder();
  const q = new StatusQueue<Obj>(r.writer, { concurrency: 1 });
  r.hold();
  q.submit("ns", "a", () => ({ v: 1 }));
  await until("the first write in flight", () => r.maxInFlight() === 1, 5000, 5);
  q.submit("ns", "a", () => ({ v: 2 }));
  q.cancel("ns/a");
  r.release();
  await q.close();
  assert.deepEqual(r.calls.map((c) => c.status), [{ v: 1 }]);
});

Deno.test("status queue: a submission for one incarnation of an object is not written to a re-created one", async () => {
  const r = recorder();
  const fresh = { metadata: { namespace: "ns", name: "a", uid: "u2" } };
  const q = new StatusQueue<Obj>(r.writer, { lookup: () => fresh });
  q.submit("ns", "a", () => ({ v: 1 }), { metadata: { namespace: "ns", name: "a", uid: "u1" } });
  q.submit("ns", "b", () => ({ v: 2 }), { metadata: { namespace: "ns", name: "b", uid: "u2" } });
  await q.close();
  const byKey = r.calls.map((c) => [c.key, c.status]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
  assert.deepEqual(byKey, [["ns/a", undefined], ["ns/b", { v: 2 }]]);
});
