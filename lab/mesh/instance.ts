/**
 * One mesh instance end to end, every name derived from a prefix so the lab (`dn42op-mesh-lab-`, state in
 * /run/dn42op/mesh-lab), the drills' test and the benchmark run side by side, and beside the reference lab:
 * network (lab/mesh/topology.ts) → per node an API pipe, wg-controller and nl-controller inside the node's namespace
 * (lab/controllers.ts, as the DaemonSets would run them) → one wgplan-controller → the plan (lab/mesh/model.ts).
 */
import { generatePrivateKey } from "../../src/wireguard/key.ts";
import {
  labProgramPid,
  startApiPipe,
  startNodeAgents,
  startPlanController,
  stopLabControllers,
  supervisorDirs,
  wireguardSocketDir,
} from "../controllers.ts";
import { exec } from "../../kit/proc.ts";
import { stopSupervised, supervisorPid } from "../supervisor.ts";
import { kubectl } from "../scenario.ts";
import type { MatrixTarget } from "./matrix.ts";
import { keySecret, type MeshNode, meshNodes, meshPlan, type MeshPlanNames } from "./model.ts";
import { type MeshNetns, meshNetns, meshNetworkDown, meshNetworkUp, netnsWithPrefix, removeNetns } from "./topology.ts";

/** What a mesh instance is called and where it talks to. */
export interface MeshOptions {
  /** Prefix of every namespace (`<prefix>inet`, `<prefix>nat`, `<prefix>n1`…). */
  prefix: string;
  /** PID files, logs, wireguard-go state and sockets. */
  stateDir: string;
  /** Number of nodes. */
  nodes: number;
  kubeconfig: string;
  server: string;
  /** Kubernetes namespace of the plan (the agents' -namespace). */
  namespace: string;
  /** -v of the controllers (default 2: a mesh of 12 nodes at -v=4 logs more than it works). */
  verbosity?: number;
}

/** The lab's fixed names (one mesh lab per machine; the reference lab's names are dn42op-lab-…). */
export const MESH_LAB = { prefix: "dn42op-mesh-lab-", stateDir: "/run/dn42op/mesh-lab" } as const;

/**
 * Metrics/readiness ports of a node's wg-controller and nl-controller: each node has its own network namespace,
 * hence its own 127.0.0.1, so every node uses the same two.
 */
export const AGENT_PORTS = { wg: 8080, nl: 8081 } as const;

/** The plan's names in every instance. */
export const PLAN_NAMES: Omit<MeshPlanNames, "namespace"> = { plan: "mesh", keySecret: "mesh-n1-key" };

/** A described mesh instance (nothing started). */
export interface Mesh {
  o: MeshOptions;
  nodes: MeshNode[];
  netns: MeshNetns;
  names: MeshPlanNames;
  /** What the matrix check needs. */
  target: MatrixTarget;
}

/** The instance for `o` (pure: names and addresses only). */
export function describeMesh(o: MeshOptions): Mesh {
  const nodes = meshNodes(o.nodes);
  const netns = meshNetns(o.prefix, nodes);
  const names = { ...PLAN_NAMES, namespace: o.namespace };
  return {
    o,
    nodes,
    netns,
    names,
    target: {
      nodes,
      netns: netns.nodes,
      socketDir: (node) => wireguardSocketDir(o.stateDir, node),
      plan: { kubeconfig: o.kubeconfig, namespace: o.namespace, name: names.plan },
    },
  };
}

/** Starts a node's wg-controller and nl-controller (idempotent). */
export function startAgents(mesh: Mesh, node: string): Promise<Record<string, number>> {
  const { o } = mesh;
  return startNodeAgents(
    { stateDir: o.stateDir, kubeconfig: o.kubeconfig, namespace: o.namespace, verbosity: o.verbosity ?? 2 },
    node,
    mesh.netns.nodes[node],
    { wg: `127.0.0.1:${AGENT_PORTS.wg}`, nl: `127.0.0.1:${AGENT_PORTS.nl}` },
  );
}

