import assert from "node:assert/strict";
import { Manager, periodic, type Runnable } from "../../src/kube/manager.ts";
import { ControllerMetrics } from "../../src/kube/metrics.ts";
import { until } from "../../kit/wait.ts";

/** A runnable that records its start and stop in `log` and runs until aborted. */
function recorder(name: string, log: string[], o: { fail?: boolean; leader?: boolean } = {}): Runnable {
  return {
    name,
    needLeaderElection: o.leader,
    start: async (signal) => {
      log.push(`start ${name}`);
      if (o.fail) throw new Error(`${name} broke`);
      await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
      await Promise.resolve();
      log.push(`stop ${name}`);
    },
  };
}

function manager() {
  return new Manager({ name: "test", metrics: new ControllerMetrics(undefined, { processMetrics: false }) });
}

Deno.test("manager: runnables start at once, stop on the signal; closers run after them in reverse order", async () => {
  const log: string[] = [];
  const m = manager();
  m.add(recorder("a", log));
  m.add(recorder("b", log));
  m.onStop("first", () => log.push("close first"));
  m.onStop("second", () => log.push("close second"));
  const ac = new AbortController();
  const done = m.run(ac.signal);
  await until("log.length === 2", () => log.length === 2, 5000, 1);
  assert.deepEqual(log, ["start a", "start b"]);
  ac.abort();
  assert.equal(await done, 0);
  assert.deepEqual(log.slice(2, 4).sort(), ["stop a", "stop b"]);
  assert.deepEqual(log.slice(4), ["close second", "close first"]);
  await assert.rejects(m.run(new AbortController().signal), /already running/);
});

Deno.test("manager: a failing runnable stops the others and the run ends with status 1", async () => {
  const log: string[] = [];
  const m = manager();
  m.add(recorder("steady", log));
  m.add(recorder("broken", log, { fail: true }));
  m.onStop("closer", () => log.push("closed"));
  assert.equal(await m.run(new AbortController().signal), 1);
  assert.deepEqual(log, ["start steady", "start broken", "stop steady", "closed"]);
});

Deno.test("manager: without leader election, leader-only runnables start at once; a failing closer does not stop the rest", async () => {
  const log: string[] = [];
  const m = manager();
  m.add(recorder("leader-only", log, { leader: true }));
  m.onStop("ok", () => log.push("closed ok"));
  m.onStop("bad", () => {
    throw new Error("nope");
  });
  const ac = new AbortController();
  const done = m.run(ac.signal);
  await until("log.length === 1", () => log.length === 1, 5000, 1);
  assert.ok(m.isLeader());
  ac.abort();
  assert.equal(await done, 0);
  assert.deepEqual(log, ["start leader-only", "stop leader-only", "closed ok"]);
});

Deno.test("periodic: waits until ready, runs, runs again after the period, survives a failing pass", async () => {
  let ready = false;
  let passes = 0;
  const ac = new AbortController();
  const r = periodic({
    name: "sweep",
    periodMs: 1,
    ready: async () => {
      await until("ready", () => ready, 5000, 1);
      return true;
    },
    run: () => {
      passes++;
      if (passes === 1) return Promise.reject(new Error("first pass fails"));
      if (passes === 3) ac.abort();
      return Promise.resolve();
    },
  });
  const done = r.start(ac.signal);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(passes, 0, "no pass before ready");
  ready = true;
  await done;
  assert.equal(passes, 3);
  let ran = false;
  await periodic({
    name: "never",
    periodMs: 1,
    ready: () => Promise.resolve(false),
    run: () => Promise.resolve(void (ran = true)),
  })
    .start(new AbortController().signal);
  assert.equal(ran, false, "a task whose ready gives up never runs");
});

Deno.test("manager: the ops server serves the registered metrics and probes, and is stopped last", async () => {
  let port = 0;
  const m = new Manager({
    name: "test",
    metrics: new ControllerMetrics(undefined, { processMetrics: false }),
    ops: { address: "127.0.0.1:0" },
    onOpsListening: (s) => (port = s.port),
  });
  let ready: boolean | string = "not yet";
  m.addReadyz({ name: "thing", check: () => ready });
  m.metrics.customGauge("test_links", "links", ["kind"], () => [{ labels: { kind: "wg" }, value: 2 }]);
  const served: number[] = [];
  m.onStop(
    "probe",
    async () => served.push((await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.text())).length),
  );
  const ac = new AbortController();
  const done = m.run(ac.signal);
  await until("port !== 0", () => port !== 0, 5000, 1);
  const base = `http://127.0.0.1:${port}`;
  const notReady = await fetch(`${base}/readyz`);
  assert.equal(notReady.status, 503);
  assert.match(await notReady.text(), /\[-\]thing failed: not yet/);
  ready = true;
  const nowReady = await fetch(`${base}/readyz`);
  assert.deepEqual([nowReady.status, await nowReady.text()], [200, "ok\n"]);
  assert.match(await fetch(`${base}/metrics`).then((r) => r.text()), /^test_links\{kind="wg"\} 2$/m);
  ac.abort();
  assert.equal(await done, 0);
  assert.deepEqual(served, ["ok\n".length], "closers still reach the ops server");
  await assert.rejects(fetch(`${base}/healthz`));
});
