/**
 * The lab's "containers" (network namespace targets found by name): real podman containers reached through
 * podman's Docker-compatible API when podman works here, otherwise namespace-holding processes
 * (`unshare --net sleep infinity`, attached as a named netns) — and the caller is told which, and why.
 *
 * Everything is idempotent and by name: `ensure` creates or restarts what is missing, `remove` deletes,
 * `shutdown` stops the API service; nothing else on the machine is touched.
 */

import { exec, killAndWait, processAlive, processCmdline, run, spawnDetached } from "../kit/proc.ts";
import { ensureBusyboxImage } from "./podman/image.ts";
import { Podman } from "./podman/podman.ts";
import { type PodmanService, servicePaths, startService, stopService } from "./podman/service.ts";

/** Which implementation backs the lab's containers. */
export type ContainerBackendKind = "podman" | "netns-process";

/** Name-addressed network namespace targets. */
export interface LabContainers {
  readonly kind: ContainerBackendKind;
  /** Why podman is not used (set only for the fallback). */
  readonly fallbackReason?: string;
  /** `unix://…` of the Docker-compatible API (podman only); what controllers get as DOCKER_HOST. */
  readonly dockerHost?: string;
  /** Makes sure `name` exists and runs; returns its PID. */
  ensure(name: string): Promise<number>;
  /** PID of the running `name`. */
  pid(name: string): Promise<number>;
  /** Restarts `name` (new process, new network namespace); returns the new PID. */
  restart(name: string): Promise<number>;
  /** Removes `name`; absent is fine. */
  remove(name: string): Promise<void>;
  /** Stops what serves the containers (the API service); containers are left to `remove`. */
  shutdown(): Promise<void>;
}

/** Options of {@link openLabContainers}. */
export interface LabContainersOptions {
  /** Directory for the API socket, PID files and logs (created if needed). */
  stateDir: string;
  /** Owner label value on podman containers (`lab`, `test`). */
  owner?: string;
  /** Prefix of the named netns the fallback attaches (`<prefix><name>`). */
  netnsPrefix?: string;
  /** Force a backend; default: podman if usable, else the fallback. */
  backend?: ContainerBackendKind;
  /** Podman instance (private configuration); default the shared lab store. */
  podman?: Podman;
  /** Why the fallback is used, when the caller forces it after a podman failure. */
  reason?: string;
}

/** Timings of opening the podman backend, in milliseconds (for the lab's report). */
export interface PodmanTimings {
  imageMs: number;
  imageBuilt: boolean;
  serviceMs: number;
}

class PodmanContainers implements LabContainers {
  readonly kind = "podman";
  constructor(
    private readonly podman: Podman,
    private readonly service: PodmanService,
    private readonly owner: string,
    readonly timings: PodmanTimings,
  ) {}
  get dockerHost(): string {
    return this.service.dockerHost;
  }
  ensure(name: string): Promise<number> {
    return this.podman.ensureContainer(name, { owner: this.owner });
  }
  pid(name: string): Promise<number> {
    return this.podman.pid(name);
  }
  restart(name: string): Promise<number> {
    return this.podman.restart(name);
  }
  remove(name: string): Promise<void> {
    return this.podman.remove(name);
  }
  shutdown(): Promise<void> {
    return this.service.stop();
  }
}

async function inode(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).ino;
  } catch {
    return null;
  }
}

/**
 * Fallback: one `unshare --net sleep infinity` per name (the sleep itself is the netns holder, so its PID is a
 * valid `ip link set … netns PID` target), attached as `<netnsPrefix><name>` so `ip -n` works too.
 */
class ProcessContainers implements LabContainers {
  readonly kind = "netns-process";
  readonly dockerHost = undefined;
  constructor(
    private readonly stateDir: string,
    private readonly netnsPrefix: string,
    readonly fallbackReason: string,
  ) {}

