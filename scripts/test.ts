/**
 * The whole test suite, as run by the README's test command and by CI (`.ci/run`), in two phases:
 *
 * Prepare (needs the network: apt, the Go module proxy, npm):
 *   1. installs what is missing (scripts/setup.ts profiles base, containers, graph, browser, kernel),
 *   2. builds the control plane from its Go modules (cached) and caches the npm packages,
 *   3. fetches Debian's kernel and builds the kernel tier's initramfs (cached), fetches the image's inputs.
 * Suite (offline; as root inside a throwaway network namespace `dn42op-suite-…` created here and removed at the
 * end, so no test can touch the machine's own links even by mistake — tests make their own namespaces too):
 *   4. the kernel tier under qemu (scripts/kernel/), started first and running beside everything else: every
 *      `*.kernel_test.ts` on Debian's kernel; its host-driven kernel lab tests (`*.kernel_lab_test.ts`) wait until
 *      the host tests are done;
 *   5. at the same time the static checks (`deno fmt --check`, `deno lint`, `deno check`, `check:layers`, side by side)
 *      and one real control plane for the whole run (scripts/cluster.ts);
 *   6. every host test file, several `deno test` processes at once (see {@link schedule}); capability-dependent
 *      tests skip with a recorded reason;
 *   7. the skipped tests with their reasons, the failures (with the output of each failed file), the wall time of
 *      each part and of the slowest files, and a last line `N passed, N failed, N skipped`.
 *
 * `--unit` (`deno task test:unit`): no prepare phase, no namespace, no control plane, no kernel tier, everything
 * from Deno's cache (`--cached-only`); capabilities all count as missing (tests/helpers/caps.ts), so only tests
 * that need nothing but Deno run — as any user, without the network.
 *
 * Usage: deno run -A scripts/test.ts [--unit] [--no-kernel] [--no-cluster] [--jobs N] [test paths...]
 * (test paths — files or directories — restrict the host tests and leave the kernel tier out; --jobs or
 * $DN42OP_TEST_JOBS sets how many test processes run at once, default 4.)
 */
import { parseArgs } from "node:util";
import { clusterDown, clusterUp } from "./cluster.ts";
import { buildControlPlane } from "./controlplane/build.ts";
import { type JunitCase, junitCases } from "./kernel/junit.ts";
import { prepareImageInputs } from "./image/build.ts";
import { prepareKernelTier, runKernelTier } from "./kernel/tier.ts";
import { ensureProfiles } from "./setup.ts";
import { cacheNpmPackages } from "./npm_cache.ts";
import { createNetns, deleteNetns } from "../kit/netns.ts";
import { stream } from "../kit/proc.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const OUT = `${ROOT}/.out`;
/** Seconds of each test file's tests in the last run, per mode (a test:unit run skips most of them). */
const timesFile = (unit: boolean) => `${OUT}/test-times${unit ? "-unit" : ""}.json`;
/**
 * The same, as committed from a run of this machine's kind: what a fresh clone (CI) schedules by. Without it every
 * file counts as unmeasured and runs in a process of its own (147 processes in CI).
 */
const baselineFile = (unit: boolean) => `${ROOT}/tests/times${unit ? "-unit" : ""}.json`;
/** Bound on one test process. */
const JOB_TIMEOUT_MS = 30 * 60 * 1000;
/** Files expected to take less than this are run several to a process (a process start costs about a second). */
const BATCH_BELOW_S = 4;
/** The most expected seconds of one batch. */
const BATCH_MAX_S = 12;
/**
 * Seconds a file adds to its batch besides its tests: loading its modules. Without it, files whose tests all skip
 * (most of them under test:unit) count as free and all land in one process: 76 such files took 45 s there, the
 * longest part of test:unit, while the other processes had ended.
 */
const FILE_LOAD_S = 0.5;

/** Outcome of one counted item: a static check, a tier, or a test case. */
interface Outcome {
  name: string;
  status: "passed" | "failed" | "skipped";
  detail?: string;
}

const outcomes: Outcome[] = [];
/** Wall seconds of each part of the run, in the order they ended. */
const parts: [string, number][] = [];

