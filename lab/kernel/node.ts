/**
 * A node of the kernel lab: a qemu guest booting Debian's kernel (scripts/kernel/: the kernel tier's kernel,
 * initramfs and shares) that runs the lab's agent (lab/kernel/agent.ts) instead of a test command, and outlives the
 * process that booted it until {@link KernelNode.shutdown}. Two channels join it to the host:
 *
 * - the API server: a NIC on QEMU's user-mode network in restricted mode; the guest's connections to
 *   {@link API_FORWARD_ADDRESS}:<apiserver port> are each handed to `socat` on the host, which connects to the
 *   apiserver on 127.0.0.1 of the namespace QEMU runs in (a test suite's namespace, or the machine's). The guest
 *   reaches nothing else.
 * - control: the agent's RPC (lab/kernel/rpc.ts) on a virtio-serial port, `<stateDir>/ctl.sock` on the host.
 *
 * Host state directory: qemu.pid, console.log (the guest's console), ctl.sock, node.json, and out/ (the guest's
 * writable /run/out: the kubeconfig handed to the guest lives there).
 */
import { isRunning, logTail, processAlive, spawnOrphan } from "../../kit/proc.ts";
import { prepareGuest, stageGuestCommand } from "../../scripts/kernel/guest.ts";
import { qemuArgs } from "../../scripts/kernel/qemu.ts";
import { kernelCacheDir, REPO } from "../../scripts/kernel/paths.ts";
import { programCommand } from "../../scripts/programs.ts";
import { RpcClient } from "./rpc.ts";
import { sleep } from "../../kit/wait.ts";

/** The address the guest dials for the API server (inside QEMU's user-mode network 10.0.2.0/24). */
export const API_FORWARD_ADDRESS = "10.0.2.100";
const PORT_NAME = "dn42op.ctl";
const QEMU = "qemu-system-x86_64";

/** How to boot a kernel lab node. */
export interface KernelNodeOptions {
  /** Host state directory (created; see the module doc). */
  stateDir: string;
  /** The API server's port on 127.0.0.1 of the namespace this process runs in. */
  apiPort: number;
  /** Guest memory (default 3072 MiB: five Deno programs run there). */
  memoryMiB?: number;
  /** Bound on the guest's life; it powers off after it (default 24 h). */
  lifetimeS?: number;
  /** Bound on boot until the agent answers (default 900 s: a loaded host starves the emulated CPUs). */
  bootTimeoutMs?: number;
}

/** What `hello` says about the guest. */
export interface GuestHello {
  release: string;
  dummyKernel: boolean;
}

interface NodeState {
  apiPort: number;
  release: string;
  dummyKernel: boolean;
}

/** The guest's command: the agent (its port name follows). */
const AGENT = ["run", "--no-check", "-A", "--cached-only", "lab/kernel/agent.ts"];

/** The DENO_DIR the guest starts from (see {@link warmDenoDir}). */
export function labDenoDir(): string {
  return `${kernelCacheDir()}/deno-dir`;
}

/**
 * Fills the guest's DENO_DIR ({@link labDenoDir}) for what the guest runs — the agent and the node programs — by
 * loading each once here (usage output; loading is what fills the caches, V8's code cache included); the guest copies
 * it onto its tmpfs (scripts/kernel/guest.ts). Works offline (npm packages come from node_modules/); the kernel
 * tier's prepare phase calls it so the suite phase only tops it up. Throws when a module does not load.
 */
export async function warmDenoDir(dir = labDenoDir()): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const runs = [
    [Deno.execPath(), ...AGENT],
    programCommand("wg-controller", ["-h"], undefined, ["--cached-only"]),
    programCommand("nl-controller", ["-h"], undefined, ["--cached-only"]),
  ];
  for (const argv of runs) {
    const r = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: REPO,
      env: { DENO_DIR: dir, NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    // usage output exits 0 or 2; a module that does not load exits 1 with Deno's "error: …"
    if (r.code === 1 || r.signal) throw new Error(`kernel lab: warming ${dir}: ${argv.join(" ")}: ${err.trim()}`);
  }
  return dir;
}

async function qemuPid(stateDir: string): Promise<number | null> {
  const pid = Number((await Deno.readTextFile(`${stateDir}/qemu.pid`).catch(() => "")).trim());
  return pid > 0 && isRunning(pid, QEMU) ? pid : null;
}

/** A running kernel lab node and an open control connection to its agent. */
export class KernelNode {
  private constructor(
    readonly stateDir: string,
    readonly pid: number,
    readonly rpc: RpcClient,
    readonly hello: GuestHello,
    readonly apiPort: number,
  ) {}

  /** The host directory the guest sees as /run/out. */
  get out(): string {
    return `${this.stateDir}/out`;
  }

  /** The guest's path of a file in {@link out}. */
  guestPath(name: string): string {
    return `/run/out/${name}`;
  }

  /** `tcp:HOST:PORT` the guest dials for the API server. */
  get apiDial(): string {
    return `tcp:${API_FORWARD_ADDRESS}:${this.apiPort}`;
  }

  call<T>(op: string, args: unknown = {}, timeoutMs?: number): Promise<T> {
    return this.rpc.call<T>(op, args, timeoutMs);
  }

