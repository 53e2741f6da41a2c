/**
 * Lifecycle of extra control planes (not the shared one): the cluster:up/env/down CLI with reuse and idempotent
 * down, and the parent-death guard that stops a cluster whose owner process was killed.
 */
import assert from "node:assert/strict";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { freePort, isRunning, startDaemon } from "../../kit/proc.ts";
import { recordPid } from "../../scripts/controlplane/proc.ts";
import { clusterDown, type ClusterInfo } from "../../scripts/cluster.ts";
import { skipUnless } from "../helpers/caps.ts";
import { until } from "../../kit/wait.ts";

const CLUSTER_TS = new URL("../../scripts/cluster.ts", import.meta.url).pathname;
const ignore = skipUnless("cluster");

async function cli(dir: string, cmd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLUSTER_TS, cmd],
    env: { DN42OP_CLUSTER_DIR: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function daemonsGone(info: ClusterInfo): boolean {
  return !isRunning(info.pids.etcd, BINARIES.etcd) && !isRunning(info.pids.apiserver, BINARIES.kubeApiserver) &&
    !isRunning(info.pids.controllerManager, BINARIES.kubeControllerManager);
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test({
  name: "cluster CLI: up prints KUBECONFIG=, a second up reuses, env exports, down stops by PID and is idempotent",
  ignore,
  fn: async () => {
    const dir = `/tmp/dn42op-cp-cli-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const up = await cli(dir, "up");
      assert.equal(up.code, 0, up.stderr);
      assert.deepEqual(up.stdout.trim().split("\n"), [`KUBECONFIG=${dir}/kubeconfig`]);
      const info: ClusterInfo = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
      assert.ok(!daemonsGone(info));

      const again = await cli(dir, "up");
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /reusing/);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/state.json`)).pids, info.pids);

      const env = await cli(dir, "env");
      assert.deepEqual(env.stdout.trim().split("\n"), [
        `export KUBECONFIG=${dir}/kubeconfig`,
        `export DN42OP_KUBECONFIG=${dir}/kubeconfig`,
      ]);

      assert.equal((await cli(dir, "down")).code, 0);
      assert.ok(daemonsGone(info), "all three daemons stopped");
      assert.equal(await exists(dir), false, "data directory removed");
      assert.equal((await cli(dir, "down")).code, 0, "down twice is fine");
      assert.equal((await cli(dir, "env")).code, 1, "env without a cluster fails");
    } finally {
      await cli(dir, "down");
    }
  },
});

Deno.test({
  name: "parent-death guard: killing the owner process (SIGKILL) stops its cluster and removes its directory",
  ignore,
  fn: async () => {
    const dir = `/tmp/dn42op-cp-owner-${crypto.randomUUID().slice(0, 8)}`;
    const code = `import { clusterUp } from ${JSON.stringify(CLUSTER_TS)};
      const info = await clusterUp({ dir: ${JSON.stringify(dir)}, ownerPid: Deno.pid, log: () => {} });
      console.log(JSON.stringify(info));
      setInterval(() => {}, 1000);`;
    const owner = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "inherit" })
      .spawn();
    const reader = owner.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
    }
    let info: ClusterInfo | undefined;
    try {
      info = JSON.parse(text);
      assert.ok(info && !daemonsGone(info), "the owner's cluster runs");
      owner.kill("SIGKILL");
      await owner.status;
      await until("the watchdog to stop the daemons", () => Promise.resolve(daemonsGone(info!)), 20_000);
      await until("the watchdog to remove the directory", async () => !(await exists(dir)), 5_000);
    } finally {
      await reader.cancel();
      try {
        owner.kill("SIGKILL");
      } catch { /* already dead */ }
      await owner.status;
    }
  },
});

Deno.test({
  name: "cluster down: a half-started cluster (recorded PIDs, no state.json) is stopped and removed",
  ignore,
  fn: async () => {
    const dir = `/tmp/dn42op-cp-half-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(dir);
    const [p, q] = [freePort(), freePort()];
    const pid = await startDaemon(BINARIES.etcd, [
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${p}`,
      `--advertise-client-urls=http://127.0.0.1:${p}`,
      `--listen-peer-urls=http://127.0.0.1:${q}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${q}`,
      `--initial-cluster=default=http://127.0.0.1:${q}`,
    ], `${dir}/etcd.log`);
    try {
      await recordPid(dir, "etcd", pid);
      assert.ok(isRunning(pid, BINARIES.etcd));
      await clusterDown({ dir });
      assert.equal(isRunning(pid, BINARIES.etcd), false, "etcd stopped");
      assert.equal(await exists(dir), false, "directory removed");
    } finally {
      if (isRunning(pid, BINARIES.etcd)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