function record(name: string, status: Outcome["status"], detail?: string): void {
  outcomes.push({ name, status, detail });
  const mark = status === "passed" ? "ok" : status === "failed" ? "FAILED" : "skipped";
  console.log(`== ${name}: ${mark}${detail && status !== "passed" ? ` (${detail.split("\n")[0]})` : ""}`);
}

/** Runs `fn`, recording its wall time as part `name`. */
async function timedPart<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    parts.push([name, (performance.now() - t0) / 1000]);
  }
}

async function staticChecks(cachedOnly: boolean): Promise<void> {
  const deno = Deno.execPath();
  const cached = cachedOnly ? ["--cached-only"] : [];
  const checks: [string, string[]][] = [
    ["deno fmt --check", [deno, "fmt", "--check"]],
    ["deno lint", [deno, "lint"]],
    ["deno check", [deno, "check", ...cached, "."]],
    ["check:layers", [deno, "run", "--allow-read", "scripts/layers.ts"]],
  ];
  await Promise.all(checks.map(async ([name, cmd]) => {
    const r = await stream(cmd, { quiet: true, cwd: ROOT });
    if (r.code === 0) return record(name, "passed");
    console.log(r.output.slice(-4000));
    record(name, "failed", `exit ${r.code}`);
  }));
}

/** Test files (`*_test.ts`, `*.test.ts`) under the given files or directories, relative to the repository. */
export async function testFiles(paths: string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(`${ROOT}/${rel}`);
    if (info.isFile) return void found.push(rel);
    for await (const e of Deno.readDir(`${ROOT}/${rel}`)) {
      const child = `${rel.replace(/\/$/, "")}/${e.name}`;
      if (e.isDirectory) await walk(child);
      else if (/[._]test\.ts$/.test(e.name)) found.push(child);
    }
  };
  for (const p of paths) await walk(p.replace(/^\.\//, ""));
  return [...new Set(found)].sort();
}

/** One `deno test` process: the files it runs and the seconds their tests are expected to take. */
export interface Job {
  files: string[];
  expectS: number;
}

/**
 * The jobs for `files` (pure), from the seconds each file's tests took last time (`times`, process start left out)
 * plus {@link FILE_LOAD_S} for loading it: a file that takes at least {@link BATCH_BELOW_S} runs in a process of its
 * own; quicker ones share processes of up to {@link BATCH_MAX_S} seconds (less when that leaves fewer than
 * `parallel` processes), because starting a process and loading its modules costs a second or more of CPU. A file
 * never measured counts as `unknownS`. Longest first, so the slow files start early and the quick batches fill the
 * gaps at the end.
 */
export function schedule(files: string[], times: Record<string, number>, unknownS: number, parallel = 1): Job[] {
  const t = (f: string) => (times[f] ?? unknownS) + FILE_LOAD_S;
  const jobs: Job[] = [];
  const quick = files.filter((f) => t(f) < BATCH_BELOW_S).sort((a, b) => t(b) - t(a));
  // at least `parallel` batches when the quick files are all there is, so that none of the processes idles
  const most = Math.min(BATCH_MAX_S, Math.max(quick.reduce((n, f) => n + t(f), 0) / parallel, 0.1));
  let batch: Job = { files: [], expectS: 0 };
  for (const f of quick) {
    if (batch.files.length && batch.expectS + t(f) > most) jobs.push(batch), batch = { files: [], expectS: 0 };
    batch.files.push(f);
    batch.expectS += t(f);
  }
  if (batch.files.length) jobs.push(batch);
  for (const f of files) if (t(f) >= BATCH_BELOW_S) jobs.push({ files: [f], expectS: t(f) });
  return jobs.sort((a, b) => b.expectS - a.expectS);
}

/** Seconds per file from a JUnit report: the sum of its tests' times (steps left out: their parents hold them). */
export function fileSeconds(xml: string): Record<string, number> {
  const out: Record<string, number> = {};
  const suites = xml.split("<testsuite ").slice(1);
  for (const s of suites) {
    const file = /^name="([^"]*)"/.exec(s)?.[1]?.replace(/^\.\//, "");
    if (!file) continue;
    const names: string[] = [];
    let sum = 0;
    for (const m of s.matchAll(/<testcase name="([^"]*)"[^>]*\btime="([\d.]+)"/g)) {
      if (!names.some((p) => m[1].startsWith(`${p} &gt; `) || m[1].startsWith(`${p} > `))) sum += Number(m[2]);
      names.push(m[1]);
    }
    out[file] = sum;
  }
  return out;
}

