/**
 * The lab's scenario with the node side on the kernel WireGuard module: the topology (agentx holding
 * 192.168.65.3, agent1 and agent2) and the wg-controller and nl-controller of each node run inside a qemu guest
 * booting Debian's kernel (lab/kernel/node.ts, lab/kernel/agent.ts); the control plane, the wgplan-controller
 * (per cluster, not per node), kubectl and the checks run on the host.
 *
 * The guest has no container runtime: agent1 and agent2 are named network namespaces held by a process
 * (`dn42op-kl-agent1`, `dn42op-kl-agent2`), and the examples are applied with `container.docker.name` rendered as
 * `container.netns.name` of those (lab/scenario.ts), as tests render them under their own names. Everything else in
 * the examples is applied unchanged.
 */
import { freePort } from "../../kit/proc.ts";
import { programCommand } from "../../scripts/programs.ts";
import type { CheckContext } from "../checks.ts";
import type { StabilityTarget } from "../stability.ts";
import { supervisorDirs } from "../controllers.ts";
import {
  applyExamples,
  ensureBridgeSlaves,
  type ExampleContainer,
  LAB_EXAMPLES,
  type ScenarioNames,
} from "../scenario.ts";
import { startSupervised, stopSupervised } from "../supervisor.ts";
import { LAB_DEFAULTS, type LabTopologyOptions } from "../topology.ts";
import type { GuestUp, GuestUpResult } from "./agent.ts";
import { KernelNode, stopKernelNode } from "./node.ts";

/** Names of a kernel lab instance. */
export interface KernelInstanceOptions {
  /** Host state directory: the node's in node/ (lab/kernel/node.ts), the wgplan-controller's PID file and log. */
  stateDir: string;
  /** Kubernetes namespace and the guest's namespace names for agent1/agent2 (netns placement). */
  names: ScenarioNames;
  /** The topology inside the guest (its names live in the guest's own kernel). */
  guest: LabTopologyOptions;
  kubeconfig: string;
  server: string;
  nodes: string[];
}

/** Prefix of the guest's namespace names. */
export const GUEST_NETNS_PREFIX = "dn42op-kl-";

/** The kernel lab's host state directory (the userspace lab's is /run/dn42op/lab); the guest uses the same path. */
export const KERNEL_LAB_DIR = "/run/dn42op/kernel-lab";

const nodeDir = (o: Pick<KernelInstanceOptions, "stateDir">) => `${o.stateDir}/node`;

/** Options of a kernel instance with state in `stateDir` acting on Kubernetes namespace `namespace`. */
export function kernelInstance(stateDir: string, namespace: string, kubeconfig: string, server: string) {
  const guest: LabTopologyOptions = {
    ...LAB_DEFAULTS,
    agentxNetns: `${GUEST_NETNS_PREFIX}agentx`,
    stateDir: KERNEL_LAB_DIR,
    netnsPrefix: GUEST_NETNS_PREFIX,
  };
  const names: ScenarioNames = {
    namespace,
    containers: { agent1: `${GUEST_NETNS_PREFIX}agent1`, agent2: `${GUEST_NETNS_PREFIX}agent2` },
    placement: "netns",
  };
  return { stateDir, names, guest, kubeconfig, server, nodes: ["lax1", "lax2"] } satisfies KernelInstanceOptions;
}

