/**
 * bench:mesh — from `kubectl apply` of the mesh plan (lab/mesh/model.ts: N nodes, full mesh, NAT, DNS and IPv6
 * underlays) to a green all-pairs matrix (every pair pings, keepalive links have a session, the plan Ready at its
 * generation), with every node's wg-controller and nl-controller already running in its namespace (as DaemonSets
 * would). Each round ends with `kubectl delete` of the plan and a wait until every node's links are gone.
 *
 * Peer, in the same run on the same network: the same mesh (the plan's expansion with fresh keys) brought up by a
 * shell script per node with wireguard-go, wg and ip (lab/mesh/peer.ts), from the first command to a green matrix
 * (without the plan check), then torn down. Its rounds run before the agents start.
 *
 * Where the time goes: per round the seconds until `kubectl apply` returned, until the last child object was created
 * (the plan controller's API writes; creationTimestamp, whole seconds), until the matrix is green; and the CPU
 * seconds each kind of process spent in the round (agents, plan controller, kube-apiserver, etcd, wireguard-go
 * daemons, API pipes).
 *
 *   deno task bench:mesh [--sizes 4,8,12] [--rounds 5,3,1] [--prefix dn42op-mesh-b] [-v 2]
 *
 * The controllers' logs are kept in .out/bench-mesh-logs/n<N>/.
 *
 * Own control plane and namespaces `<prefix><id>-…` (leftovers of `<prefix>` are swept at the start, so two runs at
 * once need two prefixes); `-v` is the controllers' verbosity (4 logs the convergence trace, src/log/trace.ts). Last line: {"mesh_<N>_p50_s", "peer_<N>_p50_s",
 * "ratio_<N>" (ours / peer) for each N, "mesh_8_goal_s": 15, "per_n": {N: rounds, phases and CPU}, "load_avg_1m"}.
 * At -v 4 each round also lists, per trace phase, how many objects reached it and when the median and the last did.
 */
import { parseArgs } from "node:util";
import { clusterDown, clusterUp } from "../../scripts/cluster.ts";
import { ensureProfiles } from "../../scripts/setup.ts";
import { exec, processCmdline } from "../../kit/proc.ts";
import {
  agentsReady,
  applyObjects,
  deleteMeshPlan,
  describeMesh,
  ensureKeySecret,
  type Mesh,
  meshDown,
  programPid,
  startMeshAgents,
  stopMeshAgents,
  sweepMeshes,
  wireguardLinks,
} from "../../lab/mesh/instance.ts";
import { formatMatrix, waitForMesh } from "../../lab/mesh/matrix.ts";
import { meshPlan } from "../../lab/mesh/model.ts";
import { meshInterfaces, meshKeys, peerMeshDown, peerMeshUp, type PeerNode } from "../../lab/mesh/peer.ts";
import { meshNetworkUp } from "../../lab/mesh/topology.ts";
import { kubectl } from "../../lab/scenario.ts";
import { cpuMs } from "../scale/fanout.ts";
import { raiseInotifyInstances } from "../scale/inotify.ts";
import { keepLogs } from "../logs.ts";
import { parseTrace, phaseSpread } from "../converge/trace.ts";
import { percentile } from "../stats.ts";
import { until } from "../../kit/wait.ts";

const DEFAULT_PREFIX = "dn42op-mesh-b";
const GREEN_TIMEOUT_MS = 300_000;

const load = async () => Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
const since = (t: number) => Number(((performance.now() - t) / 1000).toFixed(2));
const p50 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

/** CPU seconds (user + system) a process has used, 0 when it is gone. */
const cpuSeconds = (pid: number | null) => Promise.resolve(pid ? cpuMs(pid) / 1000 : 0);

