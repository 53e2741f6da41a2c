/**
 * Runs nl-controller as a real process confined to a throwaway network namespace (its "host namespace"), reaching
 * the shared test API server through a unix-socket pipe (no link in the root namespace is touched).
 */
import * as k8s from "@kubernetes/client-node";
import { cluster, type TestCluster } from "../../helpers/cluster.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../helpers/netns.ts";
import { serve } from "./proxy.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

/** The NetlinkInterface resource path parts. */
export const NLI = { group: "networking.dn42.io", version: "v1alpha1", plural: "netlinkinterfaces" };

/** A running agent. */
export interface Agent {
  host: TestNetns;
  nodename: string;
  pid: number;
  logFile: string;
  /** Blocks (true) or restores (false) the agent's path to the API server. */
  setApiReachable(up: boolean): Promise<void>;
  /** Sends `signal` and waits for the process to exit. */
  stop(signal?: Deno.Signal): Promise<void>;
  /** Starts the controller process again (same host namespace). */
  restart(extraArgs?: string[]): Promise<void>;
  /** Stops everything and removes the host namespace. */
  dispose(): Promise<void>;
}

function apiPort(c: TestCluster): number {
  return Number(new URL(c.server).port);
}

/** Starts the root-side pipe (unix socket → API server) once per test process. */
let rootPipe: Promise<string> | undefined;
function rootSocket(c: TestCluster): Promise<string> {
  return rootPipe ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "dn42op-na-" });
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

function spawnIn(ns: TestNetns, args: string[], logFile?: string): Deno.ChildProcess {
  const cmd = new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, Deno.execPath(), "run", "-A", ...args],
    cwd: ROOT,
    stdout: logFile ? "piped" : "null",
    stderr: logFile ? "piped" : "null",
    stdin: "null",
  });
  const child = cmd.spawn();
  if (logFile) {
    const f = Deno.openSync(logFile, { append: true, create: true, write: true });
    const w = f.writable.getWriter();
    const copy = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await w.write(chunk).catch(() => {});
    };
    Promise.all([copy(child.stdout), copy(child.stderr)]).finally(() => w.close().catch(() => {}));
  }
  return child;
}

/** Starts an nl-controller for `nodename` watching `namespace`, confined to a fresh throwaway namespace. */
export async function startAgent(o: {
  nodename: string;
  namespace: string;
  args?: string[];
}): Promise<Agent> {
  const c = await cluster();
  const sock = await rootSocket(c);
  const host = await createNetns("na");
  const logFile = await Deno.makeTempFile({ prefix: "dn42op-na-log-" });
  let pipe: Deno.ChildProcess | undefined;
  let proc: Deno.ChildProcess | undefined;
  const startPipe = async () => {
    pipe = spawnIn(host, ["tests/controllers/nl/proxy.ts", "tcp-to-unix", String(apiPort(c)), sock]);
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
    proc = spawnIn(host, [
      "src/cmd/nl-controller.ts",
      `-kubeconfig=${c.kubeconfigPath}`,
      `-nodename=${o.nodename}`,
      `-namespace=${o.namespace}`,
      "-metrics-bind-address=0",
      "-v=4",
      ...(o.args ?? []),
      ...extra,
    ], logFile);
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
    await kill(pipe, "SIGKILL");
    await deleteNetns(host);
    throw e;
  }
  start();
  const agent: Agent = {
    host,
    nodename: o.nodename,
    get pid() {
      return proc!.pid;
    },
    logFile,
    setApiReachable: async (up) => {
      if (up) await startPipe();
      else await kill(pipe, "SIGKILL"), pipe = undefined;
    },
    stop: (sig = "SIGTERM") => kill(proc, sig),
    restart: (extra) => {
      start(extra);
      return Promise.resolve();
    },
    dispose: async () => {
      await kill(proc, "SIGKILL");
      await kill(pipe, "SIGKILL");
      await deleteNetns(host);
      await Deno.remove(logFile).catch(() => {});
    },
  };
  return agent;
}

/** A custom-objects API client for the test cluster. */
export async function customApi(): Promise<k8s.CustomObjectsApi> {
  return (await cluster()).kc.makeApiClient(k8s.CustomObjectsApi);
}

/** A NetlinkInterface manifest. */
export function nli(namespace: string, name: string, spec: Record<string, unknown>) {
  return { apiVersion: "networking.dn42.io/v1alpha1", kind: "NetlinkInterface", metadata: { name, namespace }, spec };
}

// deno-lint-ignore no-explicit-any
export type Obj = any;

/** Creates an object. */
export async function create(api: k8s.CustomObjectsApi, body: Obj): Promise<Obj> {
  return await api.createNamespacedCustomObject({ ...NLI, namespace: body.metadata.namespace, body });
}

/** Reads an object (null when gone). */
export async function read(api: k8s.CustomObjectsApi, namespace: string, name: string): Promise<Obj | null> {
  try {
    return await api.getNamespacedCustomObject({ ...NLI, namespace, name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return null;
    throw e;
  }
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`, with the last value/error). */
export async function until<T>(what: string, fn: () => Promise<T>, ms = 120_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** Ready=True with observedGeneration = generation. */
export function isReady(o: Obj | null): boolean {
  return !!o && o.status?.observedGeneration === o.metadata.generation &&
    o.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True");
}
