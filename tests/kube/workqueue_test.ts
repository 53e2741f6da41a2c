import assert from "node:assert/strict";
import { WorkQueue } from "../../src/kube/workqueue.ts";
import { ItemExponentialRateLimiter } from "../../src/kube/ratelimit.ts";
import { FakeClock } from "./fake_clock.ts";

function queue(clock = new FakeClock()) {
  const events: string[] = [];
  const q = new WorkQueue<string>({
    clock,
    rateLimiter: new ItemExponentialRateLimiter<string>(5, 1000),
    metrics: {
      depth: (n) => events.push(`depth=${n}`),
      added: () => events.push("add"),
      retried: () => events.push("retry"),
    },
  });
  return { q, clock, events };
}

Deno.test("workqueue: duplicate adds before get are processed once, FIFO order kept", async () => {
  const { q } = queue();
  for (const k of ["a", "b", "a", "c", "b", "a"]) q.add(k);
  assert.equal(q.length, 3);
  assert.deepEqual([await q.get(), await q.get(), await q.get()], ["a", "b", "c"]);
  assert.equal(q.length, 0);
});

Deno.test("workqueue: an item re-added while processing is not handed out again until done", async () => {
  const { q } = queue();
  q.add("a");
  const first = await q.get();
  assert.equal(first, "a");
  q.add("a");
  q.add("a");
  q.add("b");
  assert.equal(q.length, 1, "only b is takeable; a waits for done");
  assert.equal(await q.get(), "b");
  let second: string | undefined;
  const p = q.get().then((v) => (second = v));
  await Promise.resolve();
  assert.equal(second, undefined, "a is not handed to a second worker while the first holds it");
  q.done("a");
  await p;
  assert.equal(second, "a", "processed again after done (once, despite two re-adds)");
  q.done("a");
  q.done("b");
  assert.equal(q.length, 0);
});

Deno.test("workqueue: N concurrent workers never process one key concurrently", async () => {
  const { q } = queue();
  const active = new Set<string>();
  let overlaps = 0;
  let processed = 0;
  const worker = async () => {
    for (;;) {
      const k = await q.get();
      if (k === undefined) return;
      if (active.has(k)) overlaps++;
      active.add(k);
      await new Promise((r) => setTimeout(r, 0));
      if (processed < 200) q.add(`k${processed % 3}`); // re-add keys while they may be in flight
      processed++;
      active.delete(k);
      q.done(k);
    }
  };
  for (let i = 0; i < 3; i++) q.add(`k${i}`);
  const workers = Promise.all(Array.from({ length: 8 }, worker));
  while (processed < 200 || q.length > 0 || q.inFlight().count > 0) await new Promise((r) => setTimeout(r, 1));
  q.shutDown();
  await workers;
  assert.equal(overlaps, 0);
  assert.ok(processed >= 200, `processed ${processed}`);
});

Deno.test("workqueue: addRateLimited backs off exponentially per key; forget resets", () => {
  const { q, clock, events } = queue();
  q.addRateLimited("a"); // 5 ms
  assert.equal(q.length, 0);
  clock.advance(4);
  assert.equal(q.length, 0);
  clock.advance(1);
  assert.equal(q.length, 1);
  const delays: number[] = [];
  // take it and fail it 4 more times: 10, 20, 40, 80 ms
  for (let i = 0; i < 4; i++) {
    q.get();
    q.done("a");
    q.addRateLimited("a");
    let waited = 0;
    while (q.length === 0) {
      clock.advance(1);
      waited++;
    }
    delays.push(waited);
  }
  assert.deepEqual(delays, [10, 20, 40, 80]);
  assert.equal(q.numRequeues("a"), 5);
  q.forget("a");
  assert.equal(q.numRequeues("a"), 0);
  assert.equal(events.filter((e) => e === "retry").length, 5);
});

Deno.test("workqueue: addAfter keeps the earliest deadline and dedupes with direct adds", () => {
  const { q, clock } = queue();
  q.addAfter("a", 100);
  q.addAfter("a", 50);
  q.addAfter("a", 500);
  assert.equal(clock.pending, 1);
  clock.advance(50);
  assert.equal(q.length, 1);
  q.add("a");
  assert.equal(q.length, 1, "still one entry");
  q.addAfter("b", 0);
  assert.equal(q.length, 2, "non-positive delay adds at once");
});

Deno.test("workqueue: shutDown resolves waiting getters, drops delayed items, drain waits for in-flight", async () => {
  const { q, clock } = queue();
  q.add("a");
  assert.equal(await q.get(), "a");
  const waiting = q.get();
  q.addAfter("b", 10);
  q.shutDown();
  assert.equal(await waiting, undefined);
  assert.equal(clock.pending, 0, "delayed timers cancelled");
  assert.equal(await q.get(), undefined);
  q.add("c");
  assert.equal(q.length, 0, "adds after shutdown are ignored");
  let drained = false;
  const d = q.drain().then(() => (drained = true));
  await Promise.resolve();
  assert.equal(drained, false, "a is still in flight");
  q.done("a");
  await d;
  assert.equal(drained, true);
});

Deno.test("workqueue: metrics hooks see adds, depth and latencies", async () => {
  const clock = new FakeClock();
  const seen = { adds: 0, depth: [] as number[], lat: [] as number[], work: [] as number[] };
  const q = new WorkQueue<string>({
    clock,
    metrics: {
      added: () => seen.adds++,
      depth: (n) => seen.depth.push(n),
      queueLatency: (s) => seen.lat.push(s),
      workDuration: (s) => seen.work.push(s),
    },
  });
  q.add("a");
  q.add("a");
  q.add("b");
  clock.advance(250);
  const a = await q.get();
  clock.advance(1000);
  q.done(a!);
  assert.equal(seen.adds, 3);
  assert.deepEqual(seen.depth, [1, 2, 1]);
  assert.deepEqual(seen.lat, [0.25]);
  assert.deepEqual(seen.work, [1]);
});

Deno.test("workqueue: 1000 delayed items share one timer and become takeable in deadline order", async () => {
  const { q, clock } = queue();
  for (let i = 0; i < 1000; i++) q.addAfter(`k${i}`, 10_000 + ((i * 7919) % 1000));
  assert.equal(clock.pending, 1, "one timer, not one per item");
  q.addAfter("k5", 50); // an earlier deadline re-arms the timer
  assert.equal(clock.pending, 1);
  clock.advance(50);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), "k5");
  q.done("k5");
  clock.advance(11_000);
  const order: number[] = [];
  while (q.length > 0) {
    const k = (await q.get())!;
    order.push(10_000 + ((Number(k.slice(1)) * 7919) % 1000));
    q.done(k);
  }
  assert.equal(order.length, 999, "each item once (k5's superseded deadline does not add it again)");
  assert.deepEqual(order, [...order].sort((a, b) => a - b), "deadline order");
  clock.advance(1_000);
  assert.equal(q.length, 0);
  assert.equal(clock.pending, 0, "no timer left when nothing waits");
});
