/** The Event correlator (client-go's spam filter, aggregator and deduplication) with a manual clock. */
import assert from "node:assert/strict";
import { COMBINED_PREFIX, EventCorrelator, type EventFacts } from "../../src/kube/correlator.ts";
import { FakeClock } from "./fake_clock.ts";

const ev = (object: string, message: string, reason = "LinkConflict", type = "Warning"): EventFacts => ({
  object,
  type,
  reason,
  message,
});

Deno.test("correlator: equal Events share a key; one object's burst is spent, others keep theirs; tokens return", () => {
  const clock = new FakeClock();
  const c = new EventCorrelator({}, clock);
  const first = c.correlate(ev("a", "link eth0 is not ours"));
  assert.equal(first.skip, false);
  for (let i = 1; i < 25; i++) assert.deepEqual(c.correlate(ev("a", "link eth0 is not ours")), first);
  assert.deepEqual(c.correlate(ev("a", "link eth0 is not ours")), { skip: true }, "the 26th in a row is dropped");
  assert.equal(c.correlate(ev("a", "other", "X", "Normal")).skip, false, "another type has its own bucket");
  assert.equal(c.correlate(ev("b", "link eth0 is not ours")).skip, false, "another object is not affected");
  assert.equal(c.dropped, 1);
  clock.advance(299_999);
  assert.equal(c.correlate(ev("a", "link eth0 is not ours")).skip, true);
  clock.advance(1);
  assert.equal(c.correlate(ev("a", "link eth0 is not ours")).skip, false, "one token after 5 minutes");
  assert.equal(c.correlate(ev("a", "link eth0 is not ours")).skip, true);
  clock.advance(300_000 * 100);
  for (let i = 0; i < 25; i++) assert.equal(c.correlate(ev("a", "x")).skip, false, "refilled up to the burst");
  assert.equal(c.correlate(ev("a", "x")).skip, true, "never beyond the burst");
});

Deno.test("correlator: more than 10 different messages of one reason within 10 minutes are combined", () => {
  const clock = new FakeClock();
  const c = new EventCorrelator({}, clock);
  const keys = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const r = c.correlate(ev("a", `peer ${i} endpoint does not resolve`));
    assert.ok(!r.skip && r.message === `peer ${i} endpoint does not resolve`);
    keys.add(r.key);
  }
  assert.equal(keys.size, 10);
  const combined = [10, 11, 12].map((i) => c.correlate(ev("a", `peer ${i} endpoint does not resolve`)));
  for (const [i, r] of combined.entries()) {
    assert.ok(!r.skip);
    assert.equal(r.message, `${COMBINED_PREFIX}peer ${10 + i} endpoint does not resolve`);
    assert.equal(r.key, (combined[0] as { key: string }).key, "one Event for all combined ones");
  }
  const otherReason = c.correlate(ev("a", "peer 13", "SecretNotFound"));
  assert.ok(!otherReason.skip && !otherReason.message.startsWith(COMBINED_PREFIX));
  clock.advance(600_001);
  const fresh = c.correlate(ev("a", "peer 14 endpoint does not resolve"));
  assert.ok(!fresh.skip && !fresh.message.startsWith(COMBINED_PREFIX), "a new window starts uncombined");
});

Deno.test("correlator: caches stay bounded by cacheSize (a forgotten object starts with a full bucket)", () => {
  const c = new EventCorrelator({ cacheSize: 3, burst: 1 }, new FakeClock());
  assert.equal(c.correlate(ev("a", "m")).skip, false);
  assert.equal(c.correlate(ev("a", "m")).skip, true);
  for (const o of ["b", "c", "d"]) c.correlate(ev(o, "m"));
  assert.equal(c.correlate(ev("a", "m")).skip, false, "a was evicted, so its bucket is new");
});
