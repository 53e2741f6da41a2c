/**
 * Runs one Deno command inside the kernel-tier guest. {@link prepareGuest} installs the host packages, fetches
 * Debian's kernel and builds the initramfs (both cached); {@link runInGuest} boots them under QEMU TCG, runs
 * `deno ARGS...` from the repository root (scripts/kernel/guest.sh), streams the console, and hands back how the
 * guest ended plus the files it left in its results directory (/run/out in the guest, the one writable share).
 *
 * The guest sees the host's /usr and /etc, the repository (at its host path) and, when it lives elsewhere, the
 * directory of the host's Deno binary, read-only with cache=loose, on a
 * tmpfs root — not the host's whole /: it never sees the host's /proc, /sys, /run (with the host's netns files),
 * /tmp or other checkouts, so a test cannot depend on or touch host state beyond the userland it runs.
 * The test tier (tier.ts) is one user; a benchmark in the guest (run.ts) is another.
 */
import { ensureProfiles } from "../setup.ts";
import { fetchKernel, type Kernel } from "./fetch-kernel.ts";
import { buildInitramfs } from "./initramfs.ts";
import { boot, type GuestNet, type GuestOutcome, type SerialPort, type Share } from "./qemu.ts";

/** Options of {@link runInGuest}. */
export interface GuestRunOptions {
  /** Repository root, shared read-only at the same path; the command runs there. */
  repo: string;
  /** Arguments of the guest's `deno` (the host's binary, see {@link guestDeno}). */
  denoArgs: string[];
  /** Extra environment of the guest command. */
  env?: Record<string, string>;
  /** Bound on the guest run, boot included. The guest's command gets 90 s less (at least 60 s). */
  timeoutMs: number;
  /** The kernel and initramfs to boot, from {@link prepareGuest}. */
  guest: PreparedGuest;
  /** A NIC on QEMU's restricted user-mode network (qemu.ts); default none. */
  net?: GuestNet;
  /** virtio-serial ports (qemu.ts); default none. */
  serialPorts?: SerialPort[];
  /** Guest memory (default 2048 MiB). */
  memoryMiB?: number;
  /** File receiving a copy of the console output. */
  consoleLog: string;
  /** Receives the console output as it arrives. */
  output: (chunk: Uint8Array) => void;
  signal?: AbortSignal;
}

/** How a guest run ended. */
export interface GuestRun {
  outcome: GuestOutcome;
  /** The status in the guest's rc file, or null when the guest wrote none. */
  reportedRc: number | null;
  /** The guest command's exit status when both report channels agree; otherwise non-zero (124 on timeout). */
  exitCode: number;
  /** Text files the guest left in /run/out, by name (besides the host's own inputs). */
  files: Map<string, string>;
  /** Seconds per phase: boot (QEMU launch to command start), run (command start to exit). */
  timings: Record<string, number>;
}

/** Console line guest.sh prints just before it starts the command; it splits boot from run time. */
const COMMAND_START = "dn42op-kt: deno start";

/**
 * The guest's Deno is the host's. It is visible there under the repository or /usr; anywhere else (a worktree whose
 * .tools links to another checkout) its directory is shared read-only at the same path: the returned `share`.
 */
export function guestDeno(repo: string, deno = Deno.execPath()): { path: string; share: string | null } {
  if (deno.startsWith(`${repo}/`) || deno.startsWith("/usr/")) return { path: deno, share: null };
  return { path: deno, share: deno.slice(0, deno.lastIndexOf("/")) };
}

/**
 * The exit code of a guest run: the command's status when the guest reported it through isa-debug-exit and the rc
 * file agrees (QEMU's own failures exit 1, which reads like a reported 0); 124 on timeout; 1 otherwise.
 */
