/**
 * The real-kernel test tier (`deno task test:kernel`): installs what it needs, fetches Debian's kernel, builds the
 * initramfs (both cached), type-checks every `tests/**\/*.kernel_test.ts` on the host, boots the kernel under QEMU
 * TCG with the host's /usr and /etc and the repository shared read-only, runs `deno test --no-check` on those files
 * inside, streams the guest console live, and returns the counts of the JUnit report the guest wrote.
 *
 * Usage: deno run -A scripts/kernel/tier.ts [--timeout SECONDS] [test files...]
 */
import { parseArgs } from "node:util";
import { ensureProfiles } from "../setup.ts";
import { fetchKernel } from "./fetch-kernel.ts";
import { buildInitramfs } from "./initramfs.ts";
import { countJunit } from "./junit.ts";
import { boot, type GuestOutcome } from "./qemu.ts";
import { secondsSince, sh } from "./sh.ts";

/** Options of {@link runKernelTier}; every field has a default. */
export interface KernelTierOptions {
  /** Repository root (default: the one holding this script). */
  repo?: string;
  /** Test files relative to `repo` (default: every `tests/**\/*.kernel_test.ts`). */
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
  junitPath: string;
  exitCode: number;
  outcome: GuestOutcome | { kind: "no-tests" };
  /** Seconds per phase: apt, kernel, initramfs, check, boot, tests. */
  timings: Record<string, number>;
}

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const DEFAULT_TIMEOUT_MS = 12 * 60_000;
const TESTS_START = "dn42op-kt: tests start";

