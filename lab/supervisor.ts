/**
 * Long-lived lab processes under a restart loop (what kubelet's `restartPolicy: Always` does for the reference's
 * DaemonSet-less lab): `sh` runs the program, and when it exits (crash, SIGKILL) logs the status and starts it
 * again one second later. Each supervisor is its own session and process group (PGID = its PID, recorded in
 * `<dir>/<name>.pid`), so stopping it stops the program too; optionally it runs inside a named network namespace.
 * Output of supervisor and program is appended to a log file.
 */
import { spawnOrphan } from "../kit/proc.ts";
import { exec } from "../kit/proc.ts";

/** Marker in every supervisor's command line; a recorded PID is only signalled when its command line has it. */
const MARK = "dn42op-supervise";

/** What to run. */
export interface SupervisedSpec {
  /** Name of the PID file and log file (`<name>.pid`, `<name>.log`). */
  name: string;
  argv: string[];
  /** Network namespace to run in (`ip netns exec`); default the caller's. */
  netns?: string;
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /**
   * Directories bind-mounted over others (`[source, target]`) in a private mount namespace of the supervisor
   * (`unshare --mount --propagation slave`): the mounts are seen by the program and its children only.
   */
  bindMounts?: [source: string, target: string][];
}

/** Where supervised processes keep their PID files and logs. */
export interface SupervisorDirs {
  pidDir: string;
  logDir: string;
}

const pidFile = (d: SupervisorDirs, name: string) => `${d.pidDir}/${name}.pid`;

/** The log file of `name`. */
export const logFile = (d: SupervisorDirs, name: string): string => `${d.logDir}/${name}.log`;

async function cmdline(pid: number): Promise<string[]> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** The supervisor's PID when it still runs under `name` (checked through /proc against PID reuse), else null. */
export async function supervisorPid(d: SupervisorDirs, name: string): Promise<number | null> {
  const pid = Number((await Deno.readTextFile(pidFile(d, name)).catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return (await cmdline(pid)).includes(`${MARK}:${name}`) ? pid : null;
}

/** PID of the program the supervisor currently runs (its one child), or null between restarts. */
export async function programPid(d: SupervisorDirs, name: string): Promise<number | null> {
  const sup = await supervisorPid(d, name);
  if (!sup) return null;
  const children = (await Deno.readTextFile(`/proc/${sup}/task/${sup}/children`).catch(() => "")).trim().split(/\s+/);
  for (const c of children.filter(Boolean).map(Number)) {
    if (!(await cmdline(c)).includes("sleep")) return c;
  }
  return null;
}

/** Starts `spec` under a supervisor unless one already runs under that name; returns the supervisor's PID. */
export async function startSupervised(d: SupervisorDirs, spec: SupervisedSpec): Promise<number> {
  const running = await supervisorPid(d, spec.name);
  if (running) return running;
  await Deno.mkdir(d.pidDir, { recursive: true });
  await Deno.mkdir(d.logDir, { recursive: true });
  const mounts = spec.bindMounts ?? [];
  for (const [source] of mounts) await Deno.mkdir(source, { recursive: true, mode: 0o700 });
  const mountCmds = mounts.map(([s, t]) => `mkdir -p '${t}' && mount --bind '${s}' '${t}' && `).join("");
  const loop =
    `${mountCmds}while :; do "$@"; echo "supervisor: $1 exited with status $?, restarting in 1 s"; sleep 1; done`;
  const shell = ["sh", "-c", loop, `${MARK}:${spec.name}`, ...spec.argv];
  const inner = mounts.length ? ["unshare", "--mount", "--propagation", "slave", ...shell] : shell;
  const argv = spec.netns ? ["ip", "netns", "exec", spec.netns, ...inner] : inner;
  // setsid from a background job of a non-interactive shell execs without forking: `$!` is the supervisor itself.
  const pid = await spawnOrphan(argv, logFile(d, spec.name), { env: spec.env, cwd: spec.cwd });
  await Deno.writeTextFile(pidFile(d, spec.name), `${pid}\n`);
  const deadline = Date.now() + 5000;
  while (!(await supervisorPid(d, spec.name))) {
    if (Date.now() > deadline) throw new Error(`${spec.name}: supervisor ${pid} did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

async function groupAlive(pgid: number): Promise<boolean> {
  return (await exec(["kill", "-0", "--", `-${pgid}`])).code === 0;
}

/**
 * Stops the supervisor `name` and its program: SIGTERM to its process group, SIGKILL after `graceMs`, and waits
 * until the group is empty. Idempotent (nothing recorded or nothing running is fine).
 */
export async function stopSupervised(d: SupervisorDirs, name: string, graceMs = 5000): Promise<void> {
  const pid = await supervisorPid(d, name);
  if (pid) {
    const signal = (s: Deno.Signal) => {
      try {
        Deno.kill(-pid, s);
      } catch { /* group gone */ }
    };
    signal("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (await groupAlive(pid)) {
      if (Date.now() > deadline) signal("SIGKILL");
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  await Deno.remove(pidFile(d, name)).catch(() => {});
}

/** Names with a PID file in `d.pidDir` (running or not). */
export async function recordedNames(d: SupervisorDirs): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(d.pidDir)) if (e.name.endsWith(".pid")) names.push(e.name.slice(0, -4));
  } catch { /* no directory */ }
  return names.sort();
}
