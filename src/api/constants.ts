/**
 * Strings and defaults of the networking.dn42.io API that other layers and the reference implementation depend on
 * (docs/reference.md). Everything here is a typed constant; nothing is computed.
 */

/** API group of every kind in this project. */
export const GROUP = "networking.dn42.io";
/** The only served and stored version. */
export const VERSION = "v1alpha1";
/** `group/version`, the value of `apiVersion` in manifests. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Kind, list kind, plural, singular and short names of each custom resource. */
export const KINDS = {
  WireGuardInterface: {
    kind: "WireGuardInterface",
    listKind: "WireGuardInterfaceList",
    plural: "wireguardinterfaces",
    singular: "wireguardinterface",
    shortNames: ["wgi", "wgif"],
  },
  WireGuardNetworkPlan: {
    kind: "WireGuardNetworkPlan",
    listKind: "WireGuardNetworkPlanList",
    plural: "wireguardnetworkplans",
    singular: "wireguardnetworkplan",
    shortNames: ["wgplan", "wgp"],
  },
  NetlinkInterface: {
    kind: "NetlinkInterface",
    listKind: "NetlinkInterfaceList",
    plural: "netlinkinterfaces",
    singular: "netlinkinterface",
    shortNames: ["nl", "nli", "nlif"],
  },
} as const;

/** One of the three kinds. */
export type KindName = keyof typeof KINDS;

/** Labels and annotations the plan controller puts on the WireGuardInterfaces it generates. */
export const PLAN_LABELS = {
  resourceId: "networkplan.networking.dn42.io/resource-id",
  configHash: "networkplan.networking.dn42.io/config-hash",
  isControlledBy: "networkplan.networking.dn42.io/is-controlled-by",
} as const;

/** Annotation holding the plan generation a child was generated from (decimal string). */
export const PLAN_PARENT_GENERATION_ANNOTATION = "networkplan.networking.dn42.io/parent-observed-generation";

/**
 * Annotation of a child whose private key the plan keeps in its own key Secret: the public key the plan controller
 * recorded for it. The node agent refuses a key from that Secret with another public key (changed by someone else).
 */
export const PLAN_PUBLIC_KEY_ANNOTATION = "networkplan.networking.dn42.io/public-key";

/**
 * Annotation of a plan announcing a key rotation (`dn42op keys rotate`): JSON `{"<node>": "<public key>"}` of the keys
 * written into the plan's key Secret. Only who may update the plan can announce one, so the plan controller trusts a
 * stored key with an announced public key as it trusts one it recorded itself.
 */
export const PLAN_ROTATED_KEYS_ANNOTATION = "networkplan.networking.dn42.io/rotated-keys";

/** Finalizer strings known from the reference (its examples and generated children). */
export const FINALIZERS = {
  /** Put on the WireGuardInterfaces a plan generates. */
  planChild: "networkplan.networking.dn42.io/finalizer",
  wireGuardInterface: "wireguardinterface.networking.dn42.io/finalizer",
  /** Note the plural, as in the reference's plan example. */
  wireGuardNetworkPlan: "wireguardnetworkplans.networking.dn42.io/finalizer",
  netlinkInterface: "netlinkinterface.networking.dn42.io/finalizer",
} as const;

/** Field managers and Event components of the three programs (the reference's names). */
export const FIELD_MANAGERS = {
  wgController: "wg-controller",
  wgplanController: "wgplan-controller",
  nlController: "netlink-controller",
} as const;

/** Defaults that compatibility depends on. */
export const DEFAULTS = {
  /** WireGuard link MTU when spec.mtu is absent or 0. */
  wireGuardMtu: 1420,
  /** persistentKeepalive (seconds) on every interface a plan generates for a node without underlay. */
  natKeepaliveSeconds: 25,
  /** allowedIPs on every peer a plan generates. */
  planAllowedIPs: ["0.0.0.0/0", "::/0"] as readonly string[],
  /** Suffix of a veth peer's name when veth.peer.interfaceName is not set. */
  vethPeerSuffix: "-peer",
} as const;

