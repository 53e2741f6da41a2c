/**
 * One lab instance end to end, with every name a parameter so the lab (fixed `dn42op-lab-` names, the examples'
 * own container names and namespace `default`) and the end-to-end tests and benchmarks (fresh prefixed names)
 * share one code path: topology (agentx + containers) → controllers inside agentx → the README's precondition
 * (bridge slaves) → the examples → the README's checks.
 */
import { type CheckContext, kernelHasDummy } from "./checks.ts";
import type { LabContainers } from "./containers.ts";
import { openLabContainers } from "./containers.ts";
import { exec, processAlive } from "../kit/proc.ts";
import { type ImagePod, startImagePods, stopImagePods } from "./imagepods.ts";
import { Podman } from "./podman/podman.ts";
import { type LabControllers, startLabControllers, stopLabControllers } from "./controllers.ts";
import {
  applyExamples,
  ensureBridgeSlaves,
  type ExampleContainer,
  inNetnsOf,
  LAB_EXAMPLES,
  LAB_NAMES,
  type ScenarioNames,
} from "./scenario.ts";
import type { StabilityTarget } from "./stability.ts";
import { LAB_DEFAULTS, labDown, type LabTopology, type LabTopologyOptions, labUp } from "./topology.ts";

/** Names and access of a lab instance. */
export interface InstanceOptions {
  /** Topology names (agentx namespace, state directory, container names = names.containers' values…). */
  topology: LabTopologyOptions;
  /** Kubernetes namespace and container names the examples are applied under. */
  names: ScenarioNames;
  /** Admin kubeconfig and apiserver URL. */
  kubeconfig: string;
  server: string;
  /** Node names that get a wg-controller and an nl-controller. */
  nodes: string[];
  /** Run deploy/'s workloads as containers from the image (lab/imagepods.ts) instead of processes. */
  image?: boolean;
  /** Prefix of the image pods' container and network namespace names. */
  podPrefix: string;
  /** With `image`: the rendered manifests to run (default deploy/ rendered; tests move them into their namespaces). */
  // deno-lint-ignore no-explicit-any
  manifests?: any[];
  /** -default-resync-period of every controller (absent: the programs' default, 30 s). */
  resyncSeconds?: number;
  /** The controllers' flags: the lab's, or only the reference README's (see lab/controllers.ts). */
  flags?: "lab" | "reference";
}

/** The real lab's instance options for a cluster. */
export function labInstance(kubeconfig: string, server: string, image = false): InstanceOptions {
  return {
    topology: LAB_DEFAULTS,
    names: LAB_NAMES,
    kubeconfig,
    server,
    nodes: ["lax1", "lax2"],
    image,
    podPrefix: LAB_DEFAULTS.netnsPrefix,
  };
}

/**
 * Options of the instance `<prefix><id>`: agentx `<prefix><id>-ax`, containers `<prefix><id>-agent1`/`-agent2`,
 * state under /run/dn42op/<prefix><id>, acting on the Kubernetes namespace `namespace`.
 */
export function namedInstance(
  prefix: string,
  id: string,
  namespace: string,
  kubeconfig: string,
  server: string,
): InstanceOptions {
  const containers = { agent1: `${prefix}${id}-agent1`, agent2: `${prefix}${id}-agent2` };
  return {
    topology: {
      ...LAB_DEFAULTS,
      agentxNetns: `${prefix}${id}-ax`,
      containers: [containers.agent1, containers.agent2],
      stateDir: `/run/dn42op/${prefix}${id}`,
      netnsPrefix: prefix,
      owner: "test",
    },
    names: { namespace, containers },
    kubeconfig,
    server,
    nodes: ["lax1", "lax2"],
    podPrefix: `${prefix}${id}-`,
  };
}

/** A fresh instance `<prefix><random id>` (see {@link namedInstance}). */
export function freshInstance(prefix: string, namespace: string, kubeconfig: string, server: string): InstanceOptions {
  return namedInstance(prefix, crypto.randomUUID().slice(0, 8), namespace, kubeconfig, server);
}

/** A running instance. */
export interface Instance {
  options: InstanceOptions;
  topology: LabTopology;
  controllers: LabControllers;
  /** The image's pods (image mode only). */
  pods?: ImagePod[];
  /** Init PID of the examples' container `agent1`/`agent2` (as of now; containers can be restarted). */
  pid(container: ExampleContainer): Promise<number>;
  /** What the README checks need. */
  checkContext(): Promise<CheckContext>;
}

