/**
 * The real-kernel test tier (`deno task test:kernel`): type-checks every `tests/**\/*.kernel_test.ts` on the host,
 * then runs `deno test --no-check` on them inside a real Debian kernel under QEMU (guest.ts), streaming the guest
 * console live, and returns the counts of the JUnit report the guest wrote.
 *
 * Then the host-driven guest tests, `tests/**\/*.kernel_lab_test.ts`: `deno test` on the host with
 * DN42OP_KERNEL_LAB=1 (elsewhere they skip); each boots its own qemu guest as a node of the kernel lab (lab/kernel/)
 * against a control plane on the host (the suite's, via DN42OP_KUBECONFIG, or one of its own).
 *
 * Usage: deno run -A scripts/kernel/tier.ts [--timeout SECONDS] [test files...]
 */
import { parseArgs } from "node:util";
import { type GuestRun, type PreparedGuest, prepareGuest, runInGuest, timed, writeAll } from "./guest.ts";
import { countCases, type JunitCase, junitCases } from "./junit.ts";
import type { GuestOutcome } from "./qemu.ts";
import { run as sh } from "../../kit/proc.ts";
import { warmDenoDir } from "../../lab/kernel/node.ts";
import { kernelCacheDir, REPO } from "./paths.ts";

/** Options of {@link runKernelTier}; every field has a default. */
export interface KernelTierOptions {
  /** Repository root (default: the one holding this script). */
  repo?: string;
  /** Test files relative to `repo` (default: every `tests/**\/*.kernel_test.ts` and `*.kernel_lab_test.ts`). */
  files?: string[];
  /** Bound on the guest run, boot included (default 12 minutes). */
  timeoutMs?: number;
  /** Kernel and initramfs cache (default $DN42OP_KERNEL_CACHE or /var/cache/dn42op/kernel-tier). */
  cacheDir?: string;
  /** Where the JUnit report and the console log are kept (default `<repo>/.out/kernel-tier`). */
  resultsDir?: string;
  /** Receives the guest console as it arrives (default: this process's stdout). */
  output?: (chunk: Uint8Array) => void;
  /** Aborting it stops the guest and cleans up. */
  signal?: AbortSignal;
  /**
   * The host-driven guest tests start only once this settles (the suite passes the end of its host tests: both are
   * heavy, and side by side they starved each other's time-bound checks).
   */
  labTestsAfter?: Promise<unknown>;
  /**
   * Environment of the host-driven guest tests, read when they start (the suite passes its own: its control plane,
   * which then need not be started a second time, and its skip log).
   */
  labEnv?: Record<string, string>;
}

/**
 * What the tier ran and how it ended. `exitCode` is 0 only when the guest reported success with a JUnit report; a
 * guest that failed without a failing test (panic, timeout, no report) counts as one failed test. `junitPath` exists
 * only when the guest wrote a report.
 */
export interface KernelTierResult {
  passed: number;
  failed: number;
  skipped: number;
  /** Every test of the JUnit report (empty when there is none). */
  cases: JunitCase[];
  junitPath: string;
  exitCode: number;
  outcome: GuestOutcome | { kind: "no-tests" };
  /** Seconds per phase: check, apt, kernel, initramfs (the last preparation), boot, run. */
  timings: Record<string, number>;
}

const DEFAULT_TIMEOUT_MS = 12 * 60_000;

/** File name ending of the tests that run inside the guest. */
export const GUEST_TEST_SUFFIX = ".kernel_test.ts";
/** File name ending of the host-driven tests that boot kernel lab guests. */
export const LAB_TEST_SUFFIX = ".kernel_lab_test.ts";

/** Every `*.kernel_test.ts` and `*.kernel_lab_test.ts` below `<repo>/tests`, relative to `repo`, sorted. */
export async function findKernelTests(repo: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${repo}/${rel}`)) {
      if (e.isDirectory && e.name !== "node_modules") await walk(`${rel}/${e.name}`);
      else if (e.isFile && [GUEST_TEST_SUFFIX, LAB_TEST_SUFFIX].some((s) => e.name.endsWith(s))) {
        found.push(`${rel}/${e.name}`);
      }
    }
  };
  await walk("tests");
  return found.sort();
}

/** The tier's exit code: the guest's, except that a reported success without a JUnit report is a failure. */
export function verdict(guestExitCode: number, haveJunit: boolean): number {
  return guestExitCode === 0 && !haveJunit ? 1 : guestExitCode;
}

/**
 * The tier's network-dependent preparation: the apt packages (qemu, and socat for the kernel lab), Debian's kernel,
 * the initramfs, the host type-check of the kernel tests (which also fills node_modules/ for the offline guest) and,
 * when there are host-driven guest tests, the kernel lab guest's DENO_DIR (lab/kernel/node.ts). Call it before
 * entering a namespace without network; {@link runKernelTier} repeats it, which is then offline and quick.
 */
export async function prepareKernelTier(opts: Pick<KernelTierOptions, "repo" | "files" | "cacheDir"> = {}): Promise<{
  files: string[];
  guest: PreparedGuest | null;
  timings: Record<string, number>;
}> {
  const repo = opts.repo ?? REPO;
  const files = opts.files ?? await findKernelTests(repo);
  if (files.length === 0) return { files, guest: null, timings: {} };
  const timings: Record<string, number> = {};
  // Type-checking inside the guest is ~20x slower, so the guest runs with --no-check.
  await timed(timings, "check", () => sh([Deno.execPath(), "check", ...files], { cwd: repo }));
  const guest = await prepareGuest(kernelCacheDir(opts.cacheDir));
  if (files.some((f) => f.endsWith(LAB_TEST_SUFFIX))) {
    await timed(timings, "lab deno dir", () => warmDenoDir());
  }
  return { files, guest, timings: { ...timings, ...guest.timings } };
}

/** Bound on the host-driven guest tests (each boots a guest and starts Deno programs under emulation). */
const LAB_TIMEOUT_MS = 30 * 60_000;

/**
 * Runs the host-driven guest tests (`*.kernel_lab_test.ts`) with `deno test` on this host; returns their cases
 * (a run that ended without a failing case but non-zero counts as one failure).
 */
async function runLabTests(
  repo: string,
  files: string[],
  resultsDir: string,
  output: (chunk: Uint8Array) => void,
  signal?: AbortSignal,
  env: Record<string, string> = {},
): Promise<{ cases: JunitCase[]; code: number }> {
  const junit = `${resultsDir}/junit-lab.xml`;
  await Deno.remove(junit).catch(() => {});
  console.error(`kernel tier: host-driven guest tests: ${files.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", "-A", `--junit-path=${junit}`, ...files],
    cwd: repo,
    env: { ...env, DN42OP_KERNEL_LAB: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
  }, LAB_TIMEOUT_MS);
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) output(c);
  };
  await Promise.all([pump(child.stdout), pump(child.stderr)]);
  const { code } = await child.status;
  clearTimeout(timer);
  const cases = await Deno.readTextFile(junit).then(junitCases, () => []);
  return { cases, code };
}

