/**
 * Lifecycle of wireguard-go daemons, one per userspace device, kept apart per state directory.
 *
 * wireguard-go puts its UAPI socket into the fixed `/var/run/wireguard/<name>.sock`, one name space for every
 * network namespace of the host: two agents (two nodes' wg-controllers sharing a host, another install) with an
 * equal interface name would find, adopt or replace each other's daemons there. So each daemon runs in a private
 * mount namespace in which `<stateDir>/run` is bind-mounted over /var/run, and its socket is
 * `<stateDir>/run/wireguard/<name>.sock` for everyone else ({@link daemonSocketDir}). One state directory per agent
 * (wg-controller's default is per node and watched namespace) is then all the separation needed.
 *
 * Start: `setsid nsenter --net=<netns path> unshare --mount --propagation private sh -c 'exec >><stateDir>/<name>.log
 * 2>&1 </dev/null; mount --bind <stateDir>/run /var/run && exec wireguard-go -f <name>'`. Each step execs the next, so
 * the PID we spawn ends up as wireguard-go's own. The start waits until the socket file exists (woken by an inotify
 * watch of the socket directory, with checks at growing intervals as the fallback: under load a daemon takes seconds,
 * and every check costs) and then until the daemon answers; a daemon that is slow to answer is waited for up to the
 * start timeout, not killed at its first slow answer. nsenter takes any namespace path (a bind mount under /run/netns
 * or a container's /proc/PID/ns/net). wireguard-go creates its TUN link and its UDP socket in the network namespace it
 * starts in; setsid detaches it from our process group and its output goes to a file, so it survives a restart of ours.
 *
 * Adopt: after our restart, a device is found by its UAPI socket plus the PID recorded in `<stateDir>/<name>.pid`
 * (checked against /proc: command line and, if given, network namespace). Daemons of the earlier layout (PID files
 * directly in the shared directory, sockets in /var/run/wireguard) are never adopted: nothing there proves which
 * agent started them (src/node/wireguard/apply.ts replaces their links instead).
 *
 * Started through a holder (`holder` option, src/wireguard/holder_protocol.ts), the daemon is the holder's child,
 * started by this same function there; adoption and stop below work the same for it (by PID file and PID).
 * Logs: wireguard-go runs with LOG_LEVEL=error, and {@link trimLogs} (at every start and sweep) keeps each log below
 * 1 MiB, so a flood of errors cannot fill the node's /run.
 *
 * Stop: SIGTERM by PID, SIGKILL after a grace period. A wireguard-go started inside a container's namespace keeps
 * that namespace alive, so the device owner must stop it when the device goes.
 */

import { DaemonError } from "./errors.ts";
import { watchDirectory } from "./dir_changes.ts";
import { requestStart } from "./holder_protocol.ts";
import { checkDeviceName } from "./uapi.ts";
import { uapiCall, uapiSocketPath } from "./uapi_socket.ts";
import { refChild } from "./child.ts";

/** Where and how daemons run. */
export interface WireGuardGoOptions {
  /** Network namespace to start in (any nsfs path); absent means the caller's own namespace. */
  netnsPath?: string;
  /** PID and log files, and the daemons' /var/run (their UAPI sockets). Default {@link DEFAULT_STATE_DIR}. */
  stateDir?: string;
  /** Executable. Default `wireguard-go`. */
  binary?: string;
  /** How long to wait for the socket to answer after starting. Default 5000 ms. */
  startTimeoutMs?: number;
  /**
   * Unix socket of a wireguard-go holder (src/wireguard/holder.ts) that starts the daemons instead of us, with the
   * same argv, so that they are not our processes (a container's restart ends all of its processes). Absent: we
   * start them. `binary` is then the holder's.
   */
  holder?: string;
}

/** A running wireguard-go. */
export interface WireGuardGoDaemon {
  name: string;
  pid: number;
  /** Child handle when this process started it (used to reap it on stop). */
  child?: Deno.ChildProcess;
}

/** State directory when none is given (wg-controller gives one per node and watched namespace). */
export const DEFAULT_STATE_DIR = "/run/dn42op/wireguard-go";

/** Where the daemons of `opts.stateDir` have their UAPI sockets (their private /var/run/wireguard). */
export function daemonSocketDir(opts: Pick<WireGuardGoOptions, "stateDir"> = {}): string {
  return `${opts.stateDir ?? DEFAULT_STATE_DIR}/run/wireguard`;
}
/**
 * Intervals between the checks for a starting daemon's socket: growing from `first` by half to `max`, and from
 * `afterSocket` again once the socket file exists (the checks are woken earlier by the socket directory's changes).
 */
const START_POLL_MS = { first: 5, afterSocket: 1, max: 100 } as const;

function nextPoll(ms: number): number {
  return Math.min(START_POLL_MS.max, Math.ceil(ms * 1.5));
}

/** A set request without changes: answered with `errno=0` by a serving daemon. */
const UAPI_PING = "set=1\n\n";

