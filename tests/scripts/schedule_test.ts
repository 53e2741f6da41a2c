/** The test runner's schedule (scripts/test.ts): which files share a `deno test` process. */
import assert from "node:assert/strict";
import { schedule } from "../../scripts/test.ts";

const names = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `tests/${tag}${i}_test.ts`);

Deno.test("schedule: every file once; slow files alone; longest first; quick files spread over the processes", () => {
  const skipping = names(76, "skip"); // tests all skipped (test:unit): 0 s of tests, still loaded
  const quick = names(10, "quick");
  const slow = names(3, "slow");
  const times: Record<string, number> = {};
  for (const f of skipping) times[f] = 0;
  quick.forEach((f, i) => times[f] = 0.2 * (i + 1));
  slow.forEach((f, i) => times[f] = 20 + i);
  const files = [...skipping, ...quick, ...slow];
  const table: [string, number][] = [["4 processes", 4], ["1 process", 1], ["8 processes", 8]];
  for (const [what, parallel] of table) {
    const jobs = schedule(files, times, 1, parallel);
    const all = jobs.flatMap((j) => j.files).sort();
    assert.deepEqual(all, [...files].sort(), `${what}: each file exactly once`);
    for (const f of slow) assert.ok(jobs.some((j) => j.files.length === 1 && j.files[0] === f), `${what}: ${f} alone`);
    assert.deepEqual(
      jobs.map((j) => j.expectS),
      jobs.map((j) => j.expectS).sort((a, b) => b - a),
      `${what}: longest first`,
    );
    const batches = jobs.filter((j) => j.files.length > 1);
    // The regression: files without test time all went into one process (45 s of module loading in test:unit).
    assert.ok(batches.length >= Math.min(parallel, 4), `${what}: ${batches.length} batches`);
    assert.ok(Math.max(...batches.map((j) => j.files.length)) <= 30, `${what}: no batch holds most of the files`);
  }
});

Deno.test("schedule: a file never measured counts as the given seconds", () => {
  assert.deepEqual(schedule(["tests/new_test.ts"], {}, 10, 4), [{ files: ["tests/new_test.ts"], expectS: 10.5 }]);
  assert.equal(
    schedule(["tests/a_test.ts", "tests/b_test.ts"], {}, 1, 1).length,
    1,
    "two quick unknown files: one batch",
  );
});
