/**
 * Podman for tests: installs the `containers` setup profile when running as root (so CI really runs the
 * container tests instead of skipping them), and gives a test its own podman API service and randomly
 * named containers, all removed afterwards.
 *
 * Import this module and `await ensureContainersProfile()` BEFORE importing tests/helpers/caps.ts (dynamically),
 * because caps.ts probes for podman when it loads.
 */

import { ensureProfiles } from "../../scripts/setup.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { ensureBusyboxImage } from "../../lab/podman/image.ts";
import {
  type PodmanService,
  type ServicePaths,
  servicePaths,
  startService,
  stopService,
} from "../../lab/podman/service.ts";

/** Installs podman & co. if missing (root only; DN42OP_NO_SETUP=1 skips). Failures leave the tests to skip. */
export async function ensureContainersProfile(): Promise<void> {
  if (Deno.uid() !== 0 || Deno.env.get("DN42OP_NO_SETUP")) return;
  try {
    await ensureProfiles(["containers"]);
  } catch (e) {
    console.error(`podman fixture: setup containers failed, podman tests will skip: ${(e as Error).message}`);
  }
}

/** A random name with the lab tests' prefix, e.g. `dn42op-lt-c-1a2b3c4d`. */
export function testName(tag: string): string {
  return `dn42op-lt-${tag}-${crypto.randomUUID().slice(0, 8)}`;
}

/** What {@link withPodman} hands a test. */
export interface PodmanFixture {
  podman: Podman;
  service: PodmanService;
  /** The service's files (for starting it again on the same socket); whatever runs there is stopped at the end. */
  paths: ServicePaths;
  /** Starts a container with a fresh random name (removed at the end), with extra labels; returns name and PID. */
  container(tag?: string, labels?: Record<string, string>): Promise<{ name: string; pid: number }>;
}

/** Runs `fn` with an API service on a private socket; removes its containers, service and temp dir afterwards. */
export async function withPodman<T>(fn: (f: PodmanFixture) => Promise<T>): Promise<T> {
  const podman = new Podman();
  await ensureBusyboxImage(podman);
  const dir = await Deno.makeTempDir({ prefix: "dn42op-lt-" });
  const made: string[] = [];
  const paths = servicePaths(dir);
  try {
    const service = await startService(podman, paths);
    return await fn({
      podman,
      service,
      paths,
      container: async (tag = "c", labels) => {
        const name = testName(tag);
        made.push(name);
        return { name, pid: await podman.ensureContainer(name, { owner: "test", labels }) };
      },
    });
  } finally {
    for (const name of made) await podman.remove(name);
    await stopService(paths);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Inode of a network namespace file (`/proc/<pid>/ns/net`, `/proc/self/ns/net`): equal inodes = same netns. */
export async function netnsInode(path: string): Promise<number> {
  return (await Deno.stat(path)).ino!;
}
