/**
 * `podman system service --time=0 unix://<path>`: podman's Docker-compatible API, which the controllers use to
 * find containers by name. Started detached (it outlives `lab:up`), recorded in a PID file, and stopped by
 * that PID only after checking the process is really this service.
 */

import { DockerClient } from "../../src/node/container.ts";
import { killAndWait, processAlive, processCmdline, spawnDetached } from "../../kit/proc.ts";
import type { Podman } from "./podman.ts";
import { refChild } from "../../src/wireguard/child.ts";

/** A running API service. */
export interface PodmanService {
  socketPath: string;
  pid: number;
  /** `DOCKER_HOST` value for clients. */
  dockerHost: string;
  /** Stops the process (by PID) and removes its socket and PID file. */
  stop(): Promise<void>;
}

/** Where a service keeps its files. */
export interface ServicePaths {
  socketPath: string;
  pidFile: string;
  logFile: string;
}

/** The paths of a service whose files live in `dir`. */
export function servicePaths(dir: string): ServicePaths {
  return {
    socketPath: `${dir}/podman.sock`,
    pidFile: `${dir}/podman-service.pid`,
    logFile: `${dir}/podman-service.log`,
  };
}

async function readPid(pidFile: string): Promise<number | null> {
  try {
    const n = Number((await Deno.readTextFile(pidFile)).trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is a live `podman system service` serving `socketPath` (guards against PID reuse). */
async function isOurService(pid: number, socketPath: string): Promise<boolean> {
  if (!await processAlive(pid)) return false;
  const argv = await processCmdline(pid);
  return argv.includes("service") && argv.includes(`unix://${socketPath}`);
}

async function answers(socketPath: string): Promise<boolean> {
  using c = new DockerClient({ socketPath, timeoutMs: 1000 });
  try {
    await c.ping();
    return true;
  } catch {
    return false;
  }
}

async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
}

function handle(paths: ServicePaths, pid: number, child?: Deno.ChildProcess): PodmanService {
  return {
    socketPath: paths.socketPath,
    pid,
    dockerHost: `unix://${paths.socketPath}`,
    stop: async () => {
      if (await isOurService(pid, paths.socketPath)) await killAndWait(pid, "SIGTERM", 5000);
      if (child) refChild(child); // an unref'd child's status would not keep the event loop alive
      await child?.status; // reap our own child so it does not linger as a zombie
      await removeQuietly(paths.socketPath);
      await removeQuietly(paths.pidFile);
    },
  };
}

/**
 * Starts the service on `paths.socketPath` unless one recorded in `paths.pidFile` already answers there
 * (idempotent), and waits until `GET /_ping` answers (up to `timeoutMs`: at the start of the suite, beside the
 * heaviest end-to-end files, the type check and the kernel tier's boot, 15 s was not always enough; a service that
 * exits fails at once). Output goes to `paths.logFile`.
 */
export async function startService(podman: Podman, paths: ServicePaths, timeoutMs = 60_000): Promise<PodmanService> {
  const old = await readPid(paths.pidFile);
  if (old && await isOurService(old, paths.socketPath) && await answers(paths.socketPath)) return handle(paths, old);
  if (old && await isOurService(old, paths.socketPath)) await killAndWait(old);
  await removeQuietly(paths.socketPath);
  const dir = paths.socketPath.slice(0, paths.socketPath.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true });
  const child = spawnDetached(["podman", "system", "service", "--time=0", `unix://${paths.socketPath}`], {
    env: await podman.env(),
    logFile: paths.logFile,
  });
  await Deno.writeTextFile(paths.pidFile, `${child.pid}\n`);
  const svc = handle(paths, child.pid, child);
  const deadline = Date.now() + timeoutMs;
  while (!await answers(paths.socketPath)) {
    const exited = !await processAlive(child.pid);
    if (exited || Date.now() > deadline) {
      const log = (await Deno.readTextFile(paths.logFile).catch(() => "")).trim().split("\n").slice(-3).join(" | ");
      await svc.stop();
      throw new Error(
        `podman system service on ${paths.socketPath} ${exited ? "exited" : `not answering after ${timeoutMs} ms`}` +
          (log ? `: ${log}` : ""),
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return svc;
}

/** Stops the service recorded in `paths.pidFile`, if any (for `lab:down` from another process). Idempotent. */
export async function stopService(paths: ServicePaths): Promise<void> {
  const pid = await readPid(paths.pidFile);
  if (pid) await handle(paths, pid).stop();
  else await removeQuietly(paths.socketPath);
}
