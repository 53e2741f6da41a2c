/** Running the lab's external commands (podman, ip, unshare) with errors that name the command. */

/** A command exited non-zero; carries its exit code and stderr. */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(readonly command: string[], readonly code: number, readonly stderr: string) {
    super(`${command.join(" ")}: exit ${code}: ${stderr.trim() || "(no output)"}`);
  }
}

/** Result of {@link exec}. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and returns its exit code and output; never throws for a non-zero exit. `stdin`, when
 * given, is written to the command's standard input.
 */
export async function exec(cmd: string[], env?: Record<string, string>, stdin?: string): Promise<ExecResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command and returns its stdout; throws CommandError on a non-zero exit. */
export async function run(cmd: string[], env?: Record<string, string>): Promise<string> {
  const r = await exec(cmd, env);
  if (r.code !== 0) throw new CommandError(cmd, r.code, r.stderr);
  return r.stdout;
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

/** Whether a process with this PID exists (a zombie counts as gone). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The process's command line as an argument list (empty if it is gone). */
export async function processCmdline(pid: number): Promise<string[]> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Sends `signal` to `pid`, then SIGKILL after `graceMs`, and waits until the process is gone. */
export async function killAndWait(pid: number, signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<void> {
  try {
    Deno.kill(pid, signal);
  } catch { /* already gone */ }
  const deadline = Date.now() + graceMs;
  while (await processAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline + 5000) throw new Error(`process ${pid} did not exit after SIGKILL`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
