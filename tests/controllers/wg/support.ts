/** wg-controller e2e helpers: objects, Secrets, readiness, kernel snapshots, an agent per scenario. */
import { type Agent, customApi, metricSum, startAgent } from "../../../kit/agent.ts";
import { cluster, withNamespace } from "../../../kit/cluster.ts";
import { clientNode, mergePatch } from "../../../kit/k8s.ts";
import { type TestNetns, withNetns } from "../../../kit/netns.ts";
import { wg } from "../../helpers/wgtool.ts";

/** WireGuardInterface resource path parts. */
export const WGI = { group: "networking.dn42.io", version: "v1alpha1", plural: "wireguardinterfaces" };

// deno-lint-ignore no-explicit-any
export type Obj = any;

/** Where the agent serves /metrics in tests that pass `-metrics-bind-address=${METRICS}` (its own namespace). */
export const METRICS = "127.0.0.1:18080";

/** The wg-controller's passes so far, whatever their result (tests that pass `-metrics-bind-address=${METRICS}`). */
export function reconciles(agent: Agent): Promise<number> {
  return metricSum(agent, METRICS, "controller_runtime_reconcile_total", 'controller="wg-controller"');
}

/** A random interface name, unique machine-wide (wireguard-go sockets are global). */
export function ifname(): string {
  return `wa${crypto.getRandomValues(new Uint8Array(3)).toHex()}`;
}

/** A WireGuardInterface manifest. */
export function wgi(namespace: string, name: string, spec: Record<string, unknown>): Obj {
  return { apiVersion: "networking.dn42.io/v1alpha1", kind: "WireGuardInterface", metadata: { name, namespace }, spec };
}

/** Creates a WGI. */
export async function create(body: Obj): Promise<Obj> {
  return await (await customApi()).createNamespacedCustomObject({ ...WGI, namespace: body.metadata.namespace, body });
}

/** Reads a WGI (null when gone). */
export async function read(namespace: string, name: string): Promise<Obj | null> {
  try {
    return await (await customApi()).getNamespacedCustomObject({ ...WGI, namespace, name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return null;
    throw e;
  }
}

/** Merge-patches a WGI's spec. */
export async function patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await (await customApi()).patchNamespacedCustomObject(
    { ...WGI, namespace, name, body: { spec } },
    await mergePatch(),
  );
}

/** Deletes a WGI. */
export async function remove(namespace: string, name: string): Promise<void> {
  await (await customApi()).deleteNamespacedCustomObject({ ...WGI, namespace, name });
}

/** A Secret whose data[key] is the raw 32 key bytes (the reference's format). */
export async function secret(namespace: string, name: string, base64Key: string, key = "privatekey"): Promise<void> {
  const k8s = await clientNode();
  const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedSecret({ namespace, body: { metadata: { name }, data: { [key]: base64Key } } });
}

/** Ready=True with observedGeneration = generation. */
export function isReady(o: Obj | null): boolean {
  return !!o && o.status?.observedGeneration === o.metadata.generation &&
    o.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True");
}

/** The condition of `type`. */
export function condition(o: Obj | null, type: string): Obj | undefined {
  return o?.status?.conditions?.find((c: Obj) => c.type === type);
}

/**
 * What the kernel shows of a namespace's links, addresses and WireGuard devices (wireguard-go of `stateDir`),
 * counters stripped.
 */
export async function snapshot(ns: TestNetns, stateDir: string): Promise<string> {
  const links = (await ns.ip("-d", "link", "show")).replace(/\s+(RX|TX):[^\n]*\n[^\n]*/g, "");
  const addrs = (await ns.ip("addr", "show")).replace(/valid_lft.*|preferred_lft.*/g, "");
  // Only this namespace's links, each through its own daemon's socket.
  const names = [...links.matchAll(/^\d+: ([^:@\s]+)[:@]/gm)].map((m) => m[1]).sort();
  let dumps = "";
  for (const name of names) {
    try {
      dumps += (await wg(ns, stateDir, "show", name, "dump")).split("\n").map((l) => {
        const f = l.split("\t");
        // Peer lines: pub psk endpoint allowed handshake rx tx keepalive → drop handshake/rx/tx.
        return f.length === 8 ? [...f.slice(0, 4), f[7]].join("\t") : l;
      }).join("\n") + "\n";
    } catch { /* not a WireGuard device */ }
  }
  return `${links}\n${addrs}\n${dumps}`;
}

/** The wireguard-go processes inside a namespace (by PID). */
export async function wireguardGoPids(ns: TestNetns): Promise<number[]> {
  const pids = (await new Deno.Command("ip", { args: ["netns", "pids", ns.name], stdout: "piped" }).output()).stdout;
  const out: number[] = [];
  for (const p of new TextDecoder().decode(pids).split(/\s+/).filter(Boolean)) {
    const comm = await Deno.readTextFile(`/proc/${p}/comm`).catch(() => "");
    if (comm.trim() === "wireguard-go") out.push(Number(p));
  }
  return out;
}

/** What a scenario gets. */
export interface Ctx {
  ns: string;
  agent: Agent;
  ctrs: TestNetns[];
  stateDir: string;
}

/**
 * A Kubernetes namespace, `n` "container" namespaces and a wg-controller for node "lax1" (wireguard-go); `tag` is
 * the sub-prefix of every namespace and temp dir made (dn42op-<tag>-…).
 */
export async function withAgent(
  n: number,
  fn: (ctx: Ctx) => Promise<void>,
  args: string[] = [],
  tag = "wa",
): Promise<void> {
  await withNamespace(async ({ namespace }) => {
    await withNetns(async (...ctrs) => {
      const stateDir = await Deno.makeTempDir({ prefix: `dn42op-${tag}-` });
      const agent = await startAgent({
        program: "src/cmd/wg-controller.ts",
        netnsTag: tag,
        nodename: "lax1",
        namespace,
        args: [
          "-wg-poll-interval=1",
          "-wg-backend=userspace",
          `-wg-state-dir=${stateDir}`,
          "-default-resync-period=5",
          ...args,
        ],
      });
      try {
        await fn({ ns: namespace, agent, ctrs, stateDir });
        if (Deno.env.get("DN42OP_WA_LOG")) console.error(await Deno.readTextFile(agent.logFile));
      } catch (e) {
        console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
        throw e;
      } finally {
        await agent.dispose();
        await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      }
    }, { count: n, tag });
  }, { prefix: `dn42op-${tag}-` });
}
