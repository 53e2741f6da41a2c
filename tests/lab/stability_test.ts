/** The stability check's comparison (pure; lab/stability.ts). */
import assert from "node:assert/strict";
import { type Snapshot, stabilityRows } from "../../lab/stability.ts";

const snap = (links: [string, number][], daemons: [string, number[]][], warnings: [string, string][]): Snapshot => ({
  links: new Map(links),
  daemons: new Map(daemons),
  warnings: new Map(warnings),
});

Deno.test("stabilityRows: unchanged passes; a recreated link, a restarted daemon, a new Warning, a missed ping fail", () => {
  const before = snap([["agent2 wg2", 12], ["agent2 wg-lax2-lax1-0", 13]], [["wg2", [100]]], [["u1", "old (count 1)"]]);
  const steady = stabilityRows(before, before, { samples: 13, perSample: 4, misses: [] }, 65);
  assert.deepEqual(steady.map((r) => r.status), ["ok", "ok", "ok", "ok"]);
  assert.equal(steady[3].observed, "13/13 samples answered");

  const after = snap(
    [["agent2 wg2", 14], ["agent2 wg-lax2-lax1-0", 13]],
    [["wg2", [200]]],
    [["u1", "old (count 2)"], ["u2", "WireGuardInterface/lax1-wg2 KernelError: x (count 1)"]],
  );
  const miss = { atSeconds: 30, check: "lax1-wg1/wg2: ping fe80::a:1771%wg1", observed: "no answer" };
  const rows = stabilityRows(before, after, { samples: 13, perSample: 4, misses: [miss] }, 65);
  assert.deepEqual(rows.map((r) => r.status), ["FAIL", "FAIL", "FAIL", "FAIL"]);
  assert.equal(rows[0].observed, "agent2 wg2: 12 → 14");
  assert.equal(rows[1].observed, "wg2: [100] → [200]");
  assert.match(rows[2].observed, /old \(count 2\); .*KernelError/);
  assert.equal(rows[3].observed, "at 30 s lax1-wg1/wg2: ping fe80::a:1771%wg1: no answer");

  const gone = snap([["agent2 wg2", 12]], [], []);
  assert.equal(
    stabilityRows(before, gone, { samples: 1, perSample: 4, misses: [] }, 65)[0].observed,
    "agent2 wg-lax2-lax1-0: 13 → null",
  );
  const empty = snap([], [], []);
  const nothing = stabilityRows(empty, empty, { samples: 0, perSample: 4, misses: [] }, 65);
  assert.deepEqual(nothing.map((r) => r.status), ["FAIL", "FAIL", "ok", "FAIL"], "an empty lab is not stable");
});