/** CPU seconds so far of each kind of process of the instance. */
async function cpuByKind(mesh: Mesh, cluster: { etcd: number; apiserver: number }): Promise<Record<string, number>> {
  const sum = async (pids: (number | null)[]) => (await Promise.all(pids.map(cpuSeconds))).reduce((a, b) => a + b, 0);
  const prog = (names: string[]) => Promise.all(names.map((n) => programPid(mesh, n)));
  const daemons: number[] = [];
  for (const ns of Object.values(mesh.netns.nodes)) {
    for (const pid of (await exec(["ip", "netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean).map(Number)) {
      if ((await processCmdline(pid))[0]?.endsWith("wireguard-go")) daemons.push(pid);
    }
  }
  const nodes = mesh.nodes.map((n) => n.name);
  return {
    wg_controllers: await sum(await prog(nodes.map((n) => `wg-controller-${n}`))),
    nl_controllers: await sum(await prog(nodes.map((n) => `nl-controller-${n}`))),
    wgplan_controller: await sum(await prog(["wgplan-controller"])),
    api_pipes: await sum(await prog(["api-pipe-root", ...nodes.map((n) => `api-pipe-${n}`)])),
    kube_apiserver: await cpuSeconds(cluster.apiserver),
    etcd: await cpuSeconds(cluster.etcd),
    wireguard_go: await sum(daemons),
  };
}

const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(b).map((k) => [k, Number((b[k] - (a[k] ?? 0)).toFixed(2))]));

/**
 * Seconds from `startMs` (wall clock) to the creation of the last child object, from their creationTimestamps
 * (whole seconds; read once after the round instead of polling kubectl, which costs seconds of CPU on a busy host).
 */
async function lastChildCreated(mesh: Mesh, startMs: number): Promise<number> {
  const r = await kubectl(mesh.o.kubeconfig, ["get", "-n", mesh.o.namespace, "wireguardinterfaces", "-o", "json"]);
  const items = JSON.parse(r.stdout).items as { metadata: { creationTimestamp: string } }[];
  const last = Math.max(...items.map((i) => Date.parse(i.metadata.creationTimestamp)));
  return Number(((last - Math.floor(startMs / 1000) * 1000) / 1000).toFixed(0));
}

/**
 * With the controllers at -v 4, per trace phase (src/log/trace.ts) how many objects reached it since `startMs` (wall
 * clock), the median and the last one's offset in seconds; empty at lower verbosity.
 */
async function traceSpread(mesh: Mesh, startMs: number) {
  const events = [];
  for await (const e of Deno.readDir(`${mesh.o.stateDir}/logs`)) {
    if (e.isFile) events.push(...parseTrace(await Deno.readTextFile(`${mesh.o.stateDir}/logs/${e.name}`)));
  }
  const s = (ms: number) => Number((ms / 1000).toFixed(2));
  return phaseSpread(events, startMs).map(({ phase, objects, p50_ms, max_ms }) => ({
    phase,
    objects,
    p50_s: s(p50_ms),
    max_s: s(max_ms),
  }));
}

async function noLinksLeft(mesh: Mesh): Promise<boolean> {
  for (const n of mesh.nodes) if ((await wireguardLinks(mesh, n.name)).size) return false;
  return true;
}

/** One round of ours: apply, phases, green, CPU; then delete and wait clean. */
async function oursOnce(mesh: Mesh, cluster: { etcd: number; apiserver: number }) {
  await ensureKeySecret(mesh);
  const cpu0 = await cpuByKind(mesh, cluster);
  const t0 = performance.now();
  const wall0 = Date.now();
  await applyObjects(mesh, [meshPlan(mesh.nodes, mesh.names)]);
  const applied = since(t0);
  const r = await waitForMesh(mesh.target, GREEN_TIMEOUT_MS);
  const green = since(t0);
  if (!r.ok) throw new Error(`no green matrix within ${GREEN_TIMEOUT_MS / 1000} s:\n${formatMatrix(r)}`);
  const cpu = diff(cpu0, await cpuByKind(mesh, cluster));
  const phases = { kubectl_apply_s: applied, children_s: await lastChildCreated(mesh, wall0), green_s: green };
  const trace = mesh.o.verbosity !== undefined && mesh.o.verbosity >= 4 ? await traceSpread(mesh, wall0) : [];
  await deleteMeshPlan(mesh);
  await until(
    "every link gone after the plan's delete",
    async () => (await noLinksLeft(mesh)) || undefined,
    120_000,
    100,
  );
  return { seconds: green, phases, cpu, trace };
}

/** One round of the peer: script up, green, down. */
async function peerOnce(mesh: Mesh, peers: PeerNode[]) {
  const keys = await meshKeys(mesh.nodes);
  const ifaces = meshInterfaces(mesh.nodes, keys);
  const t0 = performance.now();
  await peerMeshUp(peers, keys, ifaces);
  const scripts = since(t0);
  const r = await waitForMesh({ ...mesh.target, plan: undefined }, GREEN_TIMEOUT_MS);
  const green = since(t0);
  if (!r.ok) throw new Error(`peer: no green matrix within ${GREEN_TIMEOUT_MS / 1000} s:\n${formatMatrix(r)}`);
  await peerMeshDown(peers);
  return { seconds: green, scripts_s: scripts };
}

/** Where and how one size runs. */
interface SizeRun {
  cluster: Awaited<ReturnType<typeof clusterUp>>;
  /** `<prefix><id>`: the run's namespaces and state directory. */
  name: string;
  verbosity: number;
}

async function benchSize(n: number, rounds: number, { cluster, name, verbosity }: SizeRun) {
  const mesh = describeMesh({
    prefix: `${name}-`,
    stateDir: `/run/dn42op/${name}`,
    verbosity,
    nodes: n,
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    namespace: "default",
  });
  const peers: PeerNode[] = mesh.nodes.map((x) => ({
    node: x.name,
    netns: mesh.netns.nodes[x.name],
    socketDir: mesh.target.socketDir(x.name),
    workDir: `${mesh.o.stateDir}/peer-${x.name}`,
  }));
  const pids = { etcd: cluster.pids.etcd, apiserver: cluster.pids.apiserver };
  try {
    await meshNetworkUp(mesh.netns, mesh.nodes);
    const peer = [];
    for (let i = 0; i < rounds; i++) {
      peer.push(await peerOnce(mesh, peers));
      console.log(`N=${n} peer round ${i + 1}: green ${peer.at(-1)!.seconds} s (scripts ${peer.at(-1)!.scripts_s} s)`);
    }
    const t = performance.now();
    await startMeshAgents(mesh);
    await until("every agent ready", async () => (await agentsReady(mesh)) || undefined, 120_000, 250);
    console.log(`N=${n}: ${2 * n} agents started and ready in ${since(t)} s`);
    const ours = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(await oursOnce(mesh, pids));
      const o = ours.at(-1)!;
      console.log(
        `N=${n} round ${i + 1}: green ${o.seconds} s (children ${o.phases.children_s} s) cpu ${JSON.stringify(o.cpu)}`,
      );
      for (const t of o.trace) console.log(`  ${t.phase}: ${t.objects} objects, p50 ${t.p50_s} s, last ${t.max_s} s`);
    }
    await stopMeshAgents(mesh);
    const ourP50 = p50(ours.map((o) => o.seconds));
    const peerP50 = p50(peer.map((o) => o.seconds));
    return {
      ours: ours.map((o) => o.seconds),
      peer: peer.map((o) => o.seconds),
      p50_s: ourP50,
      peer_p50_s: peerP50,
      ratio: Number((ourP50 / peerP50).toFixed(2)),
      tunnels: n * (n - 1),
      phases: ours.map((o) => o.phases),
      trace: ours.map((o) => o.trace),
      cpu_s: ours.map((o) => o.cpu),
      peer_scripts_s: peer.map((o) => o.scripts_s),
    };
  } finally {
    await keepLogs(`${mesh.o.stateDir}/logs`, `bench-mesh-logs/n${n}`).catch(() => {});
    await meshDown(mesh);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string", default: "4,8,12" },
      rounds: { type: "string", default: "5,3,1" },
      prefix: { type: "string", default: DEFAULT_PREFIX },
      v: { type: "string", short: "v", default: "2" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const rounds = values.rounds.split(",").map(Number);
  await ensureProfiles(["base", "mesh"]);
  const swept = await sweepMeshes(values.prefix);
  if (swept.length) console.log(`swept stale bench leftovers: ${swept.join(", ")}`);
  const name = `${values.prefix}${crypto.randomUUID().slice(0, 6)}`;
  const clusterDir = `/tmp/${name}-cluster`;
  const loadStart = await load();
  const summary: Record<string, unknown> = {};
  const perN: Record<string, unknown> = {};
  // one wireguard-go per tunnel, each holding an inotify instance (N=12: 132 against a default limit of 128)
  const room = await raiseInotifyInstances(Math.max(...sizes.map((n) => n * (n - 1))), "bench:mesh");
  try {
    const cluster = await clusterUp({ dir: clusterDir, ownerPid: Deno.pid });
    for (const [i, n] of sizes.entries()) {
      const r = await benchSize(n, rounds[i] ?? rounds.at(-1)!, { cluster, name, verbosity: Number(values.v) });
      perN[n] = r;
      summary[`mesh_${n}_p50_s`] = r.p50_s;
      summary[`peer_${n}_p50_s`] = r.peer_p50_s;
      summary[`ratio_${n}`] = r.ratio;
      console.log(`N=${n} (${r.tunnels} tunnels): ours p50 ${r.p50_s} s, peer p50 ${r.peer_p50_s} s, ratio ${r.ratio}`);
    }
  } finally {
    await clusterDown({ dir: clusterDir });
    room.restore();
  }
  console.log(JSON.stringify({
    ...summary,
    mesh_8_goal_s: 15,
    per_n: perN,
    load_avg_1m: { start: loadStart, end: await load() },
  }));
}
