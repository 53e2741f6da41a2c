import assert from "node:assert/strict";
import {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  exponentialDelay,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
} from "../../src/kube/ratelimit.ts";
import { Backoff } from "../../src/kube/backoff.ts";
import { FakeClock } from "./fake_clock.ts";

Deno.test("exponentialDelay: base·2^n, capped, table", () => {
  const table: [number, number][] = [[0, 5], [1, 10], [2, 20], [10, 5120], [17, 655_360], [18, 1_000_000], [
    5000,
    1_000_000,
  ]];
  for (const [n, want] of table) assert.equal(exponentialDelay(n, 5, 1_000_000), want, `n=${n}`);
  assert.throws(() => exponentialDelay(-1, 5, 10), RangeError);
});

Deno.test("ItemExponentialRateLimiter: per-item growth, independent items, forget resets", () => {
  const l = new ItemExponentialRateLimiter<string>(5, 1_000_000);
  assert.deepEqual([l.when("a"), l.when("a"), l.when("a"), l.when("a")], [5, 10, 20, 40]);
  assert.equal(l.when("b"), 5, "other items have their own backoff");
  assert.equal(l.numRequeues("a"), 4);
  l.forget("a");
  assert.equal(l.numRequeues("a"), 0);
  assert.equal(l.when("a"), 5);
  for (let i = 0; i < 40; i++) l.when("c");
  assert.equal(l.when("c"), 1_000_000, "capped at 1000 s");
  assert.throws(() => new ItemExponentialRateLimiter(0, 10), RangeError);
});

Deno.test("BucketRateLimiter: burst free, then spaced at 1/qps, refills with time", () => {
  const clock = new FakeClock();
  const b = new BucketRateLimiter<string>(50, 300, clock);
  for (let i = 0; i < 300; i++) assert.equal(b.when(`k${i}`), 0, `burst item ${i}`);
  assert.equal(b.when("x"), 20); // 1 token short at 50/s → 20 ms
  assert.equal(b.when("y"), 40);
  clock.advance(1000); // +50 tokens: from -2 to 48
  for (let i = 0; i < 48; i++) assert.equal(b.when(`r${i}`), 0);
  assert.equal(b.when("z"), 20);
  assert.throws(() => new BucketRateLimiter(0, 1), RangeError);
});

Deno.test("MaxOfRateLimiter / default limiter: the longer of item backoff and bucket", () => {
  const clock = new FakeClock();
  const l = defaultControllerRateLimiter<string>({ clock });
  assert.equal(l.when("a"), 5);
  assert.equal(l.when("a"), 10);
  for (let i = 0; i < 298; i++) l.when(`k${i}`); // drain the bucket (300 burst, 2 used above)
  // item "fresh" has no failures (5 ms) but the bucket is empty: 20 ms wins
  assert.equal(l.when("fresh"), 20);
  l.forget("a");
  assert.equal(l.numRequeues("a"), 0);
  assert.throws(() => new MaxOfRateLimiter<string>(), RangeError);
});

Deno.test("Backoff: doubles from initial to max, jitter taken off (never above the cap), reset starts over", () => {
  const b = new Backoff(800, 30_000, 0.1, () => 0.5);
  const got = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(got, [760, 1520, 3040, 6080, 12160, 24320, 28500, 28500]);
  b.reset();
  assert.equal(b.next(), 760);
  for (const r of [0, 0.999]) {
    const capped = new Backoff(800, 5000, 0.5, () => r);
    const delays = Array.from({ length: 10 }, () => capped.next());
    assert.ok(delays.every((d) => d <= 5000 && d >= 400), `random ${r}: ${delays}`);
  }
});
