/** kit/wait.ts: `holds` passes while the value stays and fails, naming what, as soon as it changes. */
import assert from "node:assert/strict";
import { holds, NotSteady, until, WaitTimeout } from "../../kit/wait.ts";

Deno.test("holds: a value that stays passes; one that changes fails at once, naming what and what was seen", async () => {
  await holds("constant", () => 3, 3, 50, 5);
  let n = 0;
  const t0 = Date.now();
  await assert.rejects(
    holds("counter", () => ++n > 2 ? 7 : 1, 1, 10_000, 5),
    (e: unknown) => e instanceof NotSteady && /counter: expected 1, saw 7/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 5_000, "fails at the first change, not at the end of the period");
  await assert.rejects(holds("async", () => Promise.resolve("b"), "a", 50, 5), NotSteady);
});

Deno.test("until: returns the first truthy value; times out naming what", async () => {
  let n = 0;
  assert.equal(await until("third call", () => ++n >= 3 && n, 5_000, 1), 3);
  await assert.rejects(
    until("never", () => false, 20, 5),
    (e: unknown) => e instanceof WaitTimeout && /never/.test(e.message),
  );
});
