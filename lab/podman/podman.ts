/**
 * The podman CLI with the lab's private configuration: container lifecycle by name (always `--network none`,
 * so podman never touches iptables or ip_forward), PID lookup, and a usability probe.
 */

import { CommandError, exec, run } from "../../kit/proc.ts";
import { ensureCgroupMounts } from "./cgroups.ts";
import { DEFAULT_PODMAN_DIRS, type PodmanDirs, writePodmanConfig } from "./config.ts";

/** The lab's image: a busybox-static rootfs imported with `podman import` (see image.ts). */
export const LAB_IMAGE = "localhost/dn42op-busybox:latest";

/** Label put on every container we create, holding who created it (`lab`, `test`). */
export const OWNER_LABEL = "io.dn42op.owner";

/** What `podman inspect` says about a container. */
export interface PodmanContainerState {
  running: boolean;
  pid: number;
  status: string;
}

/** Options of {@link Podman.ensureContainer}. */
export interface ContainerOptions {
  /** Value of {@link OWNER_LABEL}. */
  owner?: string;
  /** Image to run; default {@link LAB_IMAGE}. */
  image?: string;
  /** More labels (e.g. the kubelet's pod labels, for a container playing a Pod's). */
  labels?: Record<string, string>;
}

/** Podman with a private configuration (see config.ts). */
export class Podman {
  #env?: Record<string, string>;

  constructor(readonly dirs: PodmanDirs = DEFAULT_PODMAN_DIRS) {}

  /**
   * The environment podman runs with (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF); writes the config once, and
   * makes sure runc can see the cgroup hierarchies (see cgroups.ts).
   */
  async env(): Promise<Record<string, string>> {
    if (!this.#env) {
      await ensureCgroupMounts();
      this.#env = await writePodmanConfig(this.dirs);
    }
    return this.#env;
  }

  /** Runs `podman <args>`, returning stdout; throws CommandError naming the command on failure. */
  async run(...args: string[]): Promise<string> {
    return await run(["podman", ...args], { env: await this.env() });
  }

  /**
   * Returns null when podman and its runtime (runc) are installed and podman accepts the private configuration,
   * otherwise why not. Cheap (`podman version`, 0.3 s; `podman info` takes 1.5 s); whether containers really
   * start is only known when one is started.
   */
  async unusableReason(): Promise<string | null> {
    let r;
    try {
      r = await exec(["podman", "version", "--format", "{{.Client.Version}}"], { env: await this.env() });
    } catch (e) {
      return e instanceof Deno.errors.NotFound ? "podman is not installed (deno task setup containers)" : String(e);
    }
    if (r.code !== 0) return `podman version failed: ${r.stderr.trim()}`;
    const runc = await exec(["runc", "--version"]).catch(() => null);
    if (!runc || runc.code !== 0) return "runc is not installed (deno task setup containers)";
    return null;
  }

  /** State of a container, or null when no container has that name. */
  async inspect(name: string): Promise<PodmanContainerState | null> {
    const r = await exec(
      ["podman", "container", "inspect", "--format", "{{.State.Running}} {{.State.Pid}} {{.State.Status}}", name],
      { env: await this.env() },
    );
    if (r.code !== 0) {
      if (/no such container/i.test(r.stderr)) return null;
      throw new CommandError(["podman", "container", "inspect", name], r.code, r.stderr);
    }
    const [running, pid, status] = r.stdout.trim().split(" ");
    return { running: running === "true", pid: Number(pid), status };
  }

  /** Init PID of a running container; throws naming the container when it is absent or stopped. */
  async pid(name: string): Promise<number> {
    const st = await this.inspect(name);
    if (!st) throw new Error(`podman: container "${name}" does not exist`);
    if (!st.running || st.pid <= 0) throw new Error(`podman: container "${name}" is not running (${st.status})`);
    return st.pid;
  }

  /**
   * Makes sure a container `name` runs (idempotent: creates it, or starts it if stopped) with no network
   * (`--network none`: a fresh netns with only lo) and catatonit as init so it stops promptly. Returns its PID.
   */
  async ensureContainer(name: string, opts: ContainerOptions = {}): Promise<number> {
    const st = await this.inspect(name);
    if (st?.running) return st.pid;
    if (st) await this.run("start", name);
    else {
      await this.run(
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        name,
        "--network",
        "none",
        "--init",
        "--label",
        `${OWNER_LABEL}=${opts.owner ?? "lab"}`,
        ...Object.entries(opts.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
        opts.image ?? LAB_IMAGE,
        "sleep",
        "infinity",
      );
    }
    return await this.pid(name);
  }

  /** Stops a running container (its netns disappears). */
  async stop(name: string): Promise<void> {
    await this.run("stop", "--time", "2", name);
  }

  /** Starts a stopped container; returns the new PID. */
  async start(name: string): Promise<number> {
    await this.run("start", name);
    return await this.pid(name);
  }

  /** Restarts a container (new init process, new network namespace); returns the new PID. */
  async restart(name: string): Promise<number> {
    await this.run("restart", "--time", "2", name);
    return await this.pid(name);
  }

  /** Removes a container whether running or not; absent is fine. */
  async remove(name: string): Promise<void> {
    await this.run("rm", "--force", "--ignore", "--time", "0", name);
  }

  /** Names of the containers carrying our owner label with this value. */
  async listOwned(owner: string): Promise<string[]> {
    const out = await this.run("ps", "--all", "--filter", `label=${OWNER_LABEL}=${owner}`, "--format", "{{.Names}}");
    return out.split("\n").map((s) => s.trim()).filter(Boolean);
  }
}

/**
 * iptables chains named NETAVARK* in the current network namespace (filter and nat tables). The lab never
 * uses podman networks, so this must stay empty; a non-empty result means something created a podman network.
 */
export async function netavarkChains(): Promise<string[]> {
  const chains: string[] = [];
  for (const table of ["filter", "nat"]) {
    const r = await exec(["iptables", "-t", table, "-S"]);
    if (r.code !== 0) continue;
    for (const line of r.stdout.split("\n")) {
      const m = /^-N (NETAVARK\S*)/.exec(line);
      if (m) chains.push(`${table}/${m[1]}`);
    }
  }
  return chains;
}