/** The committed baseline's seconds per file, overridden by this checkout's last run. */
async function readTimes(unit: boolean): Promise<Record<string, number>> {
  const read = async (path: string) => {
    try {
      return JSON.parse(await Deno.readTextFile(path)) as Record<string, number>;
    } catch {
      return {};
    }
  };
  return { ...await read(baselineFile(unit)), ...await read(timesFile(unit)) };
}

/** What one job left: its cases, its files' test seconds, its wall seconds, and its output when it failed. */
interface JobResult {
  cases: JunitCase[];
  seconds: Record<string, number>;
  wall: number;
  failedOutput?: string;
}

async function runJob(job: Job, n: number, env: Record<string, string>, cachedOnly: boolean): Promise<JobResult> {
  const junit = `${OUT}/junit/job-${n}.xml`;
  const t0 = performance.now();
  const args = ["test", "-A", "--no-check", ...(cachedOnly ? ["--cached-only"] : []), `--junit-path=${junit}`];
  const r = await stream([Deno.execPath(), ...args, ...job.files], {
    env,
    cwd: ROOT,
    quiet: true,
    timeoutMs: JOB_TIMEOUT_MS,
  });
  const wall = (performance.now() - t0) / 1000;
  let xml = "";
  let cases: JunitCase[] = [];
  try {
    xml = await Deno.readTextFile(junit);
    cases = junitCases(xml);
  } catch { /* no report: the process died; counted below */ }
  const seconds = fileSeconds(xml);
  const failed = r.code !== 0 || cases.some((c) => c.status === "failed");
  const label = job.files.length === 1 ? job.files[0] : `${job.files.length} files (${job.files.join(", ")})`;
  console.log(`${failed ? "FAILED" : "ok"}  ${label}  ${wall.toFixed(1)} s`);
  if (r.code !== 0 && !cases.some((c) => c.status === "failed")) {
    cases.push({ file: label, name: `deno test exited ${r.code} without a failing test`, status: "failed" });
  }
  return { cases, seconds, wall, failedOutput: failed ? `---- ${label}\n${r.output.slice(-20_000)}` : undefined };
}

/** Runs the host test files, `jobs` processes at once; returns the outputs of failed jobs. */
async function hostTests(
  paths: string[],
  env: Record<string, string>,
  jobs: number,
  unit: boolean,
): Promise<string[]> {
  await Deno.mkdir(`${OUT}/junit`, { recursive: true });
  const files = await testFiles(paths);
  const previous = await readTimes(unit);
  // never measured: under test:unit most likely quick, in a full run most likely not
  const queue = schedule(files, previous, unit ? 1 : BATCH_BELOW_S, jobs);
  console.log(`host tests: ${files.length} files in ${queue.length} processes, ${jobs} at once`);
  const failedOutputs: string[] = [];
  const times: Record<string, number> = { ...previous };
  /** Per file: wall seconds of its own process, or its tests' seconds when it shared one. */
  const walls: Record<string, number> = {};
  let next = 0;
  await Promise.all(Array.from({ length: jobs }, async () => {
    while (next < queue.length) {
      const n = next++;
      const r = await runJob(queue[n], n, env, unit);
      for (const c of r.cases) {
        outcomes.push({
          name: `${c.file.replace(/^(\.\.?\/)+/, "")} :: ${c.name}`,
          status: c.status,
          detail: c.detail,
        });
      }
      Object.assign(times, r.seconds);
      for (const f of queue[n].files) walls[f] = queue[n].files.length === 1 ? r.wall : r.seconds[f] ?? 0;
      if (r.failedOutput) failedOutputs.push(r.failedOutput);
    }
  }));
  await Deno.writeTextFile(timesFile(unit), JSON.stringify(times, null, 1));
  const slowest = files.map((f) => [f, walls[f] ?? 0] as const).sort((a, b) => b[1] - a[1]).slice(0, 15);
  console.log("\nSlowest test files (wall s of their own process; tests' s when batched):");
  for (const [f, s] of slowest) console.log(`  ${s.toFixed(1).padStart(7)}  ${f}`);
  return failedOutputs;
}