function contextFor(o: InstanceOptions, containers: LabContainers) {
  const pid = (c: ExampleContainer) => containers.pid(o.names.containers[c]);
  return {
    pid,
    checkContext: async (): Promise<CheckContext> => {
      const dummyKernel = await kernelHasDummy(o.topology.netnsPrefix);
      // Asking podman costs ~0.3 s: keep each PID while its process lives (a restarted container gets a new one).
      const known = new Map<ExampleContainer, number>();
      const current = async (c: ExampleContainer) => {
        const p = known.get(c);
        if (p && await processAlive(p)) return p;
        known.set(c, await pid(c));
        return known.get(c)!;
      };
      return { dummyKernel, inContainer: async (c, cmd) => inNetnsOf(await current(c), cmd) };
    },
  };
}

/** Brings topology and controllers up (idempotent) without applying anything. */
export async function instanceUp(o: InstanceOptions): Promise<Instance> {
  const topology = await labUp(o.topology);
  if (o.image) {
    if (!topology.containers.dockerHost) {
      throw new Error(`lab --image needs podman: ${topology.containers.fallbackReason ?? "no Docker API"}`);
    }
    const pods = await startImagePods({
      stateDir: o.topology.stateDir,
      agentxNetns: o.topology.agentxNetns,
      kubeconfig: o.kubeconfig,
      server: o.server,
      nodes: o.nodes,
      owner: o.topology.owner,
      prefix: o.podPrefix,
      dockerSocket: topology.containers.dockerHost.replace(/^unix:\/\//, ""),
      objects: o.manifests,
    });
    const pids = Object.fromEntries(pods.map((p) => [p.run.name, p.pid]));
    const controllers = { pids, logDir: `${o.topology.stateDir}/logs` };
    return { options: o, topology, controllers, pods, ...contextFor(o, topology.containers) };
  }
  const controllers = await startLabControllers({
    stateDir: o.topology.stateDir,
    agentxNetns: o.topology.agentxNetns,
    kubeconfig: o.kubeconfig,
    server: o.server,
    namespace: o.names.namespace,
    dockerHost: topology.containers.dockerHost,
    nodes: o.nodes,
    resyncSeconds: o.resyncSeconds,
    flags: o.flags,
  });
  return { options: o, topology, controllers, ...contextFor(o, topology.containers) };
}

/** Where {@link stabilityChecks} finds the instance's controllers and objects. */
export function stabilityTarget(o: InstanceOptions): StabilityTarget {
  return { agentxNetns: o.topology.agentxNetns, kubeconfig: o.kubeconfig, namespace: o.names.namespace };
}

/** Applies the examples in order, after the bridge example's precondition. */
export async function applyScenario(inst: Instance): Promise<void> {
  const agent1 = await inst.pid("agent1");
  await ensureBridgeSlaves((cmd) => inNetnsOf(agent1, cmd), inst.options.names.namespace);
  await applyExamples(inst.options.kubeconfig, LAB_EXAMPLES, inst.options.names);
}

/** The check context of an instance that is already up (for `lab:check`), without starting anything. */
export async function attachInstance(o: InstanceOptions): Promise<Pick<Instance, "pid" | "checkContext">> {
  const containers = await openLabContainers({
    stateDir: o.topology.stateDir,
    owner: o.topology.owner,
    netnsPrefix: o.topology.netnsPrefix,
  });
  return contextFor(o, containers);
}

/** Stops the controllers and removes the topology; idempotent. The cluster and its objects are left alone. */
export async function instanceDown(o: InstanceOptions): Promise<void> {
  await stopImagePods(o.topology.stateDir, o.podPrefix);
  await stopLabControllers(o.topology.stateDir, o.topology.agentxNetns);
  await labDown(o.topology);
}

/**
 * Removes what earlier instances named `<prefix>…` left behind (a killed test run): their controllers and
 * topology (found through their state directories under /run/dn42op), then any remaining `<prefix>` network
 * namespaces (processes inside killed by PID) and podman containers of ours with that prefix. The lab's own
 * fixed names are never matched by a test prefix.
 */
export async function sweepInstances(prefix: string): Promise<string[]> {
  const swept: string[] = [];
  const dirs: string[] = [];
  try {
    for await (const e of Deno.readDir("/run/dn42op")) {
      if (e.isDirectory && e.name.startsWith(prefix)) dirs.push(e.name);
    }
  } catch { /* nothing there */ }
  for (const d of dirs) {
    await instanceDown(namedInstance(prefix, d.slice(prefix.length), "default", "", ""));
    swept.push(d);
  }
  for (const line of (await exec(["ip", "netns", "list"])).stdout.split("\n")) {
    const ns = line.split(" ")[0];
    if (!ns.startsWith(prefix)) continue;
    for (const pid of (await exec(["ip", "netns", "pids", ns])).stdout.split(/\s+/).filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
    await exec(["ip", "netns", "del", ns]);
    swept.push(ns);
  }
  const podman = new Podman();
  if (await podman.unusableReason() === null) {
    for (const name of (await podman.listOwned("test")).filter((n) => n.startsWith(prefix))) {
      await podman.remove(name);
      swept.push(name);
    }
  }
  return swept;
}
