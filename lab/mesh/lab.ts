/**
 * `lab:up|check|down --scenario mesh`: the mesh lab, with its own control plane (cluster directory
 * `<default>-mesh`), namespaces `dn42op-mesh-lab-…` and state in /run/dn42op/mesh-lab, so it runs beside the
 * reference lab. `check` prints the matrix as a table and as one JSON line; `--drills` then runs the fault drills.
 */
import { clusterDown, clusterUp, defaultClusterDir, readClusterState } from "../../scripts/cluster.ts";
import { ensureProfiles } from "../../scripts/setup.ts";
import { raiseInotifyInstances } from "../../bench/scale/inotify.ts";
import { type DrillResult, DRILLS, formatDrills } from "./drills.ts";
import {
  applyMeshPlan,
  describeMesh,
  type Mesh,
  MESH_LAB,
  meshDown,
  meshRunning,
  meshUp,
  sweepMeshes,
} from "./instance.ts";
import { formatMatrix, waitForMesh } from "./matrix.ts";

/** Default number of nodes. */
export const DEFAULT_MESH_NODES = 6;

const stateFile = `${MESH_LAB.stateDir}/mesh.json`;
const INOTIFY = "/proc/sys/fs/inotify/max_user_instances";

/** What the lab records while it is up: its size and the inotify limit it raised (restored by lab:down). */
interface LabState {
  nodes: number;
  inotify?: { before: number; raised: number };
}

async function readState(): Promise<LabState | undefined> {
  return await Deno.readTextFile(stateFile).then((t) => JSON.parse(t) as LabState, () => undefined);
}

/** The mesh lab's control plane directory. */
export async function meshClusterDir(): Promise<string> {
  return `${await defaultClusterDir()}-mesh`;
}

/** Whether the mesh lab is up (its state file exists). */
export async function meshLabPresent(): Promise<boolean> {
  return await Deno.stat(stateFile).then(() => true, () => false);
}

async function labMesh(nodes?: number): Promise<Mesh> {
  const cluster = await readClusterState(await meshClusterDir());
  const recorded = (await readState())?.nodes;
  return describeMesh({
    ...MESH_LAB,
    nodes: nodes ?? recorded ?? DEFAULT_MESH_NODES,
    kubeconfig: cluster?.kubeconfig ?? "",
    server: cluster?.server ?? "",
    namespace: "default",
  });
}

/** Brings the mesh lab up with `nodes` nodes, applies the plan and checks; returns the exit code. */
export async function meshLabUp(nodes: number, waitSeconds: number): Promise<number> {
  const t0 = performance.now();
  const phases: string[] = [];
  let mark = t0;
  const phase = (name: string) => {
    phases.push(`${name} ${((performance.now() - mark) / 1000).toFixed(1)} s`);
    mark = performance.now();
  };
  const present = await labMesh();
  if (await meshRunning(present) && present.nodes.length !== nodes) {
    throw new Error(`the mesh lab is up with ${present.nodes.length} nodes; run lab:down --scenario mesh first`);
  }
  await ensureProfiles(["base", "mesh"]);
  phase("setup");
  await clusterUp({ dir: await meshClusterDir() });
  phase("control plane");
  const mesh = await labMesh(nodes);
  if (!await meshRunning(mesh)) {
    await meshDown(mesh); // a half-made instance
    // one wireguard-go per tunnel, each holding an inotify instance: N=12 needs 132, the default limit is 128
    const room = await raiseInotifyInstances(nodes * (nodes - 1), "mesh lab");
    await meshUp(mesh);
    const state: LabState = { nodes };
    if (room.raised) state.inotify = { before: room.before, raised: Number((await Deno.readTextFile(INOTIFY)).trim()) };
    await Deno.writeTextFile(stateFile, JSON.stringify(state) + "\n");
  }
  phase("network + agents");
  await applyMeshPlan(mesh);
  phase("apply plan");
  console.log(
    `mesh lab: ${nodes} nodes in namespaces ${MESH_LAB.prefix}n1…n${nodes} (internet ${mesh.netns.inet}, ` +
      `NAT router ${mesh.netns.nat}); logs in ${MESH_LAB.stateDir}/logs`,
  );
  console.log(`KUBECONFIG=${mesh.o.kubeconfig}`);
  const code = await meshLabCheck({ waitSeconds }, mesh);
  phase("convergence + matrix");
  console.log(`mesh lab: up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${phases.join(", ")})`);
  return code;
}

/** Options of {@link meshLabCheck}. */
export interface MeshCheckOptions {
  waitSeconds: number;
  /** Run these fault drills (letters a–f) after a green matrix. */
  drills?: string;
  /** Outage of drills a, e, f in seconds (default 60). */
  outageSeconds?: number;
}

/** The matrix (waiting up to `waitSeconds` for green), then optionally the drills; returns the exit code. */
export async function meshLabCheck(o: MeshCheckOptions, given?: Mesh): Promise<number> {
  const mesh = given ?? await labMesh();
  if (!await meshRunning(mesh)) throw new Error("the mesh lab is not up (deno task lab:up --scenario mesh)");
  const t0 = performance.now();
  const r = await waitForMesh(mesh.target, o.waitSeconds * 1000);
  console.log(formatMatrix(r));
  console.log(JSON.stringify({ matrix: r, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) }));
  if (!r.ok || !o.drills) return r.ok ? 0 : 1;
  const cluster = await readClusterState(await meshClusterDir());
  if (!cluster) throw new Error("the mesh lab's control plane is not running");
  const ctx = { mesh, cluster, outageMs: (o.outageSeconds ?? 60) * 1000, log: (l: string) => console.log(l) };
  const results: DrillResult[] = [];
  for (const d of DRILLS.filter((d) => o.drills!.includes(d.id))) {
    console.log(`drill ${d.id}: ${d.title}`);
    const t = performance.now();
    results.push(
      await d.run(ctx).catch((e) => ({
        drill: d.id,
        bound: "",
        observed: (e as Error).message,
        ok: false,
        seconds: (performance.now() - t) / 1000,
      })),
    );
    console.log(formatDrills(results.slice(-1)).split("\n")[1]);
  }
  console.log(formatDrills(results));
  console.log(JSON.stringify({ drills: results }));
  return results.every((d) => d.ok) ? 0 : 1;
}

/** Stops and removes the mesh lab and its control plane (idempotent); restores an inotify limit it raised. */
export async function meshLabDown(): Promise<number> {
  const state = await readState();
  await meshDown(await labMesh());
  if (state?.inotify && Number((await Deno.readTextFile(INOTIFY)).trim()) === state.inotify.raised) {
    await Deno.writeTextFile(INOTIFY, `${state.inotify.before}\n`);
    console.log(`mesh lab: fs.inotify.max_user_instances restored to ${state.inotify.before}`);
  }
  await sweepMeshes(MESH_LAB.prefix);
  await clusterDown({ dir: await meshClusterDir() });
  console.log("mesh lab: down");
  return 0;
}
