/**
 * The mesh's fault drills (a)–(f), each with its bound, run against a mesh whose matrix is green: by
 * `lab:check --scenario mesh --drills` and by tests/e2e/mesh_drills_test.ts. Each waits on observable conditions
 * (the matrix, links, device state, metrics); the only fixed waits are the outages themselves (`outageMs`).
 *
 *   a  one node's underlay cut for the outage, restored: green again ≤ 30 s after the restore; other pairs never fail
 *   b  the NAT router's connection tracking flushed (its mappings change: masquerade uses random ports): the NAT
 *      nodes are reached again ≤ 30 s later through their own keepalives (only pings towards them meanwhile)
 *   c  a node removed from the plan: its links disappear on every node, no other pair breaks, no other link is
 *      recreated; the node added again: full matrix
 *   d  n1's private key rotated in its Secret: every peer holds the new public key, matrix green ≤ 60 s
 *   e  a node's agents stopped for the outage: every pair keeps answering; after the restart the agent has
 *      reconciled every object and no link or wireguard-go daemon was recreated (ifindex and PID unchanged)
 *   f  the API server stopped for the outage: every pair keeps answering; afterwards the agents and the plan
 *      controller have reconnected (a plan change reaches every link, a new NetlinkInterface every node)
 */
import { type ClusterInfo, restartApiserver } from "../../scripts/cluster.ts";
import { decodeUapiGet, UAPI_GET } from "../../src/wireguard/uapi.ts";
import { uapiCall } from "../../src/wireguard/uapi_socket.ts";
import { exec, processCmdline, run } from "../../kit/proc.ts";
import {
  AGENT_PORTS,
  applyMeshPlan,
  applyObjects,
  httpGetInNetns,
  type Mesh,
  rotateKeySecret,
  startAgents,
  stopAgents,
  wireguardLinks,
} from "./instance.ts";
import { checkMesh, formatMatrix, type MatrixCell, type PairFilter, pingMatrix, waitForMesh } from "./matrix.ts";
import type { MeshNode } from "./model.ts";
import { uplinkOf } from "./topology.ts";
import { until } from "../../kit/wait.ts";

/** What the drills act on. */
export interface DrillContext {
  mesh: Mesh;
  /** The mesh's control plane (drill f restarts its apiserver; the new state is written back here). */
  cluster: ClusterInfo;
  /** Length of the outages of drills a, e and f. */
  outageMs: number;
  /** Progress lines. */
  log: (line: string) => void;
}

/** How a drill went. */
export interface DrillResult {
  drill: string;
  bound: string;
  observed: string;
  ok: boolean;
  seconds: number;
}

/** One drill. */
export interface Drill {
  id: string;
  title: string;
  run(ctx: DrillContext): Promise<DrillResult>;
}

const since = (t: number) => (performance.now() - t) / 1000;
const fmt = (s: number) => `${s.toFixed(1)} s`;

/** Waits until the whole matrix is green (at most `timeoutMs`); throws with the matrix otherwise. */
async function green(ctx: DrillContext, what: string, timeoutMs = 60_000): Promise<void> {
  const r = await waitForMesh(ctx.mesh.target, timeoutMs);
  if (!r.ok) throw new Error(`${what}: the matrix is not green:\n${formatMatrix(r)}`);
}

/** Seconds until `filter`'s part of the matrix (and the rest of the check) is green, or null after `timeoutMs`. */
async function secondsToGreen(ctx: DrillContext, timeoutMs: number, filter?: PairFilter): Promise<number | null> {
  const t0 = performance.now();
  const r = await waitForMesh(ctx.mesh.target, timeoutMs, filter);
  return r.ok ? since(t0) : null;
}

/** Pings the `filter` pairs round after round for `ms`; the failed cells of every round that had any. */
function watchPairs(ctx: DrillContext, ms: number, filter?: PairFilter): Promise<Watched> {
  return watchUntil(ctx, filter, () => Promise.resolve(false), ms);
}

