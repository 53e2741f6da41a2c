/**
 * The API shapes the plan expansion reads and writes: the WireGuardNetworkPlan spec (reference §1.2, afab4232 layout)
 * and the WireGuardInterface spec it generates (§3.2.5). Structural twins of the src/api types, kept here until the
 * api branch lands so the pure expansion does not depend on it.
 */

/** An inclusive UDP port range. */
export interface PortRange {
  start: number;
  end: number;
}

/** A reference to one key of a Secret. */
export interface SecretKeyRef {
  name: string;
  key: string;
  namespace?: string;
}

/** Container network namespace selection, copied into generated interfaces as is. */
export interface Container {
  docker?: { name: string };
  netns?: Record<string, unknown>;
  [other: string]: unknown;
}

/** A point-to-point (or plain) address of a WireGuard link. */
export interface WireGuardAddress {
  family: string;
  local: string;
  peer?: string;
  prefixlen: number;
}

/** One node of a plan. */
export interface PlanNode {
  nodeName: string;
  underlay?: { hostname: string; portRange?: PortRange };
  privateKey?: string;
  privateKeyRef?: SecretKeyRef;
  moveToContainer?: boolean;
  container?: Container;
  mtu?: number;
  addresses?: WireGuardAddress[];
}

/** One target of a links entry. */
export interface PlanLinkTarget {
  nodeName: string;
  addresses?: WireGuardAddress[];
  overrideAddresses?: boolean;
}

/** One adjacency entry. */
export interface PlanLink {
  fromNode: string;
  toNodes: PlanLinkTarget[];
}

/** WireGuardNetworkPlan spec. */
export interface WireGuardNetworkPlanSpec {
  defaultPortRange: PortRange;
  nodes?: PlanNode[];
  links?: PlanLink[];
}

/** One peer of a generated interface. */
export interface WireGuardPeer {
  publicKey: string;
  allowedIPs?: string[];
  endpoint?: string;
  persistentKeepalive?: number;
}

/** WireGuardInterface spec as the plan generates it (the private key always by Secret reference). */
export interface WireGuardInterfaceSpec {
  node: string;
  interfaceName: string;
  moveToContainer: boolean;
  container?: Container;
  privateKeySecretRef: SecretKeyRef;
  addresses: WireGuardAddress[];
  listenPort: number;
  mtu: number;
  peers: WireGuardPeer[];
}
