/**
 * Runs a node agent (wg-controller or nl-controller) as a real process confined to a throwaway network namespace
 * (its "host namespace"), reaching the shared test API server through a unix-socket pipe: unix sockets are
 * reachable from every network namespace, so no link of the root namespace is touched.
 * kit/nl_agent.ts adds the nl-controller's objects on top.
 */
import type * as k8s from "@kubernetes/client-node";
import { cluster, type TestCluster } from "./cluster.ts";
import { clientNode } from "./k8s.ts";
import { createNetns, deleteNetns, type TestNetns } from "./netns.ts";
import { serve } from "./apiproxy.ts";
import { programCommand, PROGRAMS } from "../scripts/programs.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A running agent. */
export interface Agent {
  host: TestNetns;
  nodename: string;
  readonly pid: number;
  logFile: string;
  /** Blocks (false) or restores (true) the agent's path to the API server. */
  setApiReachable(up: boolean): Promise<void>;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts the program again in the same host namespace. */
  restart(extraArgs?: string[]): void;
  /** Kills everything (processes inside the host namespace included) and removes the host namespace. */
  dispose(): Promise<void>;
}

function apiPort(c: TestCluster): number {
  return Number(new URL(c.server).port);
}

let rootPipe: Promise<string> | undefined;
/** The root-side pipe (unix socket → API server), once per test process. */
function rootSocket(c: TestCluster): Promise<string> {
  return rootPipe ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "dn42op-agent-" });
    const path = `${dir}/api.sock`;
    const l = Deno.listen({ transport: "unix", path });
    serve(l, () => Deno.connect({ hostname: "127.0.0.1", port: apiPort(c) })).catch(() => {});
    addEventListener("unload", () => {
      try {
        l.close();
        Deno.removeSync(dir, { recursive: true });
      } catch { /* best effort */ }
    });
    return path;
  })();
}

/** Runs `argv` inside `ns`; with `logFile`, its stdout and stderr are appended to that file directly. */
function spawnIn(ns: TestNetns, argv: string[], logFile?: string): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, ...(logFile ? ["sh", "-c", 'exec "$@" >>"$AGENT_LOG" 2>&1', "sh"] : []), ...argv],
    env: logFile ? { AGENT_LOG: logFile } : {},
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
}

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /**
   * Entry point relative to the repository, e.g. "src/cmd/wg-controller.ts", or the program's name. It runs through
   * scripts/programs.ts `programCommand`: bin/<name> when compiled, else `deno run` with the program's permissions.
   */
  program: string;
  nodename: string;
  /** Kubernetes namespace (-namespace). */
  namespace: string;
  args?: string[];
  /** Tag of the host network namespace (your sub-prefix), e.g. "wa" → dn42op-wa-…. */
  netnsTag: string;
}

/** Starts `program` for `nodename`, confined to a fresh throwaway network namespace. */
export async function startAgent(o: AgentOptions): Promise<Agent> {
  const program = Object.values(PROGRAMS).find((p) => p.entry === o.program || p.name === o.program);
  if (!program) throw new TypeError(`startAgent: "${o.program}" is not a program of scripts/programs.ts`);
  const c = await cluster();
  const sock = await rootSocket(c);
  const host = await createNetns(o.netnsTag);
  const logFile = await Deno.makeTempFile({ prefix: `dn42op-${o.netnsTag}-log-` });
  let apiPipe: Deno.ChildProcess | undefined;
  let proc: Deno.ChildProcess | undefined;
  const startPipe = async () => {
    apiPipe = spawnIn(host, [Deno.execPath(), "run", "-A", "kit/apiproxy.ts", String(apiPort(c)), sock]);
    for (let i = 0; i < 100; i++) {
      try {
        await host.run("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${apiPort(c)}`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error("API pipe did not come up");
  };
  const start = (extra: string[] = []) => {
    proc = spawnIn(
      host,
      programCommand(program.name, [
        `-kubeconfig=${c.kubeconfigPath}`,
        `-nodename=${o.nodename}`,
        `-namespace=${o.namespace}`,
        "-metrics-bind-address=0",
        "-v=4",
        ...(o.args ?? []),
        ...extra,
      ]),
      logFile,
    );
  };
  const kill = async (p: Deno.ChildProcess | undefined, sig: Deno.Signal) => {
    if (!p) return;
    try {
      p.kill(sig);
    } catch { /* exited */ }
    await p.status;
  };
  try {
    await startPipe();
  } catch (e) {
    await kill(apiPipe, "SIGKILL");
    await deleteNetns(host);
    throw e;
  }
  start();
  return {
    host,
    nodename: o.nodename,
    get pid() {
      return proc!.pid;
    },
    logFile,
    setApiReachable: async (up) => {
      if (up) await startPipe();
      else await kill(apiPipe, "SIGKILL"), apiPipe = undefined;
    },
    stop: (sig = "SIGTERM") => kill(proc, sig),
    restart: (extra) => start(extra),
    dispose: async () => {
      await kill(proc, "SIGKILL");
      await kill(apiPipe, "SIGKILL");
      await deleteNetns(host);
      await Deno.remove(logFile).catch(() => {});
    },
  };
}

/**
 * The value of one sample on the agent's /metrics at `address` (its -metrics-bind-address), e.g.
 * `metricValue(agent, "127.0.0.1:9468", "dn42op_status_write_errors_total", 'controller="nl-controller"')`; 0 while
 * the sample is not exported yet.
 */
export async function metricValue(agent: Agent, address: string, name: string, labels: string): Promise<number> {
  const text = await agent.host.run("curl", "-sf", `http://${address}/metrics`);
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** The sum of every sample of `name` whose labels begin with `labels` (e.g. all results of one controller). */
export async function metricSum(agent: Agent, address: string, name: string, labels: string): Promise<number> {
  const text = await agent.host.run("curl", "-sf", `http://${address}/metrics`);
  return text.split("\n").filter((l) => l.startsWith(`${name}{${labels}`))
    .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
}

/** A custom-objects API client for the test cluster. */
export async function customApi(): Promise<k8s.CustomObjectsApi> {
  const k8s = await clientNode();
  return (await cluster()).kc.makeApiClient(k8s.CustomObjectsApi);
}
