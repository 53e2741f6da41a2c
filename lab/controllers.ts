/**
 * The lab's controllers, run as the reference runs them inside `agentx` (docs/reference.md#the-references-lab):
 * wg-controller and nl-controller per node (`-nodename lax1`, `-nodename lax2`) and one wgplan-controller, all with
 * `-kubeconfig <admin kubeconfig> -v 4` and DOCKER_HOST pointing at podman's Docker-compatible API. agentx's
 * network is their host network; they reach the API server through two byte pipes (lab/apipipe.ts): one in the
 * root namespace from a unix socket to the apiserver's port, one inside agentx listening on that same port, so the
 * kubeconfig works unchanged there. Every process runs under a restart loop (lab/supervisor.ts) with its PID in
 * `<stateDir>/pids/` and its output in `<stateDir>/logs/<name>.log`.
 */
import { programCommand, type ProgramName } from "../scripts/programs.ts";
import { daemonSocketDir, DEFAULT_STATE_DIR } from "../src/wireguard/wggo.ts";
import { exec } from "../kit/proc.ts";
import {
  logFile,
  programPid,
  recordedNames,
  startSupervised,
  stopSupervised,
  type SupervisorDirs,
  supervisorPid,
} from "./supervisor.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A program's arguments: `(program, node) → argv`. */
type ArgsOf = (program: ProgramName, node?: string) => string[];

/**
 * The lab's flags: the reference's (-kubeconfig, -nodename, -v) plus -namespace, -default-resync-period when asked,
 * one fixed metrics address each (127.0.0.1:8080…), and for wg-controller a state directory under the lab's (so that
 * lab:down removes it). Both nodes' agents share agentx and its file system, as in the reference's lab; their
 * wireguard-go daemons are per node by design (src/wireguard/wggo.ts).
 */
function labArgs(
  o: Pick<LabControllersOptions, "kubeconfig" | "namespace" | "verbosity" | "resyncSeconds" | "stateDir">,
  metrics?: (program: ProgramName) => string,
): ArgsOf {
  const common = [
    `-kubeconfig=${o.kubeconfig}`,
    `-namespace=${o.namespace}`,
    `-v=${o.verbosity ?? 4}`,
    ...(o.resyncSeconds ? [`-default-resync-period=${o.resyncSeconds}`] : []),
  ];
  let metricsPort = 8080;
  return (program, node) => [
    ...common,
    ...(node ? [`-nodename=${node}`] : []),
    `-metrics-bind-address=${metrics ? metrics(program) : `127.0.0.1:${metricsPort++}`}`,
    ...(program === "wg-controller" ? [`-wg-state-dir=${wireguardStateDir(o.stateDir, node!)}`] : []),
  ];
}

/** Exactly the reference README's commands (`--kubeconfig <path> -nodename lax1 -v 4`, `--kubeconfig=<path> -v 4`). */
function referenceArgs(kubeconfig: string): ArgsOf {
  return (_program, node) =>
    node ? ["--kubeconfig", kubeconfig, "-nodename", node, "-v", "4"] : [
      `--kubeconfig=${kubeconfig}`,
      "-v",
      "4",
    ];
}

/** Where and how a lab instance runs its controllers. */
export interface LabControllersOptions {
  /** State directory of the lab instance (PID files under pids/, logs under logs/, the API socket). */
  stateDir: string;
  /** The agentx namespace (the controllers' host network). */
  agentxNetns: string;
  /** Admin kubeconfig and the apiserver URL in it (https://127.0.0.1:PORT). */
  kubeconfig: string;
  server: string;
  /** Kubernetes namespace the controllers act on (-namespace). */
  namespace: string;
  /** DOCKER_HOST for the node controllers (podman's API); absent with the netns fallback. */
  dockerHost?: string;
  /** Node names (one wg-controller and one nl-controller each). */
  nodes: string[];
  /** -v of every controller (the reference's README uses 4). */
  verbosity?: number;
  /** -default-resync-period of every controller (absent: the programs' default). */
  resyncSeconds?: number;
  /**
   * "lab" (default): the lab's flags ({@link labArgs}); the Kubernetes namespace is `namespace`. "reference": only
   * the reference README's flags ({@link referenceArgs}): `namespace`, `verbosity` and `resyncSeconds` must be the
   * programs' defaults ("default", 4, 30 s).
   */
  flags?: "lab" | "reference";
  /**
   * Where the root-namespace pipe reaches the API server (`tcp:HOST:PORT`); default the server's own 127.0.0.1
   * port. The kernel lab's guest dials QEMU's forward to the host instead (lab/kernel/).
   */
  apiDial?: string;
  /** Whether to run the wgplan-controller here too (default true; the kernel lab runs it on the host). */
  planController?: boolean;
  /** Which node programs to run per node (default both). */
  nodePrograms?: ProgramName[];
  /** Extra `deno run` flags of the programs (the kernel lab's guest, without network, passes --cached-only). */
  denoFlags?: string[];
  /** The command of a byte pipe from `listen` to `dial` (`tcp:HOST:PORT`, `unix:PATH`); default lab/apipipe.ts. */
  pipeCommand?: (listen: string, dial: string) => string[];
}