  /** Runs a command in the guest's root namespace (`netns` given: inside that named namespace). */
  exec(argv: string[], netns?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.call("exec", { argv: netns ? ["ip", "netns", "exec", netns, ...argv] : argv });
  }

  /** Boots a node into `o.stateDir` (which must hold no running one) and returns it once its agent answers. */
  static async boot(o: KernelNodeOptions): Promise<KernelNode> {
    if (await qemuPid(o.stateDir)) throw new Error(`a kernel lab node already runs in ${o.stateDir}`);
    await Deno.remove(o.stateDir, { recursive: true }).catch(() => {});
    const out = `${o.stateDir}/out`;
    await Deno.mkdir(out, { recursive: true, mode: 0o700 });
    const guest = await prepareGuest(kernelCacheDir());
    const denoDir = await warmDenoDir();
    const staged = await stageGuestCommand({
      repo: REPO,
      denoArgs: [...AGENT, PORT_NAME],
      env: { NO_COLOR: "1" },
      timeoutS: o.lifetimeS ?? 86_400,
      out,
      denoDir,
    });
    const socket = `${o.stateDir}/ctl.sock`;
    const args = qemuArgs({
      vmlinuz: guest.kernel.vmlinuz,
      initrd: guest.initrd,
      ...staged,
      net: {
        forwards: [{
          address: API_FORWARD_ADDRESS,
          port: o.apiPort,
          command: ["socat", "-", `TCP:127.0.0.1:${o.apiPort}`],
        }],
      },
      serialPorts: [{ name: PORT_NAME, socket }],
      memoryMiB: o.memoryMiB ?? 3072,
      cpus: 2,
    });
    const consoleLog = `${o.stateDir}/console.log`;
    const pid = await spawnOrphan([QEMU, ...args], consoleLog);
    await Deno.writeTextFile(`${o.stateDir}/qemu.pid`, `${pid}\n`);
    try {
      const deadline = Date.now() + (o.bootTimeoutMs ?? 900_000);
      const rpc = await connect(socket, pid, consoleLog, deadline);
      const hello = await helloWithin(rpc, deadline, pid, consoleLog);
      const state: NodeState = { apiPort: o.apiPort, ...hello };
      await Deno.writeTextFile(`${o.stateDir}/node.json`, JSON.stringify(state));
      return new KernelNode(o.stateDir, pid, rpc, hello, o.apiPort);
    } catch (e) {
      await stopQemu(pid);
      throw e;
    }
  }

  /** The node running in `stateDir`, connected, or null when none runs there. */
  static async attach(stateDir: string): Promise<KernelNode | null> {
    const pid = await qemuPid(stateDir);
    if (!pid) return null;
    const state = JSON.parse(await Deno.readTextFile(`${stateDir}/node.json`)) as NodeState;
    const rpc = await RpcClient.connect(`${stateDir}/ctl.sock`);
    return new KernelNode(
      stateDir,
      pid,
      rpc,
      { release: state.release, dummyKernel: state.dummyKernel },
      state.apiPort,
    );
  }

  /** Closes the control connection; the node keeps running. */
  close(): void {
    this.rpc.close();
  }

  /**
   * Stops the node: the agent takes the lab down and exits, the guest powers off; QEMU is killed if it is still
   * there after `graceMs`. Removes the state directory.
   */
  async shutdown(graceMs = 60_000): Promise<void> {
    await this.call("shutdown", {}, graceMs).catch(() => {});
    this.rpc.close();
    await stopQemu(this.pid, graceMs);
    await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
  }
}

async function connect(socket: string, pid: number, consoleLog: string, deadline: number): Promise<RpcClient> {
  while (true) {
    try {
      return await RpcClient.connect(socket);
    } catch (e) {
      if (!await processAlive(pid)) {
        throw new Error(`qemu exited while booting; ${consoleLog}:\n${logTail(consoleLog)}`);
      }
      if (Date.now() > deadline) throw new Error(`cannot connect to ${socket}: ${(e as Error).message}`);
      await sleep(100);
    }
  }
}

/** Asks `hello` until the agent answers (it starts some seconds after QEMU). */
async function helloWithin(rpc: RpcClient, deadline: number, pid: number, consoleLog: string): Promise<GuestHello> {
  while (true) {
    try {
      return await rpc.call<GuestHello>("hello", {}, 5_000);
    } catch (e) {
      if (!await processAlive(pid)) {
        throw new Error(`the guest went down while booting; ${consoleLog}:\n${logTail(consoleLog)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the kernel lab agent did not answer: ${(e as Error).message}; ${consoleLog}:\n${logTail(consoleLog)}`,
        );
      }
    }
  }
}

/** Waits up to `graceMs` for QEMU to exit, then kills it. */
async function stopQemu(pid: number, graceMs = 0): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (isRunning(pid, QEMU) && Date.now() < deadline) await sleep(100);
  if (!isRunning(pid, QEMU)) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
  while (isRunning(pid, QEMU)) await sleep(20);
}

/** Stops whatever node `stateDir` records (its agent first when it answers) and removes the directory. */
export async function stopKernelNode(stateDir: string, graceMs = 60_000): Promise<void> {
  const node = await KernelNode.attach(stateDir).catch(() => null);
  if (node) return await node.shutdown(graceMs);
  const pid = await qemuPid(stateDir);
  if (pid) await stopQemu(pid);
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
}
