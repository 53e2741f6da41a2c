/**
 * Follows container restarts promptly: Docker Engine API events (start, die, restart) enqueue the objects placed in
 * that container, so the link is re-created in the new network namespace without waiting for a resync. The event
 * stream is opened only while some object names a container (an agent with nothing in containers does not talk to
 * Docker at all); without a reachable Docker API it retries quietly at growing intervals. PIDs are looked up on
 * every reconcile anyway.
 */
import type { NetlinkInterfaceSpec } from "../../api/netlink_interface.ts";
import { placementOf, vethEnds } from "../../api/placement.ts";
import { sleep } from "../../kube/clock.ts";
import { logger } from "../../log/mod.ts";
import type { ContainerEvent, DockerClient } from "../../node/container.ts";
import { placementKey } from "../../node/placement.ts";

const log = logger("nl-controller", "containers");
/** Retry intervals while the Docker API is unreachable: from `first`, doubling, up to `max`. */
const RETRY_MS = { first: 5_000, max: 60_000 } as const;
/** How often an agent without container objects looks again whether one names a container now. */
const IDLE_CHECK_MS = 5_000;

/**
 * Placement keys of the containers and Pods a NetlinkInterface of `namespace` places links in (pure): `docker:<name>`,
 * `pod:<namespace>/<name>`.
 */
export function containerKeys(spec: NetlinkInterfaceSpec, namespace: string): string[] {
  const placements = spec.type === "veth"
    ? Object.values(vethEnds(spec, namespace)).map((e) => e.placement)
    : [placementOf(spec.container, namespace)];
  return [...new Set(placements.filter((p) => p.kind === "docker" || p.kind === "pod").map(placementKey))];
}

/** The placement keys a container event concerns: the container's name and, for a Pod's container, the Pod. */
export function eventKeys(ev: ContainerEvent): string[] {
  return [...(ev.name ? [`docker:${ev.name}`] : []), ...(ev.pod ? [`pod:${ev.pod}`] : [])];
}

/**
 * Runs until `signal` aborts: container lifecycle events → `enqueueFor(placement keys of the event)`, while
 * `wanted()` says that some object names a container or Pod (asked every `idleCheckMs` while it says no).
 */
export async function followContainers(
  docker: DockerClient,
  enqueueFor: (keys: string[]) => void,
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
        log.v(2).info("container event", { action: ev.action, name: ev.name, pod: ev.pod });
        enqueueFor(eventKeys(ev));
      }
    } catch (e) {
      if (signal.aborted) return;
      log.v(2).info("container events unavailable; retrying", { error: (e as Error).message, in_ms: retry });
    }
    await sleep(retry, signal);
    retry = Math.min(RETRY_MS.max, retry * 2);
  }
}