/** Rounds of pings and the failed pairs of every round that had any; `done` tells whether the end condition held. */
interface Watched {
  rounds: number;
  bad: string[];
  done: boolean;
}

/** Pings the `filter` pairs round after round until `done` holds (or `timeoutMs`). */
async function watchUntil(
  ctx: DrillContext,
  filter: PairFilter | undefined,
  done: () => Promise<boolean>,
  timeoutMs: number,
): Promise<Watched> {
  const end = performance.now() + timeoutMs;
  const w: Watched = { rounds: 0, bad: [], done: false };
  while (performance.now() < end) {
    const [cells, finished] = await Promise.all([pingMatrix(ctx.mesh.target, filter), done().catch(() => false)]);
    w.rounds++;
    const failed = cells.filter((c: MatrixCell) => !c.ok);
    if (failed.length) w.bad.push(failed.map((c) => `${c.from}→${c.to}`).join(" "));
    if (finished) return { ...w, done: true };
  }
  return w;
}

const node = (ctx: DrillContext, name: string) => ctx.mesh.nodes.find((n) => n.name === name)!;
const involves = (n: MeshNode): PairFilter => (a, b) => a !== n && b !== n;

/** The node drills c and e act on: the last public node, else n2. */
function publicNode(ctx: DrillContext): MeshNode {
  return [...ctx.mesh.nodes].reverse().find((n) => n.role === "public") ?? node(ctx, "n2");
}

/** Socket directory and interface names of `from`'s links to `to`. */
async function linksTo(ctx: DrillContext, from: string, to: string): Promise<string[]> {
  return [...(await wireguardLinks(ctx.mesh, from)).keys()].filter((l) => l.startsWith(`wg-${from}-${to}-`));
}

/** The device state of one interface of a node, read through its UAPI socket. */
async function device(ctx: DrillContext, nodeName: string, ifname: string) {
  const dir = ctx.mesh.target.socketDir(nodeName);
  return decodeUapiGet(ifname, await uapiCall(ifname, UAPI_GET, dir, 5_000));
}

/** wireguard-go daemons inside a node's namespace: interface name → PID. */
async function daemons(ctx: DrillContext, nodeName: string): Promise<Map<string, number>> {
  const r = await exec(["ip", "netns", "pids", ctx.mesh.netns.nodes[nodeName]]);
  const out = new Map<string, number>();
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    const argv = await processCmdline(pid);
    if (argv[0]?.endsWith("wireguard-go")) out.set(argv[argv.length - 1], pid);
  }
  return out;
}

/** Links and daemons of a node, as `ifname ifindex pid` lines (for comparing before and after). */
async function fingerprint(ctx: DrillContext, nodeName: string): Promise<string[]> {
  const [links, pids] = await Promise.all([wireguardLinks(ctx.mesh, nodeName), daemons(ctx, nodeName)]);
  return [...links].map(([name, idx]) => `${name} ifindex ${idx} pid ${pids.get(name) ?? "-"}`).sort();
}

