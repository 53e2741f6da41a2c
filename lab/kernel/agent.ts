/**
 * The kernel lab's agent: runs inside the qemu guest (a real Debian kernel with the WireGuard module) as the
 * guest's one command, and serves the host's requests over the virtio-serial port named on its command line
 * (lab/kernel/rpc.ts). It configures the guest's NIC on QEMU's restricted user-mode network (10.0.2.15/24, no
 * default route: the guest reaches nothing but the host's forward to the API server), brings the lab up on request
 * — the topology of lab/topology.ts with namespace-holding processes as agent1/agent2 (no container runtime here)
 * and the node controllers of lab/controllers.ts on the kernel backend — and runs commands for the host's checks.
 *
 *   deno run -A lab/kernel/agent.ts PORT_NAME     (in the guest; lab/kernel/node.ts boots it)
 */
import { kernelHasDummy } from "../checks.ts";
import {
  labProgramPid,
  labSupervisorPid,
  startLabControllers,
  stopLabControllers,
  supervisorDirs,
} from "../controllers.ts";
import { exec } from "../../kit/proc.ts";
import { sleep } from "../../kit/wait.ts";
import { labDown, type LabTopologyOptions, labUp } from "../topology.ts";
import { type RpcHandlers, serveRpc } from "./rpc.ts";
import { socatPipe } from "./socat.ts";
import { findPort, VirtioPort } from "./vport.ts";

/** Pause between two pings of `pingUntil`. */
const PING_PAUSE_MS = 200;

/** The guest's address on QEMU's user-mode network (its default guest address). */
export const GUEST_ADDRESS = "10.0.2.15/24";

/** What the host asks the agent to bring up. */
export interface GuestUp {
  topology: LabTopologyOptions;
  /** Admin kubeconfig as the guest sees it, and the server URL in it. */
  kubeconfig: string;
  server: string;
  namespace: string;
  nodes: string[];
  /** `tcp:HOST:PORT` of QEMU's forward to the API server. */
  apiDial: string;
  /** Node programs per node (default both); `up` again with more nodes or programs adds them. */
  nodePrograms?: ("wg-controller" | "nl-controller")[];
  /** -v of the controllers (default 4, as the reference's README runs them). */
  verbosity?: number;
}

/** What `up` brought about. */
export interface GuestUpResult {
  /** PID of each agent namespace's holder process (agent1, agent2). */
  pids: Record<string, number>;
  /** Supervisor PID of each controller and pipe. */
  controllers: Record<string, number>;
}

function log(msg: string): void {
  console.log(`kernel lab agent: ${msg}`);
}

async function must(argv: string[]): Promise<void> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.trim()}`);
}

async function controllers(o: GuestUp): Promise<Record<string, number>> {
  const c = await startLabControllers({
    stateDir: o.topology.stateDir,
    agentxNetns: o.topology.agentxNetns,
    kubeconfig: o.kubeconfig,
    server: o.server,
    namespace: o.namespace,
    nodes: o.nodes,
    apiDial: o.apiDial,
    planController: false,
    nodePrograms: o.nodePrograms,
    verbosity: o.verbosity,
    denoFlags: ["--cached-only"], // no network here but the API forward: npm packages come from node_modules/
    pipeCommand: socatPipe,
  });
  return c.pids;
}

function handlers(): RpcHandlers {
  let lastUp: GuestUp | null = null;
  const down = async (o: GuestUp | null) => {
    if (!o) return;
    await stopLabControllers(o.topology.stateDir, o.topology.agentxNetns);
    await labDown(o.topology);
  };
  return {
    hello: async () => ({
      release: (await exec(["uname", "-r"])).stdout.trim(),
      dummyKernel: await kernelHasDummy("dn42op-kl-probe-"),
    }),
    exec: (a: { argv: string[]; stdin?: string }) => exec(a.argv, { stdin: a.stdin }),
    up: async (o: GuestUp): Promise<GuestUpResult> => {
      lastUp = o;
      const topo = await labUp({ ...o.topology, backend: "netns-process" });
      return { pids: topo.pids, controllers: await controllers(o) };
    },
    /** Starts what `o` names beyond what runs (the topology must be up). */
    controllers: async (o: GuestUp) => {
      lastUp = o;
      return await controllers(o);
    },
    down: () => down(lastUp),
    /** The last `lines` lines of every lab process's log in the guest, by process name. */
    logs: async (a: { lines: number }) => {
      const out: Record<string, string> = {};
      if (!lastUp) return out;
      const dir = supervisorDirs(lastUp.topology.stateDir).logDir;
      for await (const e of Deno.readDir(dir)) {
        const text = await Deno.readTextFile(`${dir}/${e.name}`);
        out[e.name.replace(/\.log$/, "")] = text.trimEnd().split("\n").slice(-a.lines).join("\n");
      }
      return out;
    },
    programPid: (a: { stateDir: string; name: string }) => labProgramPid(a.stateDir, a.name),
    supervisorPid: (a: { stateDir: string; name: string }) => labSupervisorPid(a.stateDir, a.name),
    kill: (a: { pid: number; signal: Deno.Signal }) => Promise.resolve(Deno.kill(a.pid, a.signal)),
    /**
     * Pings `target` from network namespace `netns` until it answers; milliseconds until then. A pause after each
     * miss leaves the emulated CPUs to the controllers that are converging meanwhile.
     */
    pingUntil: async (a: { netns: string; target: string; timeoutMs: number }) => {
      const t0 = performance.now();
      while (performance.now() - t0 < a.timeoutMs) {
        const r = await exec(["ip", "netns", "exec", a.netns, "ping", "-n", "-c", "1", "-W", "0.2", a.target]);
        if (r.code === 0) return performance.now() - t0;
        await sleep(PING_PAUSE_MS);
      }
      throw new Error(`no answer from ${a.target} in ${a.netns} within ${a.timeoutMs} ms`);
    },
    shutdown: async () => {
      await down(lastUp);
      setTimeout(() => Deno.exit(0), 300); // after the answer went out
    },
  };
}

if (import.meta.main) {
  const name = Deno.args[0];
  if (!name) {
    console.error("usage: lab/kernel/agent.ts PORT_NAME");
    Deno.exit(2);
  }
  await must(["ip", "link", "set", "lo", "up"]);
  await must(["ip", "addr", "add", GUEST_ADDRESS, "dev", "eth0"]);
  await must(["ip", "link", "set", "eth0", "up"]);
  const port = new VirtioPort(await findPort(name));
  log(`serving on ${name}`);
  await serveRpc(
    async () => {
      const chunk = await port.read();
      if (chunk.length) return chunk;
      await new Promise((r) => setTimeout(r, 100)); // no host connected: the port reads end-of-file at once
      return null;
    },
    (line) => port.write(line),
    handlers(),
    log,
  );
}
