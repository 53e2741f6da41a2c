import assert from "node:assert/strict";
import { parseTrace, parseTraceLine, phaseOffsets, phaseSpread, splitRun } from "../../bench/converge/trace.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("trace lines: time, phase and key are read; other lines and unknown phases are not", () => {
  const cases: [string, ReturnType<typeof parseTraceLine>][] = [
    [
      "2026-12-06 06:34:18.160 +00 [INF] dn42op·node·wireguard: trace phase=device-created key=ns/wg-a v=4",
      { at: Date.parse("2026-12-06T06:34:18.160Z"), phase: "device-created", key: "ns/wg-a" },
    ],
    [
      '2026-12-06 08:00:00.005 +02:00 [INF] dn42op·kube·status: trace phase=status-written key="ns/odd name" v=4',
      { at: Date.parse("2026-12-06T06:00:00.005Z"), phase: "status-written", key: "ns/odd name" },
    ],
    ["2026-12-06 06:34:18.160 +00 [INF] dn42op·kube·controller: successfully synced key=ns/wg-a", undefined],
    ["2026-12-06 06:34:18.160 +00 [INF] dn42op·x: trace phase=no-such-phase key=ns/a", undefined],
    ["2026-12-06 06:34:18.160 +00 [INF] dn42op·x: trace phase=keys-read", undefined],
    ["not a log line", undefined],
  ];
  for (const [line, want] of cases) assert.deepEqual(parseTraceLine(line), want, line);
});

Deno.test("phase offsets: first occurrence per phase and key at or after t0, in phase order", () => {
  const at = (s: string) => Date.parse(`2026-12-06T06:00:${s}Z`);
  const log = [
    "2026-12-06 06:00:00.500 +00 [INF] a: trace phase=agent-reconcile key=ns/x", // before t0: an earlier run
    "2026-12-06 06:00:01.300 +00 [INF] a: trace phase=device-created key=ns/x",
    "2026-12-06 06:00:01.100 +00 [INF] a: trace phase=agent-reconcile key=ns/x",
    "2026-12-06 06:00:01.900 +00 [INF] a: trace phase=agent-reconcile key=ns/x", // a later pass
    "2026-12-06 06:00:01.200 +00 [INF] a: trace phase=agent-reconcile key=ns/y",
    "2026-12-06 06:00:01.250 +00 [INF] a: trace phase=agent-reconcile key=other/z", // not asked for
  ].join("\n");
  const got = phaseOffsets(parseTrace(log), at("01.000"), ["ns/x", "ns/y"]);
  assert.deepEqual([...got], [
    ["agent-reconcile ns/x", 100],
    ["agent-reconcile ns/y", 200],
    ["device-created ns/x", 300],
  ]);
});

Deno.test("phase spread: per phase the objects' first arrivals after t0, their median and the last one", () => {
  const log = [
    "2026-12-06 06:00:00.500 +00 [INF] a: trace phase=device-created key=ns/x", // before t0: an earlier run
    "2026-12-06 06:00:01.100 +00 [INF] a: trace phase=agent-reconcile key=ns/x",
    "2026-12-06 06:00:01.200 +00 [INF] b: trace phase=agent-reconcile key=ns/y",
    "2026-12-06 06:00:04.000 +00 [INF] c: trace phase=agent-reconcile key=ns/z",
    "2026-12-06 06:00:05.000 +00 [INF] a: trace phase=agent-reconcile key=ns/x", // a later pass of x
    "2026-12-06 06:00:02.000 +00 [INF] a: trace phase=device-created key=ns/x",
  ].join("\n");
  assert.deepEqual(phaseSpread(parseTrace(log), Date.parse("2026-12-06T06:00:01.000Z")), [
    { phase: "agent-reconcile", objects: 3, p50_ms: 200, max_ms: 3000 },
    { phase: "device-created", objects: 1, p50_ms: 1000, max_ms: 1000 },
  ]);
});

Deno.test("trace lines written by the programs' logging at -v 4 are read back; at -v 3 there are none", async () => {
  const script = (v: number) =>
    `import { logger, setupLogging, shutdownLogging } from "${ROOT}src/log/mod.ts";
     import { trace } from "${ROOT}src/log/trace.ts";
     await setupLogging({ verbosity: ${v}, format: "text", program: "t" });
     trace(logger("t"), "device-moved", "ns/wg-a", { extra: "x y" });
     await shutdownLogging();`;
  for (const [v, want] of [[4, ["device-moved ns/wg-a"]], [3, []]] as const) {
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", script(v)], cwd: ROOT, stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const events = parseTrace(new TextDecoder().decode(out.stderr));
    assert.deepEqual(events.map((e) => `${e.phase} ${e.key}`), want);
    for (const e of events) assert.ok(Math.abs(e.at - Date.now()) < 60_000);
  }
});

Deno.test("a run in two parts: apply → the plan controller's first pass, and from there to the first ping", () => {
  const cases: [string, [string, number][], ReturnType<typeof splitRun>][] = [
    ["both phases", [["plan-reconcile ns/wgp1", 68], ["device-created ns/wg-a", 120], ["first-ping", 180]], {
      toPlan: 0.068,
      operator: 0.112,
    }],
    ["no plan pass traced", [["first-ping", 180]], undefined],
    ["no ping", [["plan-reconcile ns/wgp1", 68]], undefined],
  ];
  for (const [name, trace, want] of cases) assert.deepEqual(splitRun(new Map(trace)), want, name);
});
