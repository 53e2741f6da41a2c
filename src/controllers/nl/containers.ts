/**
 * Follows container restarts promptly: Docker Engine API events (start, die, restart) enqueue the objects placed in
 * that container, so the link is re-created in the new network namespace without waiting for a resync. Without a
 * reachable Docker API this loop just retries quietly; PIDs are looked up on every reconcile anyway.
 */
import type { Container } from "../../api/common.ts";
import type { NetlinkInterfaceSpec } from "../../api/netlink_interface.ts";
import { sleep } from "../../kube/clock.ts";
import { logger } from "../../log/mod.ts";
import type { DockerClient } from "../../node/container.ts";

const log = logger("nl-controller", "containers");
const RETRY_MS = 5000;

/** Docker container names an NetlinkInterface spec places links in (pure). */
export function containerNames(spec: NetlinkInterfaceSpec): string[] {
  const all: (Container | undefined)[] = [spec.container, spec.veth?.local?.container, spec.veth?.peer?.container];
  return [...new Set(all.map((c) => c?.docker?.name).filter((n): n is string => !!n))];
}

/** Runs until `signal` aborts: container lifecycle events → `enqueueFor(containerName)`. */
export async function followContainers(
  docker: DockerClient,
  enqueueFor: (name: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let since = new Date();
  while (!signal.aborted) {
    try {
      for await (const ev of docker.events({ actions: ["start", "die", "restart"], since, signal })) {
        since = ev.time;
        log.v(2).info("container event", { action: ev.action, name: ev.name });
        enqueueFor(ev.name);
      }
    } catch (e) {
      if (signal.aborted) return;
      log.v(2).info("container events unavailable; retrying", { error: (e as Error).message });
    }
    await sleep(RETRY_MS, signal);
  }
}
