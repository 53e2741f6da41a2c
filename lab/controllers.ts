/**
 * The lab's controllers, run as the reference runs them inside `agentx` (reference-behaviour §4.3):
 * wg-controller and nl-controller per node (`-nodename lax1`, `-nodename lax2`) and one wgplan-controller, all with
 * `-kubeconfig <admin kubeconfig> -v 4` and DOCKER_HOST pointing at podman's Docker-compatible API. agentx's
 * network is their host network; they reach the API server through two byte pipes (lab/apipipe.ts): one in the
 * root namespace from a unix socket to the apiserver's port, one inside agentx listening on that same port, so the
 * kubeconfig works unchanged there. Every process runs under a restart loop (lab/supervisor.ts) with its PID in
 * `<stateDir>/pids/` and its output in `<stateDir>/logs/<name>.log`.
 */
import { programCommand } from "../scripts/programs.ts";
import { exec } from "./exec.ts";
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
}

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

function apiPort(server: string): number {
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

/** The controllers' common flags. */
function commonFlags(o: Pick<LabControllersOptions, "kubeconfig" | "namespace" | "verbosity">): string[] {
  return [`-kubeconfig=${o.kubeconfig}`, `-namespace=${o.namespace}`, `-v=${o.verbosity ?? 4}`];
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
): Promise<Record<string, number>> {
  const dirs = supervisorDirs(stateDir);
  const port = apiPort(server);
  const sock = `${stateDir}/api.sock`;
  const pipe = (listen: string, dial: string) => [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    `${ROOT}lab/apipipe.ts`,
    listen,
    dial,
  ];
  const pids: Record<string, number> = {};
  pids["api-pipe-root"] = await startSupervised(dirs, {
    name: "api-pipe-root",
    argv: pipe(`unix:${sock}`, `tcp:127.0.0.1:${port}`),
  });
  pids[pipeName] = await startSupervised(dirs, {
    name: pipeName,
    netns,
    argv: pipe(`tcp:127.0.0.1:${port}`, `unix:${sock}`),
  });
  await waitTcpInNetns(netns, port);
  return pids;
}

/** Where a node's agents run and which metrics addresses they get. */
export interface NodeAgentPlace {
  node: string;
  netns: string;
  metrics: { wg: string; nl: string };
}

/**
 * Starts one node's wg-controller and nl-controller inside `place.netns` (idempotent), as the DaemonSets run them
 * (`-nodename`). wireguard-go's UAPI sockets live in the fixed /run/wireguard, one name space for all network
 * namespaces: each wg-controller gets its own (in a private mount namespace), so instances with the same interface
 * names (lab, tests, lax1 and lax2) cannot take over each other's devices.
 */
export async function startNodeAgents(
  o: Omit<LabControllersOptions, "nodes" | "agentxNetns" | "server">,
  place: NodeAgentPlace,
): Promise<Record<string, number>> {
  const dirs = supervisorDirs(o.stateDir);
  const env: Record<string, string> = o.dockerHost ? { DOCKER_HOST: o.dockerHost } : {};
  const { node, netns } = place;
  const wgName = `wg-controller-${node}`;
  const nlName = `nl-controller-${node}`;
  return {
    [wgName]: await startSupervised(dirs, {
      name: wgName,
      netns,
      env,
      cwd: ROOT,
      bindMounts: [[wireguardSocketDir(o.stateDir, node), "/run/wireguard"]],
      argv: programCommand("wg-controller", [
        ...commonFlags(o),
        `-nodename=${node}`,
        `-metrics-bind-address=${place.metrics.wg}`,
        `-wg-state-dir=${o.stateDir}/wireguard-go-${node}`,
      ]),
    }),
    [nlName]: await startSupervised(dirs, {
      name: nlName,
      netns,
      env,
      cwd: ROOT,
      argv: programCommand("nl-controller", [
        ...commonFlags(o),
        `-nodename=${node}`,
        `-metrics-bind-address=${place.metrics.nl}`,
      ]),
    }),
  };
}

/** The host directory of a node's wireguard-go UAPI sockets (its wg-controller's /run/wireguard). */
export function wireguardSocketDir(stateDir: string, node: string): string {
  return `${stateDir}/wireguard-run-${node}`;
}

/** Starts the wgplan-controller in `netns` (default: the caller's) with the given metrics address (idempotent). */
export async function startPlanController(
  o: Pick<LabControllersOptions, "stateDir" | "kubeconfig" | "namespace" | "verbosity">,
  metrics: string,
  netns?: string,
): Promise<Record<string, number>> {
  return {
    "wgplan-controller": await startSupervised(supervisorDirs(o.stateDir), {
      name: "wgplan-controller",
      netns,
      cwd: ROOT,
      argv: programCommand("wgplan-controller", [...commonFlags(o), `-metrics-bind-address=${metrics}`]),
    }),
  };
}

/**
 * Starts the pipes and the controllers (idempotent: running ones are kept). Returns when the API server is
 * reachable from inside agentx; the controllers then sync their caches on their own.
 */
export async function startLabControllers(o: LabControllersOptions): Promise<LabControllers> {
  const pids = await startApiPipe(o.stateDir, o.server, o.agentxNetns, "api-pipe-agentx");
  let metricsPort = 8080;
  const metrics = () => `127.0.0.1:${metricsPort++}`;
  for (const node of o.nodes) {
    Object.assign(
      pids,
      await startNodeAgents(o, { node, netns: o.agentxNetns, metrics: { wg: metrics(), nl: metrics() } }),
    );
  }
  Object.assign(pids, await startPlanController(o, metrics(), o.agentxNetns));
  return { pids, logDir: supervisorDirs(o.stateDir).logDir };
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
