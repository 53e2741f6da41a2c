import assert from "node:assert/strict";
import { CounterThrottle, withPreviousCounters } from "../../../src/controllers/wg/stats.ts";

const peer = (key: string, hs?: number, rx?: number, tx?: number, endpoint?: string) => ({
  public_key: key,
  allowed_ips: ["10.0.0.1/32"],
  ...(endpoint ? { endpoint } : {}),
  ...(hs !== undefined ? { last_handshake_time: hs } : {}),
  ...(rx !== undefined ? { receive_bytes: rx } : {}),
  ...(tx !== undefined ? { transmit_bytes: tx } : {}),
});
const dev = (...peers: ReturnType<typeof peer>[]) => ({ name: "wg0", listen_port: 51820, peers });

Deno.test("withPreviousCounters: counters come from the stored peer with the same key; the rest stays new", () => {
  const cases: [string, ReturnType<typeof dev> | undefined, ReturnType<typeof dev> | undefined, unknown][] = [
    ["no stored status", dev(peer("A", 5, 1, 2)), undefined, dev(peer("A", 5, 1, 2))],
    ["counters held", dev(peer("A", 9, 10, 20)), dev(peer("A", 5, 1, 2)), dev(peer("A", 5, 1, 2))],
    [
      "endpoint change kept",
      dev(peer("A", 9, 10, 20, "192.0.2.1:1")),
      dev(peer("A", 5, 1, 2)),
      dev(peer("A", 5, 1, 2, "192.0.2.1:1")),
    ],
    ["new peer keeps its counters", dev(peer("B", 9, 10, 20)), dev(peer("A", 5, 1, 2)), dev(peer("B", 9, 10, 20))],
    ["first handshake is news", dev(peer("A", 9, 10, 20)), dev(peer("A", undefined, 0, 9)), dev(peer("A", 9, 10, 20))],
    [
      "no handshake yet: bytes held",
      dev(peer("A", undefined, 0, 90)),
      dev(peer("A", undefined, 0, 9)),
      dev(
        peer("A", undefined, 0, 9),
      ),
    ],
    ["no device", undefined, dev(peer("A", 5, 1, 2)), undefined],
  ];
  for (const [name, next, prev, want] of cases) assert.deepEqual(withPreviousCounters(next, prev), want, name);
});

Deno.test("CounterThrottle: counter-only changes are published at most once per interval per object", () => {
  let now = 0;
  const t = new CounterThrottle(60_000, () => now);
  const stored = dev(peer("A", 5, 1, 2));
  assert.deepEqual(t.device("k", dev(peer("A", 6, 3, 4)), stored), dev(peer("A", 6, 3, 4)), "first change: published");
  now = 30_000;
  assert.deepEqual(t.device("k", dev(peer("A", 7, 5, 6)), dev(peer("A", 6, 3, 4))), dev(peer("A", 6, 3, 4)), "held");
  assert.deepEqual(t.device("j", dev(peer("A", 7, 5, 6)), stored), dev(peer("A", 7, 5, 6)), "per object");
  now = 60_000;
  assert.deepEqual(t.device("k", dev(peer("A", 8, 7, 8)), dev(peer("A", 6, 3, 4))), dev(peer("A", 8, 7, 8)), "due");
  now = 61_000;
  assert.deepEqual(t.device("k", dev(peer("A", 8, 7, 8)), dev(peer("A", 8, 7, 8))), dev(peer("A", 8, 7, 8)), "same");
  t.forget("k");
  assert.deepEqual(t.device("k", dev(peer("A", 9, 9, 9)), dev(peer("A", 8, 7, 8))), dev(peer("A", 9, 9, 9)), "forgot");
  const always = new CounterThrottle(0, () => now);
  assert.deepEqual(always.device("k", dev(peer("A", 9)), stored), dev(peer("A", 9)));
  assert.deepEqual(always.device("k", dev(peer("A", 10)), dev(peer("A", 9))), dev(peer("A", 10)), "interval 0");
});
