/**
 * Daemon processes of the local control plane: free loopback ports, detached starts with output to a log file,
 * liveness checks that make sure a PID still belongs to the binary we started, stop by PID, polling waits, and a
 * watchdog that stops the daemons when an owner process dies.
 */

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
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
 * its output to `logPath`. Returns the PID; the daemon outlives this process.
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

/** True when `pid` runs `bin` (checked through /proc, so a reused PID is not mistaken for ours). */
export function isRunning(pid: number, bin: string): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    if (/\) [ZX] /.test(stat)) return false;
    const argv0 = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0];
    return argv0 === bin;
  } catch {
    return false;
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

/** Sends SIGTERM to `pid` if it still runs `bin`, waits up to `graceMs`, then SIGKILLs. Idempotent. */
export async function stopDaemon(pid: number, bin: string, graceMs = 10_000): Promise<void> {
  if (!isRunning(pid, bin)) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch { /* already gone */ }
  const deadline = Date.now() + graceMs;
  while (isRunning(pid, bin) && Date.now() < deadline) await sleep(50);
  if (isRunning(pid, bin)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already gone */ }
    while (isRunning(pid, bin)) await sleep(20);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown when a daemon does not become ready; the message carries the end of its log. */
export class DaemonStartError extends Error {
  override name = "DaemonStartError";
}

/** Last `n` lines of a log file (empty when unreadable). */
export function logTail(path: string, n = 25): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}

/**
 * Polls `ready` every 100 ms until it returns true. Fails early when the daemon (`pid` running `bin`) exits, and
 * after `timeoutMs`; both errors name `what` and include the tail of `logPath`.
 */
export async function waitReady(
  what: string,
  ready: () => Promise<boolean>,
  daemon: { pid: number; bin: string; logPath: string },
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await ready().catch(() => false)) return;
    if (!isRunning(daemon.pid, daemon.bin)) {
      throw new DaemonStartError(
        `${what}: process ${daemon.pid} exited; ${daemon.logPath}:\n${logTail(daemon.logPath)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new DaemonStartError(
        `${what}: not ready after ${timeoutMs} ms; ${daemon.logPath}:\n${logTail(daemon.logPath)}`,
      );
    }
    await sleep(100);
  }
}

/** Appends `name pid` to `<dir>/pids`, the record of what {@link stopRecorded} and the watchdog stop. */
export async function recordPid(dir: string, name: string, pid: number): Promise<void> {
  await Deno.writeTextFile(`${dir}/pids`, `${name} ${pid}\n`, { append: true });
}

/** The `<dir>/pids` record as name → PID (empty when there is none). */
export async function recordedPids(dir: string): Promise<Record<string, number>> {
  const text = await Deno.readTextFile(`${dir}/pids`).catch(() => "");
  return Object.fromEntries(
    text.split("\n").filter(Boolean).map((l) => {
      const [name, pid] = l.split(" ");
      return [name, Number(pid)];
    }),
  );
}

/**
 * Stops the recorded processes of `dir` in `order` (names of {@link recordPid}), each only if its PID still runs
 * the binary given for that name. Idempotent.
 */
export async function stopRecorded(dir: string, order: [name: string, bin: string][]): Promise<void> {
  const pids = await recordedPids(dir);
  for (const [name, bin] of order) {
    if (pids[name]) await stopDaemon(pids[name], bin, name === "watchdog" ? 2_000 : 10_000);
  }
}

/**
 * Starts a detached shell that waits for `ownerPid` to exit, then stops every process recorded in `<dir>/pids`
 * at that moment (TERM, KILL after 10 s) and removes `dir`. This is the parent-death guard of clusters started by a
 * test process: however that process ends (normal exit, crash, SIGKILL, even in the middle of starting the
 * cluster), its control plane goes away within about a second. Records itself as "watchdog".
 */
export async function startWatchdog(ownerPid: number, dir: string): Promise<number> {
  const script = `
    while kill -0 ${ownerPid} 2>/dev/null; do sleep 1; done
    list=$(awk '$1 != "watchdog" { print $2 }' "$0/pids" 2>/dev/null)
    alive() { for p in $list; do kill -0 $p 2>/dev/null && return 0; done; return 1; }
    [ -n "$list" ] && kill -TERM $list 2>/dev/null
    for i in $(seq 100); do alive || break; sleep 0.1; done
    [ -n "$list" ] && kill -KILL $list 2>/dev/null
    rm -rf -- "$0"`;
  const pid = await spawnOrphan(["sh", "-c", script, dir], "/dev/null");
  await recordPid(dir, "watchdog", pid);
  return pid;
}
