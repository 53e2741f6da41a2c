/**
 * The local control plane's daemons (on top of kit/proc.ts): readiness waits that fail early when the daemon exits,
 * the record of started PIDs, stops in order, and a watchdog that stops the daemons when an owner process dies.
 */
import { DaemonStartError, isRunning, logTail, spawnOrphan, stopDaemon } from "../../kit/proc.ts";
import { sleep } from "../../kit/wait.ts";

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