/**
 * GOMAXPROCS of every daemon: 1 unless our own environment sets GOMAXPROCS. With one device per process, the
 * processes give the parallelism; Go's default (one P per CPU) makes each idle daemon wake a spinning second thread
 * on every timer tick. Measured with 150–300 daemons on 2 CPUs (`deno task bench:daemons`, three runs on a busy
 * host): 1 instead of 2 cut context switches per idle daemon by 30–60 % (13 → 5 per second), idle CPU by 5–45 % and
 * start CPU by 6–10 %. The price: one device's encryption runs on one CPU (set GOMAXPROCS for a few high-throughput
 * tunnels).
 */
function daemonGomaxprocs(): string {
  return Deno.env.get("GOMAXPROCS") ?? "1";
}

function paths(name: string, opts: WireGuardGoOptions) {
  const dir = opts.stateDir ?? DEFAULT_STATE_DIR;
  return { dir, pid: `${dir}/${name}.pid`, log: `${dir}/${name}.log` };
}

/** Starts wireguard-go for `name` and waits until its UAPI socket answers. */
export async function startWireGuardGo(name: string, opts: WireGuardGoOptions = {}): Promise<WireGuardGoDaemon> {
  checkDeviceName(name);
  if (opts.holder) {
    const { stateDir = DEFAULT_STATE_DIR, netnsPath, startTimeoutMs } = opts;
    return { name, pid: await requestStart(opts.holder, { name, stateDir, netnsPath, startTimeoutMs }) };
  }
  const op = `start wireguard-go ${name}`;
  const socketDir = daemonSocketDir(opts);
  if (await exists(uapiSocketPath(name, socketDir))) {
    const running = await findWireGuardGo(name, opts);
    if (running) throw new DaemonError(op, `already running as PID ${running.pid}`);
    // A socket that still answers belongs to a live daemon whose PID file is lost: removing the socket would make
    // it exit and take its device along. Only a dead socket is stale.
    if (await answers(name, socketDir)) {
      throw new DaemonError(
        op,
        `a wireguard-go without a PID file serves ${uapiSocketPath(name, socketDir)}; not replacing it`,
      );
    }
    await Deno.remove(uapiSocketPath(name, socketDir)); // stale socket of a killed daemon
  }
  const p = paths(name, opts);
  await Deno.mkdir(p.dir, { recursive: true, mode: 0o700 });
  await trimLogs(p.dir);
  await Deno.mkdir(`${p.dir}/run`, { mode: 0o700 }).catch((e) => {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  });
  await Deno.mkdir(socketDir, { recursive: true, mode: 0o755 }); // as wireguard-go makes it; watched below
  const child = new Deno.Command("setsid", {
    args: [
      ...(opts.netnsPath ? ["nsenter", `--net=${opts.netnsPath}`, "--"] : []),
      ...["unshare", "--mount", "--propagation", "private", "--"],
      ...["sh", "-c", 'exec >>"$WG_LOG" 2>&1 </dev/null; mount --bind "$0" /var/run && exec "$@"', `${p.dir}/run`],
      opts.binary ?? "wireguard-go",
      "-f",
      name,
    ],
    env: { WG_LOG: p.log, LOG_LEVEL: "error", GOMAXPROCS: daemonGomaxprocs() },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  child.unref(); // the daemon may outlive this process
  // setsid, nsenter and unshare write here until the shell sends everything to the log: what they say when they fail
  // (a namespace that is gone) goes into the log too. The pipe ends when the shell redirects (or the start fails).
  const early = new Response(child.stderr).text().catch(() => "");
  const daemon: WireGuardGoDaemon = { name, pid: child.pid, child };
  await Deno.writeTextFile(p.pid, `${child.pid}\n`, { mode: 0o600 });

  let exited = false;
  const ended = child.status.then(() => exited = true);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 5000);
  const socket = uapiSocketPath(name, socketDir);
  using changes = watchDirectory(socketDir);
  let seen = false;
  for (let wait: number = START_POLL_MS.first; Date.now() < deadline && !exited;) {
    const present = await exists(socket);
    if (present && await answers(name, socketDir, Math.max(1, Math.min(1000, deadline - Date.now())))) {
      return daemon;
    }
    await changes.next(wait, ended);
    // The socket file appears when wireguard-go binds it, a moment before it listens (a connection in between is
    // refused): the first checks after it appeared come at short intervals again.
    wait = present && !seen ? START_POLL_MS.afterSocket : nextPoll(wait);
    seen ||= present;
  }
  const why = exited ? "exited during start" : "did not answer on its UAPI socket in time";
  await stopWireGuardGo(daemon, opts).catch(() => {});
  const said = await early;
  if (said) await Deno.writeTextFile(p.log, said, { append: true }).catch(() => {});
  throw new DaemonError(op, `${why}; log: ${await logTail(p.log)}`);
}

/**
 * Finds the running wireguard-go of `name` (adoption after a restart): its pid file must name a live process whose
 * command line is `wireguard-go … <name>`, and, if `opts.netnsPath` is given, which sits in that namespace.
 */
export async function findWireGuardGo(
  name: string,
  opts: WireGuardGoOptions = {},
): Promise<WireGuardGoDaemon | undefined> {
  checkDeviceName(name);
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(paths(name, opts).pid)).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !(await isWireGuardGo(pid, name))) return undefined;
  if (opts.netnsPath) {
    try {
      const [mine, want] = await Promise.all([Deno.stat(`/proc/${pid}/ns/net`), Deno.stat(opts.netnsPath)]);
      if (mine.ino !== want.ino || mine.dev !== want.dev) return undefined;
    } catch {
      return undefined;
    }
  }
  return { name, pid };
}

