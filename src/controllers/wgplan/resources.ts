/** The API resources the wgplan-controller reads and writes, and their object shapes as seen through src/kube. */
import { GROUP, KINDS, VERSION } from "../../api/constants.ts";
import type { WireGuardNetworkPlan } from "../../api/wireguard_network_plan.ts";
import type { WireGuardInterfaceStatus } from "../../api/wireguard_interface.ts";
import type { KubeObject, ResourceType } from "../../kube/client.ts";

/** WireGuardNetworkPlans. */
export const PLANS: ResourceType = { group: GROUP, version: VERSION, plural: KINDS.WireGuardNetworkPlan.plural };
/** WireGuardInterfaces (the children). */
export const INTERFACES: ResourceType = { group: GROUP, version: VERSION, plural: KINDS.WireGuardInterface.plural };
/** core/v1 Secrets (node keys). */
export const SECRETS: ResourceType = { group: "", version: "v1", plural: "secrets" };

/** A plan as read from the API. */
export type PlanObject = WireGuardNetworkPlan;

/** A WireGuardInterface as read from the API. */
export interface InterfaceObject extends KubeObject {
  spec?: unknown;
  status?: WireGuardInterfaceStatus;
}

/** A Secret as read from the API (data values are base64). */
export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}