/** Every `*.kernel_test.ts` below `<repo>/tests`, relative to `repo`, sorted. */
export async function findKernelTests(repo: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${repo}/${rel}`)) {
      if (e.isDirectory && e.name !== "node_modules") await walk(`${rel}/${e.name}`);
      else if (e.isFile && e.name.endsWith(".kernel_test.ts")) found.push(`${rel}/${e.name}`);
    }
  };
  await walk("tests");
  return found.sort();
}

function log(msg: string) {
  console.error(`kernel tier: ${msg}`);
}

function writeAll(file: { writeSync(p: Uint8Array): number }, chunk: Uint8Array) {
  for (let off = 0; off < chunk.length;) off += file.writeSync(chunk.subarray(off));
}

/** Shell-quotes a value for guest.env (single quotes; the values are paths and numbers). */
function q(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}

/** The guest's Deno must be visible in the guest, which sees only /usr, /etc and the repository. */
function guestDeno(repo: string): string {
  const deno = Deno.execPath();
  if (deno.startsWith(`${repo}/`) || deno.startsWith("/usr/")) return deno;
  throw new Error(`kernel tier: the Deno binary ${deno} is outside ${repo} and /usr; run through ./denow`);
}

/**
 * Runs the kernel tier and returns its counts; a guest that crashed, timed out or wrote no report gives a non-zero
 * `exitCode`. Leaves no QEMU process and no temporary directory behind.
 */
export async function runKernelTier(opts: KernelTierOptions = {}): Promise<KernelTierResult> {
  const repo = opts.repo ?? REPO;
  const cacheDir = opts.cacheDir ?? Deno.env.get("DN42OP_KERNEL_CACHE") ?? "/var/cache/dn42op/kernel-tier";
  const resultsDir = opts.resultsDir ?? `${repo}/.out/kernel-tier`;
  const junitPath = `${resultsDir}/junit.xml`;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    timings[name] = Math.round(performance.now() - t0) / 1000;
    log(`${name} ${secondsSince(t0)}`);
    return r;
  };

  const files = opts.files ?? await findKernelTests(repo);
  await Deno.mkdir(resultsDir, { recursive: true });
  await Deno.remove(junitPath).catch(() => {});
  if (files.length === 0) {
    log("no *.kernel_test.ts files");
    return { passed: 0, failed: 0, skipped: 0, junitPath, exitCode: 0, outcome: { kind: "no-tests" }, timings };
  }
  const deno = guestDeno(repo);
  await phase("apt", () => ensureProfiles(["base", "kernel"]));
  const kernel = await phase("kernel", () => fetchKernel(cacheDir));
  const initrd = await phase("initramfs", () => buildInitramfs(kernel, cacheDir));
  // Type-checking inside the guest is ~20x slower; this also fills node_modules/ for the offline guest.
  await phase("check", () => sh([deno, "check", ...files], { cwd: repo }));

  const out = await Deno.makeTempDir({ prefix: "dn42op-kt-" });
  const consoleLog = await Deno.open(`${resultsDir}/console.log`, { write: true, create: true, truncate: true });
  try {
    const skipLog = Deno.env.get("DN42OP_SKIP_LOG");
    const color = !opts.output && Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
    await Deno.writeTextFile(`${out}/tests.list`, files.join("\n") + "\n");
    await Deno.writeTextFile(
      `${out}/guest.env`,
      [
        `DENO=${q(deno)}`,
        `REPO=${q(repo)}`,
        `TIMEOUT_S=${Math.max(60, Math.floor(timeoutMs / 1000) - 90)}`,
        color ? "" : "export NO_COLOR=1",
        skipLog ? "export DN42OP_SKIP_LOG=/run/out/skips.log" : "",
      ].join("\n") + "\n",
    );
    log(`booting Linux ${kernel.release} (${kernel.package} ${kernel.packageVersion}) for ${files.length} test files`);
    const t0 = performance.now();
    let tStart = 0;
    let tail = "";
    const output = opts.output ?? ((c: Uint8Array) => writeAll(Deno.stdout, c));
    const outcome = await boot({
      vmlinuz: kernel.vmlinuz,
      initrd,
      append: [`dn42op.repo=${repo}`],
      shares: [
        { tag: "usr", path: "/usr", readonly: true },
        { tag: "etc", path: "/etc", readonly: true },
        { tag: "repo", path: repo, readonly: true },
        { tag: "out", path: out, readonly: false },
      ],
      memoryMiB: 2048,
      cpus: 2,
      timeoutMs,
      signal: opts.signal,
      onOutput: (chunk) => {
        output(chunk);
        writeAll(consoleLog, chunk);
        if (!tStart) {
          tail = (tail + new TextDecoder().decode(chunk)).slice(-4096);
          if (tail.includes(TESTS_START)) tStart = performance.now();
        }
      },
    });
    const tEnd = performance.now();
    timings.boot = Math.round((tStart || tEnd) - t0) / 1000;
    timings.tests = tStart ? Math.round(tEnd - tStart) / 1000 : 0;

    const reported = await Deno.readTextFile(`${out}/rc`).then((s) => Number(s.trim()), () => null);
    const junit = await Deno.readTextFile(`${out}/junit.xml`).catch(() => null);
    if (junit !== null) await Deno.writeTextFile(junitPath, junit);
    if (skipLog) {
      const skips = await Deno.readTextFile(`${out}/skips.log`).catch(() => "");
      if (skips) await Deno.writeTextFile(skipLog, skips, { append: true });
    }
    const counts = junit !== null ? countJunit(junit) : { passed: 0, failed: 0, skipped: 0 };
    const exitCode = verdict(outcome, reported, junit !== null);
    // A guest that failed without a failing test (panic, timeout, no report) counts as one failed test.
    if (exitCode !== 0 && counts.failed === 0) counts.failed = 1;
    log(`boot ${timings.boot}s, tests ${timings.tests}s; guest ${describe(outcome, reported)}`);
    return { ...counts, junitPath, exitCode, outcome, timings };
  } finally {
    consoleLog.close();
    await Deno.remove(out, { recursive: true });
  }
}

/**
 * The tier's exit code: the guest's own status when both report channels (isa-debug-exit and the rc file) agree and a
 * successful run left a JUnit report; otherwise non-zero (124 on timeout).
 */
export function verdict(outcome: GuestOutcome, reportedRc: number | null, haveJunit: boolean): number {
  if (outcome.kind === "timeout") return 124;
  if (outcome.kind !== "exited" || reportedRc !== outcome.rc) return 1;
  if (outcome.rc === 0 && !haveJunit) return 1;
  return outcome.rc;
}

function describe(outcome: GuestOutcome, reportedRc: number | null): string {
  switch (outcome.kind) {
    case "exited":
      return reportedRc === outcome.rc
        ? `exit status ${outcome.rc}`
        : `exit status ${outcome.rc} through isa-debug-exit but ${reportedRc} in the rc file (QEMU failed?)`;
    case "crashed":
      return "went down without reporting a status (kernel panic or poweroff): failure";
    case "timeout":
      return "timed out";
    case "aborted":
      return "aborted";
    case "qemu-failed":
      return `QEMU failed with status ${outcome.status}`;
  }
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