/**
 * Whether `daemon` is alive and serving: its PID is a running (not zombie) wireguard-go for that name, and its UAPI
 * socket answers an empty `set` (a no-op) within `timeoutMs`. A daemon that died, or hangs, is not.
 */
export async function daemonAnswers(
  daemon: WireGuardGoDaemon,
  opts: WireGuardGoOptions = {},
  timeoutMs = 2000,
): Promise<boolean> {
  if (!(await isWireGuardGo(daemon.pid, daemon.name)) || !(await isAlive(daemon.pid))) return false;
  try {
    return /^errno=0\n\n$/.test(await uapiCall(daemon.name, UAPI_PING, daemonSocketDir(opts), timeoutMs));
  } catch {
    return false;
  }
}

/** Stops a daemon by PID (SIGTERM, then SIGKILL after `graceMs`) and removes its pid file. */
export async function stopWireGuardGo(
  daemon: WireGuardGoDaemon,
  opts: WireGuardGoOptions = {},
  graceMs = 3000,
): Promise<void> {
  if (daemon.child) refChild(daemon.child); // we now wait for its exit (also when it already died and only needs reaping)
  const gone = daemon.child ? daemon.child.status.then(() => true) : undefined;
  const waitGone = async (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (gone ? await Promise.race([gone, sleep(20).then(() => false)]) : !(await isAlive(daemon.pid))) return true;
      if (!gone) await sleep(20);
    }
    return false;
  };
  if (await isWireGuardGo(daemon.pid, daemon.name)) {
    signal(daemon.pid, "SIGTERM");
    if (!(await waitGone(graceMs))) {
      signal(daemon.pid, "SIGKILL");
      if (!(await waitGone(graceMs))) throw new DaemonError(`stop wireguard-go ${daemon.name}`, "process did not exit");
    }
  }
  if (gone) await gone;
  await Deno.remove(paths(daemon.name, opts).pid).catch(() => {});
  // After SIGKILL the daemon cannot remove its socket; a stale one would look like a running device.
  await Deno.remove(uapiSocketPath(daemon.name, daemonSocketDir(opts))).catch(() => {});
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* exited meanwhile */ }
}

async function isWireGuardGo(pid: number, name: string): Promise<boolean> {
  try {
    const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0").filter(Boolean);
    const exe = argv[0] ?? "";
    return (exe === "wireguard-go" || exe.endsWith("/wireguard-go")) && argv[argv.length - 1] === name;
  } catch {
    return false;
  }
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

async function answers(name: string, socketDir: string, timeoutMs = 1000): Promise<boolean> {
  try {
    // The no-op set, not a get: a busy daemon's 10,000-peer get can outlast the timeout and pass for dead.
    await uapiCall(name, UAPI_PING, socketDir, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The last `bytes` of a file (never reads more). */
async function tail(path: string, bytes: number): Promise<Uint8Array> {
  using f = await Deno.open(path, { read: true });
  const size = (await f.stat()).size;
  await f.seek(Math.max(0, size - bytes), Deno.SeekMode.Start);
  const buf = new Uint8Array(Math.min(size, bytes));
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return buf.subarray(0, n);
}

async function logTail(path: string): Promise<string> {
  try {
    return JSON.stringify(new TextDecoder().decode(await tail(path, 400)).trim());
  } catch {
    return "(no log)";
  }
}

/** Size above which a daemon's log is cut by {@link trimLogs}. */
export const LOG_MAX_BYTES = 1 << 20;
/** What {@link trimLogs} keeps of a log: its end. */
export const LOG_KEEP_BYTES = 64 << 10;

/**
 * Keeps every daemon log of `stateDir` (`*.log`) bounded: a log above `max` bytes is cut to its last `keep` bytes.
 * The daemons append (O_APPEND), so their next line lands after the kept part; a line written during the cut may
 * be lost or land before the kept part. Returns the names of the logs cut.
 */
export async function trimLogs(stateDir: string, max = LOG_MAX_BYTES, keep = LOG_KEEP_BYTES): Promise<string[]> {
  const cut: string[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(stateDir)];
  } catch {
    return cut;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.endsWith(".log")) continue;
    const path = `${stateDir}/${e.name}`;
    try {
      if ((await Deno.stat(path)).size <= max) continue;
      const kept = await tail(path, keep);
      await Deno.truncate(path, 0);
      using f = await Deno.open(path, { append: true });
      await f.write(kept);
      cut.push(e.name);
    } catch { /* removed meanwhile */ }
  }
  return cut;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
