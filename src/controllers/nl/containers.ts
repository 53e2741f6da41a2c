/**
 * Follows container restarts promptly: Docker Engine API events (start, die, restart) enqueue the objects placed in
 * that container, so the link is re-created in the new network namespace without waiting for a resync. Without a
 * reachable Docker API this loop just retries quietly; PIDs are looked up on every reconcile anyway.
 */
import type { NetlinkInterfaceSpec } from "../../api/netlink_interface.ts";
import { placementOf, vethEnds } from "../../api/placement.ts";
import { sleep } from "../../kube/clock.ts";
import { logger } from "../../log/mod.ts";
import type { ContainerEvent, DockerClient } from "../../node/container.ts";
import { placementKey } from "../../node/placement.ts";

const log = logger("nl-controller", "containers");
const RETRY_MS = 5000;

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

/** Runs until `signal` aborts: container lifecycle events → `enqueueFor(placement keys of the event)`. */
export async function followContainers(
  docker: DockerClient,
  enqueueFor: (keys: string[]) => void,
  signal: AbortSignal,
): Promise<void> {
  let since = new Date();
  while (!signal.aborted) {
    try {
      for await (const ev of docker.events({ actions: ["start", "die", "restart"], since, signal })) {
        since = ev.time;
        log.v(2).info("container event", { action: ev.action, name: ev.name, pod: ev.pod });
        enqueueFor(eventKeys(ev));
      }
    } catch (e) {
      if (signal.aborted) return;
      log.v(2).info("container events unavailable; retrying", { error: (e as Error).message });
    }
    await sleep(RETRY_MS, signal);
  }
}
