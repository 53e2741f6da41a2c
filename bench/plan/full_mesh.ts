/**
 * bench:plan — a 50-node full-mesh WireGuardNetworkPlan (2450 children) against a real kube-apiserver, from the
 * plan's creation to the moment all 2450 WireGuardInterfaces exist (seen through a watch).
 *
 * Ours: the wgplan-controller as a separate process started by `programCommand` (scripts/programs.ts: bin/ when built,
 * else `deno run` with the program's table permissions), already running and ready, so the figure covers key
 * generation, expansion, writes and nothing else.
 * Peers, in the same run and on the same API server:
 * - `kubectl apply -f` of the same 2450 objects rendered as YAML (what a user without the controller would do);
 * - a raw floor: the same 2450 POSTs sent by this process with the controller's client and concurrency, without any
 *   controller logic (how close we are to what the API server and transport allow).
 * The reference Go controller cannot be built (it needs a private module), so it is not a peer.
 * Reported with the figures: the 1-minute load average at the start and end, whether the cluster's etcd runs with
 * --unsafe-no-fsync (the same etcd serves ours and the peers), and the CPU seconds the API server, etcd and our
 * controller spent in each phase (meaningful also on a loaded machine, unlike wall time).
 * Last line: one JSON object.
 */
import { stringify } from "yaml";
import { programCommand } from "../../scripts/programs.ts";
import { cluster } from "../../kit/cluster.ts";
import { kubectl } from "../../kit/cluster.ts";
import { type InterfaceObject, INTERFACES, PLANS } from "../../src/controllers/wgplan/resources.ts";
import { isNotFound, KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/kube/informer.ts";
import { type ChildObject, childObject, childSelector } from "../../src/plan/child.ts";
import { expandPlan, type NodeKey } from "../../src/plan/expand.ts";
import { fakePub, fullMesh } from "../../kit/plan_fixtures.ts";
import { until } from "../../kit/wait.ts";

const NODES = 50;
const CHILDREN = NODES * (NODES - 1);
const CONCURRENCY = 32;

const c = await cluster();
const client = new KubeClient(c.kc);
const NAMESPACES = { group: "", version: "v1", plural: "namespaces", namespaced: false };

async function namespace(purpose: string): Promise<string> {
  const name = `dn42op-pl-bench-${purpose}-${crypto.randomUUID().slice(0, 6)}`;
  await client.create(NAMESPACES, "", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  return name;
}

/** Resolves with the elapsed seconds when `count` objects matching the selector exist in `ns`. */
async function countTo(ns: string, selector: string, count: number, start: () => Promise<unknown>): Promise<number> {
  const inf = new Informer<InterfaceObject>(client, { resource: INTERFACES, namespace: ns, labelSelector: selector });
  let done!: (t: number) => void;
  const reached = new Promise<number>((r) => (done = r));
  let t0 = 0;
  inf.on({ add: () => inf.store.size >= count && t0 && done(performance.now()) });
  inf.start();
  await inf.waitForSync();
  t0 = performance.now();
  await start();
  const t1 = inf.store.size >= count ? performance.now() : await reached;
  await inf.stop();
  return (t1 - t0) / 1000;
}

function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/** CPU seconds (user + system) of `pid` so far, or NaN when unreadable. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds the API server and etcd spent while `fn` ran, and its result. */
async function serverCpu<T>(fn: () => Promise<T>): Promise<{ result: T; apiserver: number; etcd: number }> {
  const [a, e] = [cpuSeconds(c.info?.pids.apiserver), cpuSeconds(c.info?.pids.etcd)];
  const result = await fn();
  const round = (x: number) => Number(x.toFixed(1));
  return {
    result,
    apiserver: round(cpuSeconds(c.info?.pids.apiserver) - a),
    etcd: round(cpuSeconds(c.info?.pids.etcd) - e),
  };
}

function etcdUnsafeNoFsync(): boolean | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${c.info?.pids.etcd}/cmdline`).split("\0").includes("--unsafe-no-fsync");
  } catch {
    return undefined;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function peakRssMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** The 2450 objects the controller writes, as plain objects without owner references or finalizers. */
function peerObjects(ns: string, selectorValue: string): ChildObject[] {
  const spec = fullMesh(NODES);
  const keys = new Map<string, NodeKey>(
    spec.nodes!.map((n) => [n.nodeName, {
      publicKey: fakePub(n.nodeName),
      secretRef: { name: "keys", key: n.nodeName, namespace: ns },
    }]),
  );
  const plan = { name: selectorValue, namespace: ns, uid: "none", generation: 1 };
  return expandPlan(spec, keys).interfaces.map((d) => {
    const o = childObject(plan, d);
    return { ...o, metadata: { ...o.metadata, ownerReferences: [], finalizers: [] } };
  });
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const loadStart = loadAverage();
// --- pure expansion alone
const expandStart = performance.now();
peerObjects("x", "x");
const expandMs = Math.round(performance.now() - expandStart);
console.log(`pure expansion of ${CHILDREN} children: ${expandMs} ms`);

// --- ours: the controller process
const oursNs = await namespace("ours");
const port = freePort();
const ctlCmd = programCommand("wgplan-controller", [
  `-kubeconfig=${c.kubeconfigPath}`,
  `-namespace=${oursNs}`,
  "-leader-elect=false",
  `-metrics-bind-address=127.0.0.1:${port}`,
  `-write-concurrency=${CONCURRENCY}`,
]);
const ctl = new Deno.Command(ctlCmd[0], {
  args: ctlCmd.slice(1),
  stdout: "null",
  stderr: "piped",
}).spawn();
const ctlLog = ctl.stderr.pipeTo(
  await Deno.open(`/tmp/dn42op-pl-bench-controller-${Deno.pid}.log`, {
    write: true,
    create: true,
    truncate: true,
  }).then((f) => f.writable),
);
let oursS: number;
let rss: number | undefined;
let oursCpu: { apiserver: number; etcd: number; controller: number };
try {
  await until("controller ready", async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 60_000);
  const ctlCpu0 = cpuSeconds(ctl.pid);
  const run = await serverCpu(() =>
    countTo(oursNs, childSelector("mesh"), CHILDREN, () =>
      client.create(PLANS, oursNs, {
        apiVersion: "networking.dn42.io/v1alpha1",
        kind: "WireGuardNetworkPlan",
        metadata: { name: "mesh", namespace: oursNs },
        spec: fullMesh(NODES),
      }))
  );
  oursS = run.result;
  oursCpu = {
    apiserver: run.apiserver,
    etcd: run.etcd,
    controller: Number((cpuSeconds(ctl.pid) - ctlCpu0).toFixed(1)),
  };
  rss = peakRssMiB(ctl.pid);
  console.log(`wgplan-controller: plan created → ${CHILDREN} children written in ${oursS.toFixed(2)} s`);
} finally {
  ctl.kill("SIGTERM");
  await ctl.status;
  await ctlLog.catch(() => {});
}

// --- peer 1: kubectl apply of the same objects as YAML
const kubectlNs = await namespace("kubectl");
const yamlPath = await Deno.makeTempFile({ prefix: "dn42op-pl-bench-", suffix: ".yaml" });
let kubectlS: number;
let kubectlCpu: { apiserver: number; etcd: number };
try {
  await Deno.writeTextFile(yamlPath, peerObjects(kubectlNs, "kubectl").map((o) => stringify(o)).join("---\n"));
  const run = await serverCpu(() =>
    countTo(kubectlNs, childSelector("kubectl"), CHILDREN, () => kubectl(["apply", "-f", yamlPath]))
  );
  kubectlS = run.result;
  kubectlCpu = { apiserver: run.apiserver, etcd: run.etcd };
  console.log(`kubectl apply -f (${CHILDREN} objects as YAML): ${kubectlS.toFixed(2)} s`);
} finally {
  await Deno.remove(yamlPath);
}

// --- peer 2: raw concurrent creates (the floor)
const rawNs = await namespace("raw");
const raw = await serverCpu(() =>
  countTo(
    rawNs,
    childSelector("raw"),
    CHILDREN,
    () => eachLimited(peerObjects(rawNs, "raw"), CONCURRENCY, (o) => client.create(INTERFACES, rawNs, o)),
  )
);
const rawS = raw.result;
console.log(`raw creates, ${CONCURRENCY} in flight: ${rawS.toFixed(2)} s`);

// Clean up: the controller's children carry the node agent's finalizer; release them, then drop the namespaces.
const left = await client.list<InterfaceObject>(INTERFACES, { namespace: oursNs });
await eachLimited(
  left.items,
  CONCURRENCY,
  (o) =>
    client.patch(INTERFACES, oursNs, o.metadata.name!, "merge", { metadata: { finalizers: null } }).catch(() => {}),
);
const plan = await client.get<InterfaceObject>(PLANS, oursNs, "mesh").catch(() => undefined);
if (plan) {
  await client.patch(PLANS, oursNs, "mesh", "merge", { metadata: { finalizers: null } }).catch(() => {});
}
for (const ns of [oursNs, kubectlNs, rawNs]) await client.delete(NAMESPACES, "", ns).catch(() => {});
// Wait until the namespaces are gone, so the deletion of 7350 objects does not load the next run's API server.
await until("bench namespaces deleted", async () => {
  const left = await Promise.all(
    [oursNs, kubectlNs, rawNs].map((ns) => client.get(NAMESPACES, "", ns).then(() => true, (e) => !isNotFound(e))),
  );
  return !left.includes(true);
}, 600_000).catch((e) => console.error(`cleanup: ${e instanceof Error ? e.message : e}`));
client.close();

const result = {
  full_mesh_50_s: Number(oursS.toFixed(2)),
  children: CHILDREN,
  goal_s: 30,
  kubectl_apply_s: Number(kubectlS.toFixed(2)),
  ratio_vs_kubectl_apply: Number((oursS / kubectlS).toFixed(3)),
  raw_create_s: Number(rawS.toFixed(2)),
  ratio_vs_raw_create: Number((oursS / rawS).toFixed(3)),
  write_concurrency: CONCURRENCY,
  pure_expansion_ms: expandMs,
  controller_peak_rss_mib: rss,
  cpu_s: { ours: oursCpu, kubectl_apply: kubectlCpu, raw_create: { apiserver: raw.apiserver, etcd: raw.etcd } },
  etcd_unsafe_no_fsync: etcdUnsafeNoFsync(),
  load_avg_1m: { start: loadStart, end: loadAverage() },
};
console.log(JSON.stringify(result));
Deno.exit(0);