/** GET of `path` from 127.0.0.1:`port` inside `netns` (plain HTTP/1.0 through bash): status and body, or null. */
export async function httpGetInNetns(
  netns: string,
  port: number,
  path: string,
): Promise<{ status: number; body: string } | null> {
  const get = `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
  const r = await exec(["ip", "netns", "exec", netns, "bash", "-c", get]);
  const m = /^HTTP\/1\.\d (\d{3})/.exec(r.stdout);
  if (r.code !== 0 || !m) return null;
  return { status: Number(m[1]), body: r.stdout.slice(r.stdout.indexOf("\r\n\r\n") + 4) };
}

/** Whether every node's wg-controller and nl-controller answer /readyz with 200. */
export async function agentsReady(mesh: Mesh): Promise<boolean> {
  const all = await Promise.all(
    mesh.nodes.flatMap((n) =>
      [AGENT_PORTS.wg, AGENT_PORTS.nl].map((port) => httpGetInNetns(mesh.netns.nodes[n.name], port, "/readyz"))
    ),
  );
  return all.every((r) => r?.status === 200);
}

/** Stops a node's agents by PID (their wireguard-go daemons keep running, as in a DaemonSet rollout). */
export async function stopAgents(mesh: Mesh, node: string): Promise<void> {
  const dirs = supervisorDirs(mesh.o.stateDir);
  await stopSupervised(dirs, `wg-controller-${node}`);
  await stopSupervised(dirs, `nl-controller-${node}`);
}

/** PID of a running program of the instance (`wg-controller-n1`, `wgplan-controller`…), or null. */
export function programPid(mesh: Mesh, name: string): Promise<number | null> {
  return labProgramPid(mesh.o.stateDir, name);
}

/** Starts every node's API pipe and agents and the plan controller (idempotent; the network must be up). */
export async function startMeshAgents(mesh: Mesh): Promise<void> {
  const { o } = mesh;
  const [first, ...rest] = mesh.nodes;
  const pipe = (n: MeshNode) => startApiPipe(o.stateDir, o.server, mesh.netns.nodes[n.name], `api-pipe-${n.name}`);
  await pipe(first); // starts the root namespace's pipe once
  await Promise.all(rest.map(pipe));
  for (const n of mesh.nodes) await startAgents(mesh, n.name);
  await startPlanController(
    { stateDir: o.stateDir, kubeconfig: o.kubeconfig, namespace: o.namespace, verbosity: o.verbosity ?? 2 },
    "0",
  );
}

/** Stops every agent, pipe and the plan controller, and what they left running in the node namespaces. */
export async function stopMeshAgents(mesh: Mesh): Promise<void> {
  await stopLabControllers(mesh.o.stateDir, Object.values(mesh.netns.nodes));
}

/** Builds the network and starts every agent and the plan controller. Cleans up on failure. */
export async function meshUp(mesh: Mesh): Promise<void> {
  try {
    await meshNetworkUp(mesh.netns, mesh.nodes);
    await startMeshAgents(mesh);
  } catch (e) {
    await meshDown(mesh);
    throw e;
  }
}

/** Whether the plan controller of the instance runs (the instance is up). */
export async function meshRunning(mesh: Mesh): Promise<boolean> {
  return (await supervisorPid(supervisorDirs(mesh.o.stateDir), "wgplan-controller")) !== null;
}

/** Stops every process of the instance by PID and removes its namespaces and state. Idempotent. */
export async function meshDown(mesh: Mesh): Promise<void> {
  const { o } = mesh;
  const known = Object.values(mesh.netns.nodes);
  const leftover = (await netnsWithPrefix(o.prefix)).filter((n) => !known.includes(n));
  await stopLabControllers(o.stateDir, [...known, ...leftover]);
  await meshNetworkDown(mesh.netns);
  for (const ns of leftover) await removeNetns(ns);
  await Deno.remove(o.stateDir, { recursive: true }).catch(() => {});
}

async function apply(kubeconfig: string, objects: unknown[]): Promise<void> {
  const text = objects.map((o) => JSON.stringify(o)).join("\n");
  const r = await kubectl(kubeconfig, ["apply", "-f", "-"], text);
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr.trim()}`);
}