/** How {@link startApiPipe} reaches the API server: defaults are lab/apipipe.ts dialing the server's own port. */
export type ApiPipeVia = Pick<LabControllersOptions, "apiDial" | "pipeCommand">;

/** What {@link startLabControllers} started: process name → supervisor PID, and where the logs are. */
export interface LabControllers {
  pids: Record<string, number>;
  logDir: string;
}

/** Supervisor directories of a lab instance. */
export function supervisorDirs(stateDir: string): SupervisorDirs {
  return { pidDir: `${stateDir}/pids`, logDir: `${stateDir}/logs` };
}

/** Process names of the lab: the two pipes, then the controllers in start order. */
export function processNames(nodes: string[]): string[] {
  return [
    "api-pipe-root",
    "api-pipe-agentx",
    ...nodes.flatMap((n) => [`wg-controller-${n}`, `nl-controller-${n}`]),
    "wgplan-controller",
  ];
}

/** The apiserver's port (it must listen on 127.0.0.1: the pipes reach it from the root namespace). */
export function apiPort(server: string): number {
  const u = new URL(server);
  if (u.hostname !== "127.0.0.1") throw new Error(`lab controllers: apiserver ${server} is not on 127.0.0.1`);
  return Number(u.port);
}

async function waitTcpInNetns(netns: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const r = await exec(["ip", "netns", "exec", netns, "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`API pipe in ${netns} does not accept on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A node agent's wireguard-go state directory (PID and log files, its daemons' /var/run with their sockets). */
export function wireguardStateDir(stateDir: string, node: string): string {
  return `${stateDir}/wireguard-go-${node}`;
}

/** The directory of a node agent's wireguard-go UAPI sockets. */
export function wireguardSocketDir(stateDir: string, node: string): string {
  return daemonSocketDir({ stateDir: wireguardStateDir(stateDir, node) });
}

/**
 * Starts the API pipes for `netns` (idempotent): the root namespace's one of the state directory (shared by all
 * namespaces) and `pipeName` inside `netns`, listening on the apiserver's port. Returns when it accepts there.
 */
export async function startApiPipe(
  stateDir: string,
  server: string,
  netns: string,
  pipeName: string,
  via: ApiPipeVia = {},
): Promise<Record<string, number>> {
  const dirs = supervisorDirs(stateDir);
  const port = apiPort(server);
  const sock = `${stateDir}/api.sock`;
  const pipe = via.pipeCommand ?? ((listen: string, dial: string) => [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    `${ROOT}lab/apipipe.ts`,
    listen,
    dial,
  ]);
  const pids: Record<string, number> = {};
  pids["api-pipe-root"] = await startSupervised(dirs, {
    name: "api-pipe-root",
    argv: pipe(`unix:${sock}`, via.apiDial ?? `tcp:127.0.0.1:${port}`),
  });
  pids[pipeName] = await startSupervised(dirs, {
    name: pipeName,
    netns,
    argv: pipe(`tcp:127.0.0.1:${port}`, `unix:${sock}`),
  });
  await waitTcpInNetns(netns, port);
  return pids;
}

/**
 * Starts one node's wg-controller and nl-controller in `netns` with the lab's flags and the given metrics addresses,
 * as the DaemonSets run them (`-nodename`); idempotent.
 */
export async function startNodeAgents(
  o: Pick<LabControllersOptions, "kubeconfig" | "namespace" | "verbosity" | "resyncSeconds" | "stateDir">,
  node: string,
  netns: string,
  metrics: { wg: string; nl: string },
): Promise<Record<string, number>> {
  const argv = labArgs(o, (p) => p === "wg-controller" ? metrics.wg : metrics.nl);
  const pids: Record<string, number> = {};
  for (const program of ["wg-controller", "nl-controller"] as const) {
    pids[`${program}-${node}`] = await startSupervised(supervisorDirs(o.stateDir), {
      name: `${program}-${node}`,
      netns,
      cwd: ROOT,
      argv: programCommand(program, argv(program, node)),
    });
  }
  return pids;
}

/** Starts the wgplan-controller in the caller's namespace with the lab's flags and `metrics` (idempotent). */
export async function startPlanController(
  o: Pick<LabControllersOptions, "kubeconfig" | "namespace" | "verbosity" | "resyncSeconds" | "stateDir">,
  metrics: string,
): Promise<Record<string, number>> {
  const argv = labArgs(o, () => metrics);
  return {
    "wgplan-controller": await startSupervised(supervisorDirs(o.stateDir), {
      name: "wgplan-controller",
      cwd: ROOT,
      argv: programCommand("wgplan-controller", argv("wgplan-controller")),
    }),
  };
}

/**
 * Starts the pipes and the controllers (idempotent: running ones are kept). Returns when the API server is
 * reachable from inside agentx; the controllers then sync their caches on their own.
 */
export async function startLabControllers(o: LabControllersOptions): Promise<LabControllers> {
  const dirs = supervisorDirs(o.stateDir);
  const pids = await startApiPipe(o.stateDir, o.server, o.agentxNetns, "api-pipe-agentx", o);

  const env: Record<string, string> = o.dockerHost ? { DOCKER_HOST: o.dockerHost } : {};
  const argv = o.flags === "reference" ? referenceArgs(o.kubeconfig) : labArgs(o);
  const nodePrograms = new Set<ProgramName>(o.nodePrograms ?? ["wg-controller", "nl-controller"]);
  const programs: [name: string, program: ProgramName, node?: string][] = [
    ...o.nodes.flatMap((n): [string, ProgramName, string][] => [
      [`wg-controller-${n}`, "wg-controller", n],
      [`nl-controller-${n}`, "nl-controller", n],
    ]).filter(([, program]) => nodePrograms.has(program)),
    ...(o.planController === false ? [] : [["wgplan-controller", "wgplan-controller"] as [string, ProgramName]]),
  ];
  for (const [name, program, node] of programs) {
    pids[name] = await startSupervised(dirs, {
      name,
      netns: o.agentxNetns,
      env: node ? env : {},
      cwd: ROOT,
      // With the reference's flags, wg-controller keeps wireguard-go files in the machine-wide default directory:
      // that directory is the instance's own (a bind mount) so that two instances on one machine stay apart.
      bindMounts: o.flags === "reference" && program === "wg-controller"
        ? [[`${o.stateDir}/wireguard-go`, DEFAULT_STATE_DIR]]
        : undefined,
      argv: programCommand(program, argv(program, node), undefined, o.denoFlags),
    });
  }
  return { pids, logDir: dirs.logDir };
}

/** PID of the program a lab process name currently runs (e.g. `wg-controller-lax1`), or null. */
export function labProgramPid(stateDir: string, name: string): Promise<number | null> {
  return programPid(supervisorDirs(stateDir), name);
}

/** Supervisor PID of a lab process, or null when it does not run. */
export function labSupervisorPid(stateDir: string, name: string): Promise<number | null> {
  return supervisorPid(supervisorDirs(stateDir), name);
}

/** The log file of a lab process. */
export function labLogFile(stateDir: string, name: string): string {
  return logFile(supervisorDirs(stateDir), name);
}

/**
 * Stops every recorded lab process, controllers first, the pipes last, then whatever still runs inside the
 * namespaces (the controllers' wireguard-go daemons, which detach into their own sessions), each by PID.
 * Idempotent.
 */
export async function stopLabControllers(stateDir: string, netns: string | string[]): Promise<void> {
  const dirs = supervisorDirs(stateDir);
  const names = await recordedNames(dirs);
  const pipes = names.filter((n) => n.startsWith("api-pipe-"));
  for (const n of names.filter((n) => !pipes.includes(n))) await stopSupervised(dirs, n);
  for (const ns of typeof netns === "string" ? [netns] : netns) {
    const inside = await exec(["ip", "netns", "pids", ns]);
    if (inside.code !== 0) continue;
    for (const pid of inside.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
  for (const n of pipes) await stopSupervised(dirs, n);
}