export function guestExit(outcome: GuestOutcome, reportedRc: number | null): number {
  if (outcome.kind === "timeout") return 124;
  if (outcome.kind !== "exited" || reportedRc !== outcome.rc) return 1;
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

/** Shell-quotes a value for guest.env. */
function q(v: string): string {
  return `'${v.replaceAll("'", `'\\''`)}'`;
}

function log(msg: string) {
  console.error(`kernel tier: ${msg}`);
}

/** Writes all of `chunk` to a synchronous writer. */
export function writeAll(file: { writeSync(p: Uint8Array): number }, chunk: Uint8Array) {
  for (let off = 0; off < chunk.length;) off += file.writeSync(chunk.subarray(off));
}

async function readOutputs(dir: string, inputs: Set<string>): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && !inputs.has(e.name)) files.set(e.name, await Deno.readTextFile(`${dir}/${e.name}`));
  }
  return files;
}

/** A bootable guest: the kernel and its initramfs, plus how long preparing them took (seconds per phase). */
export interface PreparedGuest {
  kernel: Kernel;
  initrd: string;
  timings: Record<string, number>;
}

/** Runs `fn`, logs how long it took and records it in `timings[name]` (seconds). */
export async function timed<T>(timings: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  timings[name] = Math.round(performance.now() - t0) / 1000;
  log(`${name} ${timings[name]}s`);
  return r;
}

/**
 * Everything that needs the network, done before booting: the apt packages, Debian's kernel and the initramfs.
 * Once done, repeating it works offline (one apt-cache call over the local lists and a few cache lookups).
 */
export async function prepareGuest(cacheDir: string): Promise<PreparedGuest> {
  const timings: Record<string, number> = {};
  await timed(timings, "apt", () => ensureProfiles(["base", "kernel"]));
  const kernel = await timed(timings, "kernel", () => fetchKernel(cacheDir));
  const initrd = await timed(timings, "initramfs", () => buildInitramfs(kernel, cacheDir));
  return { kernel, initrd, timings };
}

/** A Deno command for the guest and where its results go. */
export interface GuestCommand {
  /** Repository root, shared read-only at the same path; the command runs there. */
  repo: string;
  denoArgs: string[];
  env?: Record<string, string>;
  /** Bound on the command in the guest (guest.sh's `timeout`). */
  timeoutS: number;
  /** Host directory shared writable as the guest's /run/out. */
  out: string;
  /**
   * A DENO_DIR the host has filled (npm metadata, transpiled modules, V8 code cache for these very paths), shared
   * read-only and copied into the guest's DENO_DIR on its tmpfs before the command starts (guest.sh), so the guest's
   * Deno neither compiles everything again at ~20x the cost nor looks for npm metadata. Used read-only in place,
   * Deno's SQLite caches spin on the 9p mount. Default: an empty DENO_DIR.
   */
  denoDir?: string;
}

/**
 * Writes the command's files into `c.out` (deno.args, guest.env; see guest.sh) and returns what the guest boots
 * with besides kernel and initramfs: the kernel command-line words and the shares.
 */
export async function stageGuestCommand(c: GuestCommand): Promise<{ append: string[]; shares: Share[] }> {
  const deno = guestDeno(c.repo);
  const extra: Share[] = deno.share ? [{ tag: "deno", path: deno.share, readonly: true }] : [];
  if (c.denoDir) extra.push({ tag: "denodir", path: c.denoDir, readonly: true });
  const env = Object.entries({ ...c.env, ...(c.denoDir ? { DENO_DIR_SEED: c.denoDir } : {}) })
    .map(([k, v]) => `export ${k}=${q(v)}`);
  await Deno.writeTextFile(`${c.out}/deno.args`, c.denoArgs.map((a) => a + "\n").join(""));
  await Deno.writeTextFile(
    `${c.out}/guest.env`,
    [`DENO=${q(deno.path)}`, `REPO=${q(c.repo)}`, `TIMEOUT_S=${c.timeoutS}`, ...env].join("\n") + "\n",
  );
  return {
    append: [`dn42op.repo=${c.repo}`, ...extra.map((e) => `dn42op.share=${e.tag}:${e.path}`)],
    shares: [
      { tag: "usr", path: "/usr", readonly: true },
      { tag: "etc", path: "/etc", readonly: true },
      { tag: "repo", path: c.repo, readonly: true },
      { tag: "out", path: c.out, readonly: false },
      ...extra,
    ],
  };
}

/** Runs `deno ARGS...` in the guest. Leaves no QEMU process and no temporary directory behind. */
export async function runInGuest(o: GuestRunOptions): Promise<GuestRun> {
  const { kernel, initrd } = o.guest;
  const timings: Record<string, number> = {};

  const out = await Deno.makeTempDir({ prefix: "dn42op-kt-" });
  const consoleLog = await Deno.open(o.consoleLog, { write: true, create: true, truncate: true });
  try {
    const timeoutS = Math.max(60, Math.floor(o.timeoutMs / 1000) - 90);
    const staged = await stageGuestCommand({ repo: o.repo, denoArgs: o.denoArgs, env: o.env, timeoutS, out });
    log(`booting Linux ${kernel.release} (${kernel.package} ${kernel.packageVersion}): deno ${o.denoArgs[0]}`);
    const t0 = performance.now();
    let tStart = 0;
    let tail = "";
    const outcome = await boot({
      vmlinuz: kernel.vmlinuz,
      initrd,
      ...staged,
      net: o.net,
      serialPorts: o.serialPorts,
      memoryMiB: o.memoryMiB ?? 2048,
      cpus: 2,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      onOutput: (chunk) => {
        o.output(chunk);
        writeAll(consoleLog, chunk);
        if (!tStart) {
          tail = (tail + new TextDecoder().decode(chunk)).slice(-4096);
          if (tail.includes(COMMAND_START)) tStart = performance.now();
        }
      },
    });
    const tEnd = performance.now();
    timings.boot = Math.round((tStart || tEnd) - t0) / 1000;
    timings.run = tStart ? Math.round(tEnd - tStart) / 1000 : 0;
    const files = await readOutputs(out, new Set(["deno.args", "guest.env"]));
    const reportedRc = files.has("rc") ? Number(files.get("rc")!.trim()) : null;
    log(`boot ${timings.boot}s, run ${timings.run}s; guest ${describe(outcome, reportedRc)}`);
    return { outcome, reportedRc, exitCode: guestExit(outcome, reportedRc), files, timings };
  } finally {
    consoleLog.close();
    await Deno.remove(out, { recursive: true });
  }
}