/** The field selectable server-side on all three kinds (node agents watch only their own objects). */
export const NODE_FIELD = "spec.node";

/** Condition types written by the controllers (metav1.Condition shape). */
export const CONDITION_TYPES = {
  /** True when the node (or, for a plan, every child) matches the spec. */
  Ready: "Ready",
  /** True while the controller is changing things towards the spec. */
  Progressing: "Progressing",
  /** True when the controller cannot reach the spec (bad reference, kernel error, ...). */
  Degraded: "Degraded",
  /** A plan: True when every node's wg-controller publishes its heartbeat (src/plan/agents.ts). */
  AgentsAvailable: "AgentsAvailable",
} as const;

/** A condition type. */
export type ConditionType = typeof CONDITION_TYPES[keyof typeof CONDITION_TYPES];

/**
 * Condition reasons (UpperCamelCase, as metav1.Condition requires). Each says which field or state is at fault
 * so that `kubectl get -o yaml` explains itself.
 */
export const CONDITION_REASONS = {
  /** Ready=True: the kernel matches the spec. */
  Reconciled: "Reconciled",
  /** Progressing=True: changes are being applied. */
  Reconciling: "Reconciling",
  /** Ready=False/Unknown before the first pass. */
  Pending: "Pending",
  /** A Secret reference points into another namespace; refused (confused-deputy fix). */
  SecretNamespaceForbidden: "SecretNamespaceForbidden",
  /** The referenced Secret or key does not exist. */
  SecretNotFound: "SecretNotFound",
  /** The key material is not a valid WireGuard key (the key itself is never reported). */
  InvalidKey: "InvalidKey",
  /** The placement (docker container, pid, named netns, path) cannot be resolved. */
  PlacementNotFound: "PlacementNotFound",
  /** The placement is refused: pid <= 1, or a pid/path that leads back to the agent's own host namespace. */
  PlacementForbidden: "PlacementForbidden",
  /** A link with the wanted name exists and belongs to another object, or is unmanaged and differs from the spec. */
  LinkConflict: "LinkConflict",
  /** The spec cannot be turned into a kernel configuration (e.g. an endpoint that does not resolve). */
  InvalidSpec: "InvalidSpec",
  /** A link this one depends on (bridge slave, vxlan dev, vlan/macvlan parent) is missing. */
  DependencyNotFound: "DependencyNotFound",
  /** The kernel refused an operation. */
  KernelError: "KernelError",
  /**
   * Some peers could not be configured (a preshared-key Secret is missing, an endpoint does not resolve); the rest of
   * the interface, peer removals included, is applied.
   */
  PeersDegraded: "PeersDegraded",
  /** Deleting: whether the link is gone cannot be confirmed (container runtime unreachable); the finalizer stays. */
  DeletionBlocked: "DeletionBlocked",
  /** A peer's endpoint host name does not resolve (Event reason; the peer keeps its endpoint). */
  EndpointUnresolvable: "EndpointUnresolvable",
  /** The node's kernel lacks the link kind of spec.type (EOPNOTSUPP: not built, or its module not loaded). */
  KindUnsupported: "KindUnsupported",
  /** An immutable kernel parameter changed and the link is being recreated. */
  Recreating: "Recreating",
  /** A plan: some children are not Ready yet. */
  ChildrenNotReady: "ChildrenNotReady",
  /** A plan: the plan cannot be expanded (unknown node, port range exhausted, ...). */
  InvalidPlan: "InvalidPlan",
  /** A plan: a generated name is taken by an object this plan does not own. */
  NameConflict: "NameConflict",
  /** A plan, or its child: its key Secret holds keys the plan controller did not write (planted or changed). */
  KeySecretNotTrusted: "KeySecretNotTrusted",
  /** A plan: every node's wg-controller is alive. */
  AgentsAlive: "AgentsAlive",
  /** A plan: some nodes have no running wg-controller (never seen, stopped, or gone). */
  AgentsMissing: "AgentsMissing",
} as const;

/** A condition reason. */
export type ConditionReason = typeof CONDITION_REASONS[keyof typeof CONDITION_REASONS];
