/**
 * The whole test suite, as run by the README's test command and by CI (`.ci/run`), in two phases:
 *
 * Prepare (needs the network: apt, the Go module proxy, npm):
 *   1. installs what is missing (scripts/setup.ts profiles base, containers, graph, browser, kernel),
 *   2. builds the control plane from its Go modules (cached) and caches the npm packages,
 *   3. fetches Debian's kernel and builds the kernel tier's initramfs (cached).
 * Suite (offline; as root inside a throwaway network namespace `dn42op-suite-…` created here and removed at the
 * end, so no test can touch the machine's own links even by mistake — tests make their own namespaces too):
 *   4. static checks: `deno fmt --check`, `deno lint`, `deno check`,
 *   5. one real control plane for the whole run (scripts/cluster.ts),
 *   6. every test under tests/ (capability-dependent tests skip with a recorded reason),
 *   7. the kernel tier under qemu (scripts/kernel/): every `*.kernel_test.ts` on Debian's kernel,
 *   8. the skipped tests with their reasons, the failures, and a last line `N passed, N failed, N skipped`.
 *
 * Usage: deno run -A scripts/test.ts [--unit] [--no-kernel] [--no-cluster] [test paths...]
 * (`--unit`: no control plane and no kernel tier; test paths restrict the host tests and skip the kernel tier.)
 */
import { parseArgs } from "node:util";
import { clusterDown, clusterUp } from "./cluster.ts";
import { buildControlPlane } from "./controlplane/build.ts";
import { junitCases } from "./kernel/junit.ts";
import { prepareKernelTier, runKernelTier } from "./kernel/tier.ts";
import { ensureProfiles } from "./setup.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const OUT = `${ROOT}/.out`;
const TEST_TIMEOUT_MS = 50 * 60 * 1000;

/** Outcome of one counted item: a static check, a tier, or a test case. */
interface Outcome {
  name: string;
  status: "passed" | "failed" | "skipped";
  detail?: string;
}

const outcomes: Outcome[] = [];

function record(name: string, status: Outcome["status"], detail?: string): void {
  outcomes.push({ name, status, detail });
  const mark = status === "passed" ? "ok" : status === "failed" ? "FAILED" : "skipped";
  console.log(`== ${name}: ${mark}${detail && status !== "passed" ? ` (${detail.split("\n")[0]})` : ""}`);
}

async function run(
  cmd: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; quiet?: boolean } = {},
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: ROOT,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const dec = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += dec.decode(chunk, { stream: true });
      if (!opts.quiet) await sink.write(chunk);
    }
  };
  const timer = opts.timeoutMs
    ? setTimeout(() => {
      console.log(`!! ${cmd.slice(0, 3).join(" ")} exceeded ${opts.timeoutMs! / 1000} s; stopping it`);
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    }, opts.timeoutMs)
    : undefined;
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const status = await child.status;
  clearTimeout(timer);
  return { code: status.code, output };
}

async function staticChecks(): Promise<void> {
  const deno = Deno.execPath();
  const checks: [string, string[]][] = [
    ["deno fmt --check", [deno, "fmt", "--check"]],
    ["deno lint", [deno, "lint"]],
    ["deno check", [deno, "check", "."]],
  ];
  for (const [name, cmd] of checks) {
    const r = await run(cmd, { quiet: true });
    if (r.code === 0) record(name, "passed");
    else {
      console.log(r.output.slice(-4000));
      record(name, "failed", `exit ${r.code}`);
    }
  }
}

async function hostTests(paths: string[], env: Record<string, string>): Promise<void> {
  const junit = `${OUT}/junit-host.xml`;
  await Deno.remove(junit).catch(() => {});
  const r = await run(
    [Deno.execPath(), "test", "-A", "--no-check", `--junit-path=${junit}`, ...paths],
    { env, timeoutMs: TEST_TIMEOUT_MS },
  );
  let cases: Outcome[] = [];
  try {
    cases = junitCases(await Deno.readTextFile(junit)).map((c) => ({
      name: `${c.file.replace(/^(\.\.?\/)+/, "")} :: ${c.name}`,
      status: c.status,
      detail: c.detail,
    }));
  } catch { /* no report: counted below */ }
  outcomes.push(...cases);
  const failed = cases.filter((c) => c.status === "failed").length;
  if (r.code !== 0 && failed === 0) record("deno test (host)", "failed", `exited ${r.code} without a failing test`);
}

/** Starts the run's one control plane; on failure records it and makes cluster tests skip with the reason. */
async function startCluster(env: Record<string, string>): Promise<{ dir: string } | undefined> {
  const started = performance.now();
  try {
    const info = await clusterUp({ dir: `${OUT}/cluster`, ownerPid: Deno.pid });
    env.DN42OP_KUBECONFIG = info.kubeconfig;
    record(`control plane up (${((performance.now() - started) / 1000).toFixed(1)} s)`, "passed");
    return info;
  } catch (e) {
    record("control plane up", "failed", (e as Error).message);
    env.DN42OP_NO_CLUSTER = `the control plane failed to start: ${(e as Error).message.split("\n")[0]}`;
    return undefined;
  }
}

