/**
 * The lab's topology (docs/reference.md#the-references-lab, rebuilt without Docker): a network namespace playing the
 * reference's `agentx` (the controllers' host network, where WireGuard UDP sockets live; it holds the
 * examples' underlay address 192.168.65.3 on a veth pair inside it, since this kernel has no dummy links),
 * and the containers agent1 and agent2 (podman, or namespace-holding processes as a fallback).
 *
 * `labUp` and `labDown` are idempotent. The machine's root namespace is not changed beyond creating
 * namespaces: every `ip` command here runs with `-n <lab namespace>`.
 *
 *   deno run -A lab/topology.ts up|down
 */

import { type ContainerBackendKind, type LabContainers, openLabContainers, removeLabContainers } from "./containers.ts";
import { exec, run } from "../kit/proc.ts";

/** Names and addresses of a lab instance; tests pass their own prefixed names. */
export interface LabTopologyOptions {
  /** The agentx namespace. */
  agentxNetns: string;
  /** Container names (the examples' `container.name`). */
  containers: string[];
  /** State directory: API socket, PID files, logs. */
  stateDir: string;
  /** Prefix of fallback netns names (`<prefix><container>`). */
  netnsPrefix: string;
  /** Underlay address with prefix length, assigned inside agentx. */
  underlayAddress: string;
  /** Interface names of the veth pair inside agentx that carries the underlay address (first end). */
  underlayLinks: [string, string];
  /** Force a container backend. */
  backend?: ContainerBackendKind;
  /** Owner label on podman containers. */
  owner: string;
}

/** The real lab's values. */
export const LAB_DEFAULTS: LabTopologyOptions = {
  agentxNetns: "dn42op-lab-agentx",
  containers: ["agent1", "agent2"],
  stateDir: "/run/dn42op/lab",
  netnsPrefix: "dn42op-lab-",
  underlayAddress: "192.168.65.3/24",
  underlayLinks: ["underlay0", "underlay1"],
  owner: "lab",
};

/** A lab that is up. */
export interface LabTopology {
  /** The agentx namespace: name and bind-mount path. */
  agentx: { name: string; path: string };
  /** The containers' backend (podman or fallback); `fallbackReason` says why podman is not used. */
  containers: LabContainers;
  /** Init PID per container name, as of `labUp`. */
  pids: Record<string, number>;
  /** Milliseconds spent on agentx, on opening the backend (image, API service), and on the containers. */
  timings: { agentxMs: number; backendMs: number; containersMs: number };
}

async function netnsExists(name: string): Promise<boolean> {
  try {
    await Deno.stat(`/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

async function linkExists(netns: string, link: string): Promise<boolean> {
  return (await exec(["ip", "-n", netns, "link", "show", "dev", link])).code === 0;
}

/** Creates the agentx namespace with lo up and the underlay address on a veth pair inside it (idempotent). */
export async function ensureAgentx(o: LabTopologyOptions): Promise<void> {
  const ns = o.agentxNetns;
  if (!await netnsExists(ns)) await run(["ip", "netns", "add", ns]);
  const ip = (...args: string[]) => run(["ip", "-n", ns, ...args]);
  const [a, b] = o.underlayLinks;
  if (!await linkExists(ns, a)) {
    if (await linkExists(ns, b)) await ip("link", "del", "dev", b);
    await ip("link", "add", a, "type", "veth", "peer", "name", b);
  }
  await ip("addr", "replace", o.underlayAddress, "dev", a);
  for (const l of ["lo", a, b]) await ip("link", "set", "dev", l, "up");
}

/**
 * Brings the lab up: agentx, then the containers. If podman is usable but a container fails to start, the
 * podman containers made so far are removed and the fallback is used, with the failure as the reason
 * (unless a backend was forced). Returns the backend and PIDs.
 */
export async function labUp(opts: Partial<LabTopologyOptions> = {}): Promise<LabTopology> {
  const o = { ...LAB_DEFAULTS, ...opts };
  const t0 = performance.now();
  await ensureAgentx(o);
  const t1 = performance.now();
  const open = (backend?: ContainerBackendKind, reason?: string) =>
    openLabContainers({ stateDir: o.stateDir, owner: o.owner, netnsPrefix: o.netnsPrefix, backend, reason });
  let containers = await open(o.backend);
  const t2 = performance.now();
  const pids: Record<string, number> = {};
  try {
    for (const name of o.containers) pids[name] = await containers.ensure(name);
  } catch (e) {
    if (containers.kind !== "podman" || o.backend === "podman") throw e;
    for (const name of o.containers) await containers.remove(name).catch(() => {});
    await containers.shutdown();
    containers = await open("netns-process", `podman could not start a container: ${(e as Error).message}`);
    for (const name of o.containers) pids[name] = await containers.ensure(name);
  }
  const timings = { agentxMs: t1 - t0, backendMs: t2 - t1, containersMs: performance.now() - t2 };
  return { agentx: { name: o.agentxNetns, path: `/run/netns/${o.agentxNetns}` }, containers, pids, timings };
}

/**
 * Removes everything `labUp` made, whichever container backend it used: containers, the API service, the
 * agentx namespace, the state directory. Idempotent; processes still inside agentx (controllers) must be
 * stopped by whoever started them.
 */
export async function labDown(opts: Partial<LabTopologyOptions> = {}): Promise<void> {
  const o = { ...LAB_DEFAULTS, ...opts };
  await removeLabContainers(o.containers, o);
  if (await netnsExists(o.agentxNetns)) await run(["ip", "netns", "del", o.agentxNetns]);
  await Deno.remove(o.stateDir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

if (import.meta.main) {
  const cmd = Deno.args[0];
  if (cmd === "up") {
    const lab = await labUp();
    const c = lab.containers;
    console.log(`lab: ${lab.agentx.name} up with ${LAB_DEFAULTS.underlayAddress}`);
    console.log(
      c.kind === "podman"
        ? `lab: podman containers, Docker API at ${c.dockerHost}`
        : `lab: podman NOT used (${c.fallbackReason}); containers are netns-holding processes`,
    );
    for (const [name, pid] of Object.entries(lab.pids)) console.log(`lab: ${name} pid ${pid}`);
    const t = lab.timings;
    console.log(
      `lab: agentx ${t.agentxMs.toFixed(0)} ms, backend ${t.backendMs.toFixed(0)} ms, ` +
        `containers ${t.containersMs.toFixed(0)} ms`,
    );
  } else if (cmd === "down") {
    await labDown();
    console.log("lab: down");
  } else {
    console.error("usage: deno run -A lab/topology.ts up|down");
    Deno.exit(2);
  }
}
