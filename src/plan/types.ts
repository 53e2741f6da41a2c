/**
 * The API shapes the plan expansion reads and writes, taken from src/api: the WireGuardNetworkPlan spec and the
 * WireGuardInterface spec it generates, with the fields the plan always sets made required.
 */
import type { WireGuardNetworkPlanSpec } from "../api/wireguard_network_plan.ts";
import type { WireGuardInterfaceSpec, WireGuardPeer } from "../api/wireguard_interface.ts";

export type { Container, PortRange, SecretKeyRef, WireGuardAddress } from "../api/common.ts";
export type { PlanNode, WireGuardNetworkPlanSpec } from "../api/wireguard_network_plan.ts";
export type { WireGuardPeer } from "../api/wireguard_interface.ts";

/** One adjacency entry of a plan. */
export type PlanLink = NonNullable<WireGuardNetworkPlanSpec["links"]>[number];
/** One target of a links entry. */
export type PlanLinkTarget = PlanLink["toNodes"][number];

/** A WireGuardInterface spec as the plan generates it: the private key always by Secret reference. */
export type GeneratedInterfaceSpec =
  & Required<
    Pick<
      WireGuardInterfaceSpec,
      "node" | "interfaceName" | "moveToContainer" | "privateKeySecretRef" | "addresses" | "listenPort" | "mtu"
    >
  >
  & Pick<WireGuardInterfaceSpec, "container">
  & { peers: WireGuardPeer[] };
