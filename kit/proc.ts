/**
 * Running processes — the one toolkit of scripts/, lab/, tests/ and bench/: commands run to completion (errors name
 * the command), live-streamed runs with a time limit, detached and orphaned daemons, liveness through /proc (a PID
 * is only "ours" while it still runs the binary we started), stops by PID, free ports, log tails.
 */
import { sleep } from "./wait.ts";

/** A command exited non-zero (or could not start: code -1); carries its exit code and stderr. */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(readonly command: string[], readonly code: number, readonly stderr: string) {
    super(`${command.join(" ")}: exit ${code}: ${stderr.trim() || "(no output)"}`);
  }
}

/** Options of {@link exec} and {@link run}. */
export interface ProcOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's standard input (default: none). */
  stdin?: string;
}

const PROC_OPTION_KEYS = new Set(["env", "cwd", "stdin"]);

/**
 * Refuses options that are not {@link ProcOptions}: an environment record passed in their place type-checks (all
 * their fields are optional) and would silently run the command without it.
 */
export function checkOptions(opts: ProcOptions): void {
  const unknown = Object.keys(opts).filter((k) => !PROC_OPTION_KEYS.has(k));
  if (unknown.length) {
    throw new TypeError(`proc: unknown option(s) ${unknown.join(", ")} (environment variables go in { env })`);
  }
}

/** Result of {@link exec}. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and returns its exit code and output; never throws for a non-zero exit. */
export async function exec(cmd: string[], opts: ProcOptions = {}): Promise<ExecResult> {
  checkOptions(opts);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: opts.env,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command and returns its stdout; throws {@link CommandError} when it fails or cannot start. */
export async function run(cmd: string[], opts: ProcOptions = {}): Promise<string> {
  let r: ExecResult;
  try {
    r = await exec(cmd, opts);
  } catch (e) {
    throw new CommandError(cmd, -1, `cannot run ${cmd[0]}: ${(e as Error).message}`);
  }
  if (r.code !== 0) throw new CommandError(cmd, r.code, r.stderr);
  return r.stdout;
}

/** True when the command runs and exits 0 (output discarded). */
export async function succeeds(cmd: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

/**
 * Runs a command while copying its output to ours as it comes (unless `quiet`), and returns its exit code and the
 * output (stdout and stderr interleaved). After `timeoutMs` it is killed (SIGKILL) and the exit code reflects that.
 */
export async function stream(
  cmd: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; quiet?: boolean } = {},
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: opts.cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of s) {
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

/**
 * Starts a long-lived process that outlives this one (own session, no stdio; `logFile` gets its output), and
 * returns it unref'd. `ref()` it again before awaiting its status.
 */
export function spawnDetached(cmd: string[], opts: { env?: Record<string, string>; logFile?: string } = {}) {
  const argv = opts.logFile ? ["sh", "-c", 'exec "$@" >>"$DN42OP_LOG" 2>&1', "sh", ...cmd] : cmd;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: opts.logFile ? { ...opts.env, DN42OP_LOG: opts.logFile } : opts.env,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return child;
}

/** Thrown when a daemon cannot be started or does not become ready; the message carries the end of its log. */
export class DaemonStartError extends Error {
  override name = "DaemonStartError";
}

/**
 * Runs `argv` in a new session, orphaned (its parent is init, not this process), with stdin from /dev/null and
 * stdout+stderr appended to `logPath`. `setsid` execs without forking (the background job is not a group leader),
 * so the printed `$!` is the PID of `argv[0]` itself. Nothing stays pending in this process. Throws DaemonStartError.
 */
export async function spawnOrphan(
  argv: string[],
  logPath: string,
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<number> {
  const out = await new Deno.Command("sh", {
    args: ["-c", 'l=$1; shift; setsid "$@" >>"$l" 2>&1 </dev/null & echo $!', "sh", logPath, ...argv],
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !(pid > 0)) {
    throw new DaemonStartError(`cannot start ${argv[0]}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return pid;
}

/**
 * Starts `bin args…` as an orphaned daemon in its own session (a terminal's Ctrl-C does not reach it), appending
 * its output to `logPath`. Returns the PID once it runs `bin`; the daemon outlives this process.
 */
export async function startDaemon(bin: string, args: string[], logPath: string): Promise<number> {
  const pid = await spawnOrphan([bin, ...args], logPath);
  // Until setsid has exec'd the binary, /proc shows the shell; wait so isRunning() is meaningful afterwards.
  const deadline = Date.now() + 5_000;
  while (!isRunning(pid, bin)) {
    if (Date.now() > deadline) {
      throw new DaemonStartError(`${bin} (PID ${pid}) did not start; ${logPath}:\n${logTail(logPath)}`);
    }
    await sleep(5);
  }
  return pid;
}

/** Whether a process with this PID exists (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** True when `pid` runs `bin` (checked through /proc, so a reused PID is not mistaken for ours). */
export function isRunning(pid: number, bin: string): boolean {
  return processAlive(pid) && processCmdline(pid)[0] === bin;
}

/** The process's command line as an argument list (empty if it is gone). */
export function processCmdline(pid: number): string[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Resident set size of `pid` in KiB, or null when it is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Sends `signal` to `pid`, then SIGKILL after `graceMs`, and waits until the process is gone. With `bin`, only a
 * PID still running `bin` is signalled (a reused PID is left alone). Idempotent.
 */
export async function killAndWait(
  pid: number,
  signal: Deno.Signal = "SIGTERM",
  graceMs = 5000,
  bin?: string,
): Promise<void> {
  const ours = () => bin === undefined ? processAlive(pid) : isRunning(pid, bin);
  if (!ours()) return;
  try {
    Deno.kill(pid, signal);
  } catch { /* already gone */ }
  const deadline = Date.now() + graceMs;
  while (ours()) {
    if (Date.now() > deadline) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline + 5000) throw new Error(`process ${pid} did not exit after SIGKILL`);
    }
    await sleep(20);
  }
}

/** Stops a daemon: SIGTERM if `pid` still runs `bin`, SIGKILL after `graceMs`. Idempotent. */
export function stopDaemon(pid: number, bin: string, graceMs = 10_000): Promise<void> {
  return killAndWait(pid, "SIGTERM", graceMs, bin);
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Last `n` lines of a log file (empty when unreadable). */
export function logTail(path: string, n = 25): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}