function summarize(skipLog: string): number {
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
  if (failed.length) {
    console.log("\nFailed:");
    for (const f of failed) console.log(`  ${f.name}${f.detail ? ` — ${f.detail.split("\n")[0]}` : ""}`);
  }
  console.log(`\n${passed} passed, ${failed.length} failed, ${skipped} skipped`);
  return failed.length ? 1 : 0;
}

/** Re-runs this script inside a throwaway network namespace; returns its exit code. */
async function runInSuiteNetns(argv: string[]): Promise<number> {
  const name = `dn42op-suite-${crypto.randomUUID().slice(0, 8)}`;
  const ip = (...a: string[]) => new Deno.Command("ip", { args: a, stdout: "null", stderr: "inherit" }).output();
  if (!(await ip("netns", "add", name)).success) return 1;
  try {
    await ip("-n", name, "link", "set", "lo", "up");
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", name, Deno.execPath(), "run", "-A", new URL(import.meta.url).pathname, ...argv],
      env: { DN42OP_SUITE_NETNS: name },
      stdin: "null",
    }).spawn();
    return (await child.status).code;
  } finally {
    const pids = await new Deno.Command("ip", { args: ["netns", "pids", name], stdout: "piped" }).output();
    for (const pid of new TextDecoder().decode(pids.stdout).split(/\s+/).filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
    await ip("netns", "del", name);
  }
}

interface Options {
  unit: boolean;
  kernel: boolean;
  cluster: boolean;
  paths: string[];
}

function options(): Options {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      unit: { type: "boolean", default: false },
      "no-kernel": { type: "boolean", default: false },
      "no-cluster": { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  return {
    unit: values.unit,
    kernel: !values.unit && !values["no-kernel"] && positionals.length === 0,
    cluster: !values.unit && !values["no-cluster"],
    paths: positionals,
  };
}

/** The prepare phase: everything that needs the network. Its outcomes are handed to the suite phase. */
async function prepare(opts: Options): Promise<void> {
  const step = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      record(name, "passed");
    } catch (e) {
      record(name, "failed", (e as Error).message);
    }
  };
  await step(
    "setup (apt packages)",
    () => ensureProfiles(["base", "containers", "graph", "browser", ...(opts.kernel ? ["kernel"] : [])]),
  );
  await step("npm packages cached", () => run([Deno.execPath(), "install"], { quiet: true }).then(okOrThrow));
  if (opts.cluster) await step("control plane built", () => buildControlPlane());
  if (opts.kernel) await step("kernel tier prepared", () => prepareKernelTier());
}

function okOrThrow(r: { code: number; output: string }): void {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.output.slice(-2000)}`);
}

async function kernelTier(): Promise<void> {
  const r = await runKernelTier();
  for (const c of r.cases) {
    outcomes.push({
      name: `kernel tier :: ${c.file.replace(/^(\.\.?\/)+/, "")} :: ${c.name}`,
      status: c.status,
      detail: c.detail,
    });
  }
  if (r.exitCode !== 0 && r.cases.every((c) => c.status !== "failed")) {
    record("kernel tier", "failed", `guest ended without a report (${JSON.stringify(r.outcome)})`);
  }
}

/** The suite phase (offline). Returns the exit status. */
async function suite(opts: Options, skipLog: string): Promise<number> {
  const env: Record<string, string> = { DN42OP_SKIP_LOG: skipLog, NO_COLOR: "1" };
  if (!opts.cluster) env.DN42OP_NO_CLUSTER = "control plane disabled for this run (--unit or --no-cluster)";
  await staticChecks();
  const cluster = env.DN42OP_NO_CLUSTER ? undefined : await startCluster(env);
  try {
    await hostTests(opts.paths.length ? opts.paths : ["tests/"], env);
  } finally {
    if (cluster) await clusterDown(cluster);
  }
  if (opts.kernel) await kernelTier();
  return summarize(skipLog);
}

async function main(): Promise<number> {
  const opts = options();
  await Deno.mkdir(OUT, { recursive: true });
  const skipLog = `${OUT}/skipped.txt`;
  const prepared = `${OUT}/prepared.json`;
  if (Deno.uid() === 0 && !Deno.env.get("DN42OP_SUITE_NETNS")) {
    await prepare(opts);
    await Deno.writeTextFile(prepared, JSON.stringify(outcomes));
    return await runInSuiteNetns(Deno.args);
  }
  if (Deno.env.get("DN42OP_SUITE_NETNS")) {
    outcomes.push(...JSON.parse(await Deno.readTextFile(prepared)) as Outcome[]);
  } else {
    await prepare(opts);
  }
  await Deno.writeTextFile(skipLog, "");
  return await suite(opts, skipLog);
}

if (import.meta.main) Deno.exit(await main());