/** Creates n1's key Secret unless it exists. */
export async function ensureKeySecret(mesh: Mesh): Promise<void> {
  const { o, names } = mesh;
  const got = await kubectl(o.kubeconfig, ["get", "-n", o.namespace, "secret", names.keySecret, "-o", "name"]);
  if (got.code === 0) return;
  await apply(o.kubeconfig, [keySecret(names, (await generatePrivateKey()).toBase64())]);
}

/** Applies the plan over `nodes` (default: all of the instance's), with n1's key Secret; `mtu` on every node. */
export async function applyMeshPlan(mesh: Mesh, nodes: MeshNode[] = mesh.nodes, mtu?: number): Promise<void> {
  await ensureKeySecret(mesh);
  await apply(mesh.o.kubeconfig, [meshPlan(nodes, mesh.names, mtu)]);
}

/** Applies (or deletes, with `remove`) Kubernetes objects given as plain objects. */
export async function applyObjects(mesh: Mesh, objects: unknown[], remove = false): Promise<void> {
  if (!remove) return await apply(mesh.o.kubeconfig, objects);
  const text = objects.map((o) => JSON.stringify(o)).join("\n");
  const r = await kubectl(mesh.o.kubeconfig, ["delete", "--ignore-not-found", "-f", "-"], text);
  if (r.code !== 0) throw new Error(`kubectl delete: ${r.stderr.trim()}`);
}

/** Replaces n1's private key in its Secret with a fresh one; returns nothing secret. */
export async function rotateKeySecret(mesh: Mesh): Promise<void> {
  await apply(mesh.o.kubeconfig, [keySecret(mesh.names, (await generatePrivateKey()).toBase64())]);
}

/** Deletes the plan and waits until it is gone (its children and links go with it). */
export async function deleteMeshPlan(mesh: Mesh, timeoutSeconds = 120): Promise<void> {
  const { o, names } = mesh;
  const r = await kubectl(o.kubeconfig, [
    "delete",
    "-n",
    o.namespace,
    "wireguardnetworkplan",
    names.plan,
    "--ignore-not-found",
    `--timeout=${timeoutSeconds}s`,
  ]);
  if (r.code !== 0) throw new Error(`kubectl delete plan: ${r.stderr.trim()}`);
}

/** The plan's interfaces (links named wg-…) in a node's namespace, by name, with their ifindex. */
export async function wireguardLinks(mesh: Mesh, node: string): Promise<Map<string, number>> {
  const r = await exec(["ip", "-n", mesh.netns.nodes[node], "-j", "link", "show"]);
  if (r.code !== 0) return new Map();
  const links = JSON.parse(r.stdout) as { ifname: string; ifindex: number }[];
  return new Map(links.filter((l) => l.ifname.startsWith("wg-")).map((l) => [l.ifname, l.ifindex]));
}

/**
 * Removes what killed runs named `<namePrefix>…` left behind: the processes recorded in their state directories
 * (/run/dn42op/<namePrefix>…), those inside their namespaces, the namespaces. Returns what it removed.
 */
export async function sweepMeshes(namePrefix: string): Promise<string[]> {
  const swept: string[] = [];
  try {
    for await (const e of Deno.readDir("/run/dn42op")) {
      if (!e.isDirectory || !e.name.startsWith(namePrefix)) continue;
      await stopLabControllers(`/run/dn42op/${e.name}`, []);
      await Deno.remove(`/run/dn42op/${e.name}`, { recursive: true }).catch(() => {});
      swept.push(e.name);
    }
  } catch { /* no state root */ }
  for (const ns of await netnsWithPrefix(namePrefix)) {
    await removeNetns(ns);
    swept.push(ns);
  }
  return swept;
}
