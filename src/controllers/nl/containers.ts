/**
 * Follows container restarts promptly: Docker Engine API events (start, die, restart) enqueue the objects placed in
 * that container, so the link is re-created in the new network namespace without waiting for a resync. The event
 * stream is opened only while some object names a container (an agent with nothing in containers does not talk to
 * Docker at all); without a reachable Docker API it retries quietly at growing intervals. PIDs are looked up on
 * every reconcile anyway.
 */
import type { Container } from "../../api/common.ts";
import type { NetlinkInterfaceSpec } from "../../api/netlink_interface.ts";
import { sleep } from "../../kube/clock.ts";
import { logger } from "../../log/mod.ts";
import type { DockerClient } from "../../node/container.ts";

const log = logger("nl-controller", "containers");
/** Retry intervals while the Docker API is unreachable: from `first`, doubling, up to `max`. */
const RETRY_MS = { first: 5_000, max: 60_000 } as const;
/** How often an agent without container objects looks again whether one names a container now. */
const IDLE_CHECK_MS = 5_000;

/** Docker container names an NetlinkInterface spec places links in (pure). */
export function containerNames(spec: NetlinkInterfaceSpec): string[] {
  const all: (Container | undefined)[] = [spec.container, spec.veth?.local?.container, spec.veth?.peer?.container];
  return [...new Set(all.map((c) => c?.docker?.name).filter((n): n is string => !!n))];
}

/**
 * Runs until `signal` aborts: container lifecycle events → `enqueueFor(containerName)`, while `wanted()` says that
 * some object names a container (asked every `idleCheckMs` while it says no).
 */
export async function followContainers(
  docker: DockerClient,
  enqueueFor: (name: string) => void,
  signal: AbortSignal,
  wanted: () => boolean,
  idleCheckMs: number = IDLE_CHECK_MS,
): Promise<void> {
  let retry: number = RETRY_MS.first;
  let since = new Date();
  while (!signal.aborted) {
    if (!wanted()) {
      await sleep(idleCheckMs, signal);
      since = new Date(Date.now() - idleCheckMs); // replays a restart just before an object named its container
      continue;
    }
    try {
      for await (const ev of docker.events({ actions: ["start", "die", "restart"], since, signal })) {
        since = ev.time;
        retry = RETRY_MS.first;
        log.v(2).info("container event", { action: ev.action, name: ev.name });
        enqueueFor(ev.name);
      }
    } catch (e) {
      if (signal.aborted) return;
      log.v(2).info("container events unavailable; retrying", { error: (e as Error).message, in_ms: retry });
    }
    await sleep(retry, signal);
    retry = Math.min(RETRY_MS.max, retry * 2);
  }
}