/** A kernel lab instance that is up. */
export interface KernelInstance {
  options: KernelInstanceOptions;
  node: KernelNode;
  /** Runs a command in the guest inside agent1's, agent2's or agentx's network namespace. */
  inNetns(where: ExampleContainer | "agentx", cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** PID (in the guest) of the program a lab process name runs (`wg-controller-lax1`), or null. */
  programPid(name: string): Promise<number | null>;
  /** Supervisor PID (in the guest) of a lab process name, or null. */
  supervisorPid(name: string): Promise<number | null>;
  /** What the README checks need. */
  checkContext(): CheckContext;
  /** What the stability check (lab/stability.ts) watches: agentx in the guest, no wireguard-go allowed. */
  stabilityTarget(): StabilityTarget;
  /** The last `lines` lines of each guest process's log, as one text (for failure reports). */
  logTails(lines?: number): Promise<string>;
}

function netnsOf(o: KernelInstanceOptions, where: ExampleContainer | "agentx"): string {
  return where === "agentx" ? o.guest.agentxNetns : o.names.containers[where];
}

function instanceOn(o: KernelInstanceOptions, node: KernelNode): KernelInstance {
  const inNetns = (where: ExampleContainer | "agentx", cmd: string[]) => node.exec(cmd, netnsOf(o, where));
  const ask = (op: string) => (name: string) => node.call<number | null>(op, { stateDir: o.guest.stateDir, name });
  return {
    options: o,
    node,
    inNetns,
    programPid: ask("programPid"),
    supervisorPid: ask("supervisorPid"),
    checkContext: () => ({ dummyKernel: node.hello.dummyKernel, inContainer: inNetns }),
    stabilityTarget: () => ({
      agentxNetns: o.guest.agentxNetns,
      kubeconfig: o.kubeconfig,
      namespace: o.names.namespace,
      exec: (argv) => node.exec(argv),
      wireguardGo: false,
    }),
    logTails: async (lines = 20) => {
      const logs = await node.call<Record<string, string>>("logs", { lines });
      return Object.entries(logs).map(([name, text]) => `--- ${name} (guest)\n${text}`).join("\n");
    },
  };
}

function apiPort(server: string): number {
  const u = new URL(server);
  if (u.hostname !== "127.0.0.1") throw new Error(`kernel lab: apiserver ${server} is not on 127.0.0.1`);
  return Number(u.port);
}

/**
 * Boots the node (or attaches to the one running in `o.stateDir`), brings the guest's topology and node
 * controllers up, and starts the wgplan-controller on the host. Idempotent.
 */
export async function kernelInstanceUp(
  o: KernelInstanceOptions,
  opts: { lifetimeS?: number } = {},
): Promise<KernelInstance & { up: GuestUpResult }> {
  const t0 = performance.now();
  const since = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const node = await KernelNode.attach(nodeDir(o)) ??
    await KernelNode.boot({ stateDir: nodeDir(o), apiPort: apiPort(o.server), lifetimeS: opts.lifetimeS });
  console.log(`kernel lab: node up after ${since()} (Linux ${node.hello.release}, qemu pid ${node.pid})`);
  if (node.apiPort !== apiPort(o.server)) {
    node.close();
    throw new Error(`kernel lab: the node in ${nodeDir(o)} forwards port ${node.apiPort}, not ${o.server}`);
  }
  await Deno.copyFile(o.kubeconfig, `${node.out}/kubeconfig`);
  const req: GuestUp = {
    topology: o.guest,
    kubeconfig: node.guestPath("kubeconfig"),
    server: o.server,
    namespace: o.names.namespace,
    nodes: o.nodes,
    apiDial: node.apiDial,
  };
  const up = await node.call<GuestUpResult>("up", req, 600_000);
  console.log(`kernel lab: topology and node programs started in the guest after ${since()}`);
  await startSupervised(supervisorDirs(o.stateDir), {
    name: "wgplan-controller",
    argv: programCommand("wgplan-controller", [
      `-kubeconfig=${o.kubeconfig}`,
      `-namespace=${o.names.namespace}`,
      "-v=4",
      `-metrics-bind-address=127.0.0.1:${freePort()}`,
    ]),
  });
  return { ...instanceOn(o, node), up };
}

/** The instance running in `o.stateDir`, or null. */
export async function attachKernelInstance(o: KernelInstanceOptions): Promise<KernelInstance | null> {
  const node = await KernelNode.attach(nodeDir(o));
  return node && instanceOn(o, node);
}

/** The bridge example's links in agent1 (lab/scenario.ts ensureBridgeSlaves), then the examples. */
export async function applyKernelScenario(inst: KernelInstance): Promise<void> {
  await ensureBridgeSlaves((cmd) => inst.inNetns("agent1", cmd), inst.options.names.namespace);
  await applyExamples(inst.options.kubeconfig, LAB_EXAMPLES, inst.options.names);
}

/**
 * Stops the host's wgplan-controller and the node (its agent takes the guest's lab down first) and removes the
 * state directory. Idempotent.
 */
export async function kernelInstanceDown(o: Pick<KernelInstanceOptions, "stateDir">): Promise<void> {
  await stopSupervised(supervisorDirs(o.stateDir), "wgplan-controller");
  await stopKernelNode(nodeDir(o));
  await Deno.remove(o.stateDir, { recursive: true }).catch(() => {});
}

/** Stops the instances a killed run left in /run/dn42op/<prefix>…; returns their directories. */
export async function sweepKernelInstances(prefix: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir("/run/dn42op")) {
      if (e.isDirectory && e.name.startsWith(prefix)) found.push(`/run/dn42op/${e.name}`);
    }
  } catch { /* nothing there */ }
  for (const stateDir of found) await kernelInstanceDown({ stateDir });
  return found;
}