/** Starts the run's one control plane; on failure records it and makes cluster tests skip with the reason. */
async function startCluster(env: Record<string, string>): Promise<{ dir: string } | undefined> {
  try {
    const info = await clusterUp({ dir: `${OUT}/cluster`, ownerPid: Deno.pid });
    env.DN42OP_KUBECONFIG = info.kubeconfig;
    record("control plane up", "passed");
    return info;
  } catch (e) {
    record("control plane up", "failed", (e as Error).message);
    env.DN42OP_NO_CLUSTER = `the control plane failed to start: ${(e as Error).message.split("\n")[0]}`;
    return undefined;
  }
}

function summarize(skipLog: string, failedOutputs: string[]): number {
  const passed = outcomes.filter((o) => o.status === "passed").length;
  const failed = outcomes.filter((o) => o.status === "failed");
  const skipped = outcomes.filter((o) => o.status === "skipped").length;
  let reasons: string[] = [];
  try {
    reasons = Deno.readTextFileSync(skipLog).split("\n").filter(Boolean);
  } catch { /* nothing skipped */ }
  if (reasons.length) {
    const byReason = new Map<string, number>();
    for (const line of reasons) {
      const reason = line.split("\t")[0];
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
    console.log("\nSkipped on this machine, and why:");
    for (const [reason, n] of byReason) console.log(`  ${n} × ${reason}`);
  }
  if (failedOutputs.length) console.log(`\nOutput of the failed test files:\n${failedOutputs.join("\n")}`);
  if (failed.length) {
    console.log("\nFailed:");
    for (const f of failed) console.log(`  ${f.name}${f.detail ? ` — ${f.detail.split("\n")[0]}` : ""}`);
  }
  console.log("\nWall time of each part (s):");
  for (const [name, s] of parts) console.log(`  ${s.toFixed(1).padStart(7)}  ${name}`);
  console.log(`\n${passed} passed, ${failed.length} failed, ${skipped} skipped`);
  return failed.length ? 1 : 0;
}

/** Re-runs this script inside a throwaway network namespace `dn42op-suite-…`; returns its exit code. */
async function runInSuiteNetns(argv: string[]): Promise<number> {
  const ns = await createNetns("suite");
  try {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns.name, Deno.execPath(), "run", "-A", new URL(import.meta.url).pathname, ...argv],
      env: { DN42OP_SUITE_NETNS: ns.name },
      stdin: "null",
    }).spawn();
    return (await child.status).code;
  } finally {
    await deleteNetns(ns);
  }
}

interface Options {
  unit: boolean;
  kernel: boolean;
  cluster: boolean;
  jobs: number;
  paths: string[];
}

function options(): Options {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      unit: { type: "boolean", default: false },
      "no-kernel": { type: "boolean", default: false },
      "no-cluster": { type: "boolean", default: false },
      jobs: { type: "string", default: Deno.env.get("DN42OP_TEST_JOBS") ?? "4" },
    },
    allowPositionals: true,
  });
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`test: --jobs wants a positive integer, got ${values.jobs}`);
  return {
    unit: values.unit,
    kernel: !values.unit && !values["no-kernel"] && positionals.length === 0,
    cluster: !values.unit && !values["no-cluster"],
    jobs,
    paths: positionals,
  };
}