/** A Prometheus counter or gauge of a node's wg-controller, summed over the series whose labels pass `labels`. */
async function agentMetric(ctx: DrillContext, nodeName: string, metric: string, labels = (_: string) => true) {
  const r = await httpGetInNetns(ctx.mesh.netns.nodes[nodeName], AGENT_PORTS.wg, "/metrics");
  let sum: number | null = null;
  for (const line of (r?.body ?? "").split("\n")) {
    if (!line.startsWith(`${metric}{`) || !labels(line.slice(metric.length, line.lastIndexOf(" ")))) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** Seconds until `probe` holds; throws after `timeoutMs`. */
async function secondsUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await until(what, async () => (await probe()) || undefined, timeoutMs, 250);
  return since(t0);
}

const underlayCut = drill("a", "underlay of one node cut and restored", "before the cut", async (ctx) => {
  const victim = node(ctx, "n2");
  const up = uplinkOf(ctx.mesh.netns, victim);
  ctx.log(`a: cutting ${victim.name}'s underlay (${up.link} in ${up.netns}) for ${ctx.outageMs / 1000} s`);
  await run(["ip", "-n", up.netns, "link", "set", "dev", up.link, "down"]);
  let watched;
  try {
    watched = await watchPairs(ctx, ctx.outageMs, involves(victim));
  } finally {
    await run(["ip", "-n", up.netns, "link", "set", "dev", up.link, "up"]);
  }
  const back = await secondsToGreen(ctx, 45_000);
  const ok = watched.bad.length === 0 && back !== null && back <= 30;
  return {
    bound: "green ≤ 30 s after restore; other pairs never fail",
    observed: `${back === null ? "not green 45 s after restore" : `green ${fmt(back)} after restore`}; other ` +
      `pairs: ${watchText(watched)}`,
    ok,
  };
});

const natFlush = drill("b", "NAT router's mappings flushed", "before the flush", async (ctx) => {
  const nat = ctx.mesh.nodes.filter((n) => n.segment === "lan");
  const keepalive = nat.find((n) => !n.hostname)!;
  const watcher = node(ctx, "n1");
  const seen = async () =>
    (await device(ctx, watcher.name, (await linksTo(ctx, watcher.name, keepalive.name))[0]))
      .peers[0]?.endpoint?.toString();
  const before = await seen();
  const flushed = await run(["ip", "netns", "exec", ctx.mesh.netns.nat, "conntrack", "-F"]).then(
    () => "flushed",
    (e) => `conntrack -F failed: ${(e as Error).message}`,
  );
  // only towards the NAT nodes: n4 sends nothing but its keepalives, so those alone must renew its mapping
  const back = await secondsToGreen(ctx, 45_000, (from, to) => nat.includes(to) && from !== keepalive);
  const after = await seen();
  const full = back !== null && (await waitForMesh(ctx.mesh.target, 30_000)).ok;
  return {
    bound: "NAT nodes reachable ≤ 30 s after the flush (through keepalive)",
    observed: `${flushed}; ${back === null ? "not reachable within 45 s" : `reachable after ${fmt(back)}`}; ` +
      `${watcher.name} sees ${keepalive.name} at ${before} before, ${after} after; full matrix ${
        full ? "green" : "NOT green"
      }`,
    ok: back !== null && back <= 30 && full,
  };
});

const removeAddNode = drill(
  "c",
  "a node removed from the plan, then added again",
  "before the removal",
  async (ctx) => {
    const gone = publicNode(ctx);
    const rest = ctx.mesh.nodes.filter((n) => n !== gone);
    const toGone = new RegExp(`^wg-[^-]+-${gone.name}-`);
    const others = async () =>
      (await Promise.all(rest.map((n) => fingerprint(ctx, n.name)))).flat().filter((l) => !toGone.test(l));
    const keep = await others();
    ctx.log(`c: removing ${gone.name} from the plan`);
    await applyMeshPlan(ctx.mesh, rest);
    const removal = performance.now();
    const watched = await watchUntil(ctx, involves(gone), async () => {
      for (const n of ctx.mesh.nodes) {
        const links = [...(await wireguardLinks(ctx.mesh, n.name)).keys()];
        if (n === gone ? links.length : links.some((l) => l.startsWith(`wg-${n.name}-${gone.name}-`))) return false;
      }
      return (await checkMesh({ ...ctx.mesh.target, nodes: rest })).ok;
    }, 90_000);
    const removedS = since(removal);
    const kept = await others();
    const recreated = keep.filter((l) => !kept.includes(l));
    ctx.log(`c: adding ${gone.name} back`);
    await applyMeshPlan(ctx.mesh);
    const back = await secondsToGreen(ctx, 90_000);
    return {
      bound: "removed node's links gone on every node, other pairs never fail nor are recreated; re-added: green",
      observed: `${gone.name}'s links gone after ${watched.done ? fmt(removedS) : "—(not within 90 s)"}; other ` +
        `pairs: ${watchText(watched)}` +
        `; ${recreated.length ? `changed: ${recreated.join(", ")}` : "no other link or daemon changed"}; re-added: ` +
        `${back === null ? "not green within 90 s" : `green after ${fmt(back)}`}`,
      ok: watched.done && !watched.bad.length && !recreated.length && back !== null,
    };
  },
);

const rotateKey = drill("d", "n1's private key rotated (its Secret)", "before the rotation", async (ctx) => {
  const peers = ctx.mesh.nodes.filter((n) => n.name !== "n1");
  const keysSeen = async () =>
    await Promise.all(peers.map(async (p) => {
      const [ifname] = await linksTo(ctx, p.name, "n1");
      return (await device(ctx, p.name, ifname)).peers[0]?.publicKey.toBase64();
    }));
  const old = (await keysSeen())[0];
  await rotateKeySecret(ctx.mesh);
  const rotated = performance.now();
  let updated = 0;
  const keysS = await secondsUntil("every peer holds n1's new public key", async () => {
    const seen = await keysSeen();
    updated = seen.filter((k) => k && k !== old).length;
    return updated === peers.length && new Set(seen).size === 1;
  }, 90_000).catch(() => null);
  const r = await waitForMesh(ctx.mesh.target, Math.max(0, 90_000 - since(rotated) * 1000));
  const greenS = since(rotated);
  return {
    bound: "every peer updated, matrix green ≤ 60 s after the rotation",
    observed: `${updated}/${peers.length} peers hold the new public key${
      keysS === null ? " (not all within 90 s)" : ` after ${fmt(keysS)}`
    }; matrix ${r.ok ? `green after ${fmt(greenS)}` : "NOT green within 90 s"}`,
    ok: keysS !== null && r.ok && greenS <= 60,
  };
});

const agentsStopped = drill(
  "e",
  "a node's agents stopped, then restarted",
  "before stopping the agents",
  async (ctx) => {
    const victim = node(ctx, "n1");
    const before = await fingerprint(ctx, victim.name);
    ctx.log(`e: stopping ${victim.name}'s wg-controller and nl-controller for ${ctx.outageMs / 1000} s`);
    await stopAgents(ctx.mesh, victim.name);
    let watched;
    try {
      watched = await watchPairs(ctx, ctx.outageMs);
    } finally {
      await startAgents(ctx.mesh, victim.name);
    }
    // the restarted wg-controller has reconciled each of its objects once without error (a new process counts
    // from zero; a reconcile ends in success or requeue_after, the device poll)
    const objects = ctx.mesh.nodes.length - 1;
    const syncedS = await secondsUntil(`${victim.name}'s wg-controller reconciled its ${objects} objects`, async () => {
      const n = await agentMetric(
        ctx,
        victim.name,
        "controller_runtime_reconcile_total",
        (l) => !l.includes('"error"'),
      );
      const depth = await agentMetric(ctx, victim.name, "workqueue_depth");
      return (n ?? 0) >= objects && depth === 0;
    }, 120_000).catch(() => null);
    const after = await fingerprint(ctx, victim.name);
    const changed = before.filter((l) => !after.includes(l));
    const r = await waitForMesh(ctx.mesh.target, 30_000);
    return {
      bound: "data plane forwards throughout; after restart no link or daemon recreated (ifindex, pid)",
      observed:
        `all pairs: ${watchText(watched)}; restarted agent reconciled ${
          syncedS === null ? "—(not within 120 s)" : `after ${fmt(syncedS)}`
        }; ` +
        `${
          changed.length
            ? `changed: ${changed.join(", ")} → ${after.join(", ")}`
            : `${before.length} links and daemons unchanged`
        }` +
        `; matrix ${r.ok ? "green" : "NOT green"}`,
      ok: !watched.bad.length && syncedS !== null && !changed.length && before.length === objects && r.ok,
    };
  },
);

/** One bridge per node, managed by the node's nl-controller (drill f's proof that nl-controllers reconnected). */
function probeBridges(ctx: DrillContext): unknown[] {
  return ctx.mesh.nodes.map((n) => ({
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "NetlinkInterface",
    metadata: { name: `mesh-probe-${n.name}`, namespace: ctx.mesh.o.namespace },
    spec: { node: n.name, interfaceName: "mesh-probe", type: "bridge", up: true },
  }));
}

const apiserverStopped = drill(
  "f",
  "API server stopped, then started again",
  "before stopping the API server",
  async (ctx) => {
    ctx.log(`f: stopping the API server for ${ctx.outageMs / 1000} s`);
    let watched: Watched = { rounds: 0, bad: [], done: false };
    ctx.cluster = await restartApiserver(ctx.cluster, async () => {
      watched = await watchPairs(ctx, ctx.outageMs);
    });
    const restarted = performance.now();
    // every agent must act on something new: an MTU change of every link (wg-controllers, via the plan
    // controller) and a bridge on every node (nl-controllers)
    const mtu = 1400;
    await applyMeshPlan(ctx.mesh, ctx.mesh.nodes, mtu);
    await applyObjects(ctx.mesh, probeBridges(ctx));
    const reconnectS = await secondsUntil("every link at the new MTU and every probe bridge present", async () => {
      for (const n of ctx.mesh.nodes) {
        const r = await exec(["ip", "-n", ctx.mesh.netns.nodes[n.name], "-j", "link", "show"]);
        const links = JSON.parse(r.stdout) as { ifname: string; mtu: number }[];
        const wg = links.filter((l) => l.ifname.startsWith("wg-"));
        if (wg.length !== ctx.mesh.nodes.length - 1 || wg.some((l) => l.mtu !== mtu)) return false;
        if (!links.some((l) => l.ifname === "mesh-probe")) return false;
      }
      return (await checkMesh(ctx.mesh.target)).ok;
    }, 120_000).catch(() => null);
    const reconnectAfter = reconnectS === null ? null : since(restarted);
    // leave the mesh as it was
    await applyObjects(ctx.mesh, probeBridges(ctx), true);
    await applyMeshPlan(ctx.mesh);
    const back = await secondsToGreen(ctx, 60_000);
    return {
      bound: "every pair answers throughout; agents and plan controller reconnect after the restart",
      observed: `all pairs: ${watchText(watched)}; a change after the restart reached every link and node ${
        reconnectAfter === null ? "—(not within 120 s)" : `${fmt(reconnectAfter)} after the API was back`
      }; restored: ${back === null ? "NOT green" : "green"}`,
      ok: !watched.bad.length && reconnectAfter !== null && back !== null,
    };
  },
);

/** A drill `id` whose `body` runs once the matrix is green (checked first, as `before` says). */
function drill(
  id: string,
  title: string,
  before: string,
  body: (ctx: DrillContext) => Promise<Omit<DrillResult, "drill" | "seconds">>,
): Drill {
  return {
    id,
    title,
    async run(ctx) {
      const t0 = performance.now();
      await green(ctx, before);
      return { drill: id, ...await body(ctx), seconds: since(t0) };
    },
  };
}

/** What a watch saw: `12 rounds, no failure` or the failed pairs of each bad round. */
function watchText(w: Watched): string {
  return `${w.rounds} rounds, ${w.bad.length ? `failures ${w.bad.join(" | ")}` : "no failure"}`;
}

/** The drills in order. */
export const DRILLS: readonly Drill[] = [
  underlayCut,
  natFlush,
  removeAddNode,
  rotateKey,
  agentsStopped,
  apiserverStopped,
];

/** The results as a table. */
export function formatDrills(results: DrillResult[]): string {
  const rows = [
    ["drill", "bound", "observed", "ok"],
    ...results.map((r) => [r.drill, r.bound, r.observed, r.ok ? "✓" : "✗"]),
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => [r[0].padEnd(widths[0]), r[1].padEnd(widths[1]), r[3], r[2]].join("  ")).join("\n");
}