/** Runs the kernel tier and returns its results. Leaves no QEMU process and no temporary directory behind. */
export async function runKernelTier(opts: KernelTierOptions = {}): Promise<KernelTierResult> {
  const repo = opts.repo ?? REPO;
  const resultsDir = opts.resultsDir ?? `${repo}/.out/kernel-tier`;
  const junitPath = `${resultsDir}/junit.xml`;
  await Deno.mkdir(resultsDir, { recursive: true });
  await Deno.remove(junitPath).catch(() => {});
  const { files, guest, timings } = await prepareKernelTier(opts);
  if (!guest) {
    console.error("kernel tier: no *.kernel_test.ts files");
    const outcome = { kind: "no-tests" } as const;
    return { passed: 0, failed: 0, skipped: 0, cases: [], junitPath, exitCode: 0, outcome, timings };
  }
  const output = opts.output ?? ((c: Uint8Array) => writeAll(Deno.stdout, c));
  const guestFiles = files.filter((f) => f.endsWith(GUEST_TEST_SUFFIX));
  const labFiles = files.filter((f) => f.endsWith(LAB_TEST_SUFFIX));
  let cases: JunitCase[] = [];
  let exitCode = 0;
  let outcome: KernelTierResult["outcome"] = { kind: "no-tests" };
  if (guestFiles.length) {
    const skipLog = Deno.env.get("DN42OP_SKIP_LOG");
    const color = !opts.output && Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
    const run: GuestRun = await runInGuest({
      repo,
      denoArgs: ["test", "--no-check", "-A", "--cached-only", "--junit-path=/run/out/junit.xml", ...guestFiles],
      env: {
        ...(color ? {} : { NO_COLOR: "1" }),
        ...(skipLog ? { DN42OP_SKIP_LOG: "/run/out/skips.log" } : {}),
      },
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      guest,
      consoleLog: `${resultsDir}/console.log`,
      output,
      signal: opts.signal,
    });
    const junit = run.files.get("junit.xml");
    if (junit !== undefined) await Deno.writeTextFile(junitPath, junit);
    const skips = run.files.get("skips.log");
    if (skipLog && skips) await Deno.writeTextFile(skipLog, skips, { append: true });
    cases = junit !== undefined ? junitCases(junit) : [];
    exitCode = verdict(run.exitCode, junit !== undefined);
    if (exitCode !== 0 && !cases.some((c) => c.status === "failed")) {
      cases.push({ file: "kernel tier", name: "guest run", status: "failed", detail: JSON.stringify(run.outcome) });
    }
    outcome = run.outcome;
    Object.assign(timings, run.timings);
  }
  if (labFiles.length) {
    await opts.labTestsAfter?.catch(() => {});
    const t0 = performance.now();
    const lab = await runLabTests(repo, labFiles, resultsDir, output, opts.signal, opts.labEnv);
    timings.lab = Math.round(performance.now() - t0) / 1000;
    if (lab.code !== 0 && !lab.cases.some((c) => c.status === "failed")) {
      lab.cases.push({
        file: "kernel tier",
        name: "host-driven guest tests",
        status: "failed",
        detail: `exit ${lab.code}`,
      });
    }
    cases = [...cases, ...lab.cases];
    exitCode ||= lab.code;
  }
  return { ...countCases(cases), cases, junitPath, exitCode, outcome, timings };
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`kernel tier: --timeout wants a positive number of seconds, got ${v}`);
  }
  return n;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { timeout: { type: "string" } },
    allowPositionals: true,
  });
  const abort = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => abort.abort());
  try {
    const r = await runKernelTier({
      files: positionals.length ? positionals : undefined,
      timeoutMs: values.timeout ? seconds(values.timeout) * 1000 : undefined,
      signal: abort.signal,
    });
    console.log(`kernel tier: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (JUnit: ${r.junitPath})`);
    Deno.exit(r.exitCode);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