/** The prepare phase: everything that needs the network. Its outcomes are handed to the suite phase. */
async function prepare(opts: Options): Promise<void> {
  const step = (name: string, fn: () => Promise<unknown>) =>
    timedPart(name, async () => {
      try {
        await fn();
        record(name, "passed");
      } catch (e) {
        record(name, "failed", (e as Error).message);
      }
    });
  await step(
    "setup (apt packages)",
    () => ensureProfiles(["base", "containers", "graph", "browser", ...(opts.kernel ? ["kernel"] : [])]),
  );
  await step("npm packages cached", () => cacheNpmPackages());
  if (opts.cluster) await step("control plane built", () => buildControlPlane());
  // The image tests build the image offline from these (tests/e2e/image_test.ts).
  if (opts.cluster && (opts.paths.length === 0 || opts.paths.some((p) => p.includes("image")))) {
    await step("image inputs fetched", () => prepareImageInputs());
  }
  if (opts.kernel) await step("kernel tier prepared", () => prepareKernelTier());
}

async function kernelTier(hostTestsDone: Promise<unknown>, env: Record<string, string>): Promise<void> {
  // the guest console goes to .out/kernel-tier/console.log only: the host tests report on stdout meanwhile
  const r = await runKernelTier({ output: () => {}, labTestsAfter: hostTestsDone, labEnv: env });
  for (const c of r.cases) {
    outcomes.push({
      name: `kernel tier :: ${c.file.replace(/^(\.\.?\/)+/, "")} :: ${c.name}`,
      status: c.status,
      detail: c.detail,
    });
  }
  const { passed, failed, skipped } = r;
  console.log(`== kernel tier: ${passed} passed, ${failed} failed, ${skipped} skipped (.out/kernel-tier/console.log)`);
  if (r.exitCode !== 0 && r.cases.every((c) => c.status !== "failed")) {
    record("kernel tier", "failed", `guest ended without a report (${JSON.stringify(r.outcome)})`);
  }
}

/** The suite phase (offline). Returns the exit status. */
async function suite(opts: Options, skipLog: string): Promise<number> {
  const env: Record<string, string> = { DN42OP_SKIP_LOG: skipLog, NO_COLOR: "1" };
  if (opts.unit) Object.assign(env, { DN42OP_UNIT: "1", DN42OP_NO_SETUP: "1" });
  if (!opts.cluster) env.DN42OP_NO_CLUSTER = "control plane disabled for this run (--unit or --no-cluster)";
  const hostTestsDone = Promise.withResolvers<void>();
  const kernel = opts.kernel
    ? timedPart("kernel tier (beside the rest)", () => kernelTier(hostTestsDone.promise, env))
    : undefined;
  const [, cluster] = await Promise.all([
    timedPart("static checks", () => staticChecks(opts.unit)),
    env.DN42OP_NO_CLUSTER ? undefined : timedPart("control plane up", () => startCluster(env)),
  ]);
  let failedOutputs: string[] = [];
  try {
    failedOutputs = await timedPart(
      "host tests",
      () => hostTests(opts.paths.length ? opts.paths : ["tests"], env, opts.jobs, opts.unit),
    );
  } finally {
    hostTestsDone.resolve();
    // The kernel tier's host-driven tests use the same control plane (`env` carries it).
    await kernel?.catch(() => {});
    if (cluster) await clusterDown(cluster);
  }
  await kernel;
  return summarize(skipLog, failedOutputs);
}

async function main(): Promise<number> {
  const opts = options();
  await Deno.mkdir(OUT, { recursive: true });
  const skipLog = `${OUT}/skipped.txt`;
  const prepared = `${OUT}/prepared.json`;
  const t0 = performance.now();
  const what = Deno.env.get("DN42OP_SUITE_NETNS") ? "suite phase" : "whole run";
  const done = (code: number) => (console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`), code);
  if (!opts.unit && Deno.uid() === 0 && !Deno.env.get("DN42OP_SUITE_NETNS")) {
    await prepare(opts);
    await Deno.writeTextFile(prepared, JSON.stringify({ outcomes, parts }));
    return done(await runInSuiteNetns(Deno.args));
  }
  if (Deno.env.get("DN42OP_SUITE_NETNS")) {
    const before = JSON.parse(await Deno.readTextFile(prepared)) as { outcomes: Outcome[]; parts: [string, number][] };
    outcomes.push(...before.outcomes);
    parts.push(...before.parts);
  } else if (!opts.unit) {
    await prepare(opts);
  }
  await Deno.writeTextFile(skipLog, "");
  return done(await suite(opts, skipLog));
}

if (import.meta.main) Deno.exit(await main());
