/**
 * The whole test suite, as run by the README's test command and by CI (`.ci/run`):
 *
 *   1. installs what is missing (scripts/setup.ts),
 *   2. static checks: `deno fmt --check`, `deno lint`, `deno check`,
 *   3. starts one real control plane for the whole run (scripts/cluster.ts),
 *   4. runs every test under tests/ (capability-dependent tests skip with a recorded reason),
 *   5. runs the kernel tier under qemu (scripts/kernel/),
 *   6. prints the skipped tests with their reasons, the failures, and a last line `N passed, N failed, N skipped`.
 *
 * As root, everything runs inside a throwaway network namespace (`dn42op-suite-…`) created here and removed at
 * the end, so no test can touch the machine's own links even by mistake; tests make their own namespaces too.
 *
 * Usage: deno run -A scripts/test.ts [--unit] [--no-kernel] [--no-cluster] [test paths...]
 */
import { parseArgs } from "node:util";
import { clusterDown, clusterUp } from "./cluster.ts";
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

/** Counts JUnit test cases (steps are folded into their parent test). */
export function parseJunit(xml: string): Outcome[] {
  const out: Outcome[] = [];
  const unescape = (s: string) =>
    s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
      .replace(/&amp;/g, "&");
  const re = /<testcase name="([^"]*)" classname="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g;
  const parents: string[] = [];
  for (const m of xml.matchAll(re)) {
    const name = unescape(m[1]);
    const body = m[3] ?? "";
    if (parents.some((p) => name.startsWith(`${p} > `))) continue;
    parents.push(name);
    const failure = /<(failure|error)\b(?:[^>]*?\bmessage="([^"]*)")?/.exec(body);
    const full = `${unescape(m[2]).replace(/^(\.\.?\/)+/, "")} :: ${name}`;
    if (failure) out.push({ name: full, status: "failed", detail: unescape(failure[2] ?? failure[1]) });
    else if (/<skipped\b/.test(body)) out.push({ name: full, status: "skipped" });
    else out.push({ name: full, status: "passed" });
  }
  return out;
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
    cases = parseJunit(await Deno.readTextFile(junit));
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

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      unit: { type: "boolean", default: false },
      "no-kernel": { type: "boolean", default: false },
      "no-cluster": { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  if (Deno.uid() === 0 && !Deno.env.get("DN42OP_SUITE_NETNS")) return await runInSuiteNetns(Deno.args);

  await Deno.mkdir(OUT, { recursive: true });
  const skipLog = `${OUT}/skipped.txt`;
  await Deno.writeTextFile(skipLog, "");
  const env: Record<string, string> = { DN42OP_SKIP_LOG: skipLog, NO_COLOR: "1" };
  if (values.unit || values["no-cluster"]) env.DN42OP_NO_CLUSTER = "control plane disabled for this run";

  try {
    await ensureProfiles(["base", "containers"]);
    record("setup (apt packages)", "passed");
  } catch (e) {
    record("setup (apt packages)", "failed", (e as Error).message);
  }
  await staticChecks();
  const cluster = env.DN42OP_NO_CLUSTER ? undefined : await startCluster(env);
  try {
    await hostTests(positionals.length ? positionals : ["tests/"], env);
  } finally {
    if (cluster) await clusterDown(cluster);
  }
  return summarize(skipLog);
}

if (import.meta.main) Deno.exit(await main());
