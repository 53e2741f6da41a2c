/** Where a link lives: the spec's container block reduced to one tagged placement, plus the veth end rules. */
import type { Container } from "./common.ts";
import { DEFAULTS } from "./constants.ts";
import type { NetlinkAddress, NetlinkInterfaceSpec } from "./netlink_interface.ts";
import type { WireGuardInterfaceSpec } from "./wireguard_interface.ts";

/** A network namespace selection. */
export type Placement =
  | { kind: "host" }
  | { kind: "docker"; name: string }
  | { kind: "pod"; namespace: string; name: string }
  | { kind: "pid"; pid: number }
  | { kind: "netns-name"; name: string }
  | { kind: "netns-path"; path: string };

/**
 * The placement a container block of an object in `namespace` selects (absent or empty: the host namespace). Docker
 * wins, as in the reference; a pod is always looked up in the object's own namespace.
 */
export function placementOf(container: Container | undefined, namespace: string): Placement {
  if (container?.docker !== undefined) return { kind: "docker", name: container.docker.name };
  if (container?.pod !== undefined) return { kind: "pod", namespace, name: container.pod.name };
  const netns = container?.netns;
  if (netns?.pid !== undefined) return { kind: "pid", pid: netns.pid };
  if (netns?.name !== undefined) return { kind: "netns-name", name: netns.name };
  if (netns?.path !== undefined) return { kind: "netns-path", path: netns.path };
  return { kind: "host" };
}

/** Where a WireGuard link ends up: the container only when moveToContainer is true (container is ignored otherwise). */
export function wireGuardPlacement(
  spec: Pick<WireGuardInterfaceSpec, "moveToContainer" | "container">,
  namespace: string,
): Placement {
  return spec.moveToContainer === true ? placementOf(spec.container, namespace) : { kind: "host" };
}

/** One end of a veth pair, fully resolved. */
export interface VethEndResolved {
  interfaceName: string;
  placement: Placement;
  addresses: NetlinkAddress[];
}

/**
 * The two ends of a veth NetlinkInterface (docs/reference.md#veth-ends): local name veth.local.interfaceName or
 * interfaceName, peer name veth.peer.interfaceName or `<interfaceName>-peer`; each end's container overrides
 * spec.container; local addresses veth.local.addresses or spec.addresses; peer addresses veth.peer.addresses.
 */
export function vethEnds(
  spec: NetlinkInterfaceSpec,
  namespace: string,
): { local: VethEndResolved; peer: VethEndResolved } {
  const local = spec.veth?.local;
  const peer = spec.veth?.peer;
  return {
    local: {
      interfaceName: local?.interfaceName ?? spec.interfaceName,
      placement: placementOf(local?.container ?? spec.container, namespace),
      addresses: local?.addresses ?? spec.addresses ?? [],
    },
    peer: {
      interfaceName: peer?.interfaceName ?? `${spec.interfaceName}${DEFAULTS.vethPeerSuffix}`,
      placement: placementOf(peer?.container ?? spec.container, namespace),
      addresses: peer?.addresses ?? [],
    },
  };
}

/** The WireGuard link MTU: spec.mtu, or the default when absent or 0. */
export function wireGuardMtu(spec: Pick<WireGuardInterfaceSpec, "mtu">): number {
  return spec.mtu === undefined || spec.mtu === 0 ? DEFAULTS.wireGuardMtu : spec.mtu;
}