  #pidFile(name: string): string {
    return `${this.stateDir}/holder-${name}.pid`;
  }
  #netns(name: string): string {
    return `${this.netnsPrefix}${name}`;
  }

  /** The holder's PID if it is alive, is our sleep, and still holds the named netns. */
  async #holder(name: string): Promise<number | null> {
    const pid = Number((await Deno.readTextFile(this.#pidFile(name)).catch(() => "")).trim());
    if (!Number.isInteger(pid) || pid <= 0 || !await processAlive(pid)) return null;
    if (!(await processCmdline(pid)).includes("sleep")) return null;
    const held = await inode(`/proc/${pid}/ns/net`);
    return held !== null && held === await inode(`/run/netns/${this.#netns(name)}`) ? pid : null;
  }

  async ensure(name: string): Promise<number> {
    const existing = await this.#holder(name);
    if (existing) return existing;
    await this.remove(name);
    await Deno.mkdir(this.stateDir, { recursive: true });
    const child = spawnDetached(["unshare", "--net", "sleep", "infinity"]);
    const own = await inode("/proc/self/ns/net");
    const deadline = Date.now() + 5000;
    while ((await inode(`/proc/${child.pid}/ns/net`)) === own || !(await processCmdline(child.pid)).includes("sleep")) {
      if (Date.now() > deadline || !await processAlive(child.pid)) {
        await killAndWait(child.pid);
        throw new Error(`netns holder for "${name}": unshare --net did not start`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Deno.writeTextFile(this.#pidFile(name), `${child.pid}\n`);
    await run(["ip", "netns", "attach", this.#netns(name), String(child.pid)]);
    await run(["ip", "-n", this.#netns(name), "link", "set", "lo", "up"]);
    return child.pid;
  }

  async pid(name: string): Promise<number> {
    const pid = await this.#holder(name);
    if (!pid) throw new Error(`netns holder "${name}" is not running`);
    return pid;
  }

  async restart(name: string): Promise<number> {
    await this.remove(name);
    return await this.ensure(name);
  }

  async remove(name: string): Promise<void> {
    const pid = await this.#holder(name);
    if (pid) await killAndWait(pid, "SIGKILL");
    const del = await exec(["ip", "netns", "del", this.#netns(name)]);
    if (del.code !== 0 && !/No such file/.test(del.stderr)) throw new Error(`ip netns del: ${del.stderr.trim()}`);
    await Deno.remove(this.#pidFile(name)).catch(() => {});
  }

  async shutdown(): Promise<void> {}
}

/**
 * Opens the lab's containers: podman (private config, image built if missing, API service started or reused
 * from `stateDir`) when usable, else the namespace-holding fallback with the reason in `fallbackReason`.
 */
export async function openLabContainers(opts: LabContainersOptions): Promise<LabContainers> {
  const podman = opts.podman ?? new Podman();
  const fallback = (reason: string) => new ProcessContainers(opts.stateDir, opts.netnsPrefix ?? "dn42op-lab-", reason);
  if (opts.backend === "netns-process") return fallback(opts.reason ?? "the netns-process backend was requested");
  const reason = await podman.unusableReason();
  if (reason) {
    if (opts.backend === "podman") throw new Error(`podman requested but unusable: ${reason}`);
    return fallback(reason);
  }
  try {
    let t = performance.now();
    const imageBuilt = await ensureBusyboxImage(podman);
    const imageMs = performance.now() - t;
    t = performance.now();
    await Deno.mkdir(opts.stateDir, { recursive: true });
    const svc = await startService(podman, servicePaths(opts.stateDir));
    return new PodmanContainers(podman, svc, opts.owner ?? "lab", {
      imageMs,
      imageBuilt,
      serviceMs: performance.now() - t,
    });
  } catch (e) {
    if (opts.backend === "podman") throw e;
    return fallback(`podman failed: ${(e as Error).message}`);
  }
}

/**
 * Removes the named containers whichever backend made them (podman containers in the private store, netns
 * holders recorded in `stateDir`) and stops the API service recorded there. Starts nothing; idempotent.
 */
export async function removeLabContainers(
  names: string[],
  opts: Pick<LabContainersOptions, "stateDir" | "netnsPrefix" | "podman">,
): Promise<void> {
  const podman = opts.podman ?? new Podman();
  const havePodman = await podman.unusableReason() === null;
  const holders = new ProcessContainers(opts.stateDir, opts.netnsPrefix ?? "dn42op-lab-", "cleanup");
  for (const name of names) {
    if (havePodman) await podman.remove(name);
    await holders.remove(name);
  }
  await stopService(servicePaths(opts.stateDir));
}
