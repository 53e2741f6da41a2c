/**
 * Plan expansion: a WireGuardNetworkPlan spec plus the nodes' keys → the WireGuardInterfaces it stands for
 * (docs/reference.md#plan-expansion), as a pure function. Unlike the reference it never fails as a whole: every link that cannot be
 * generated is reported as a {@link PlanProblem} and "held" (not created; an existing child of that name is left
 * untouched), while every valid link is still generated.
 *
 * Fixed reference bugs (docs/reference.md#plan-index, #plan-names): the index of a link is the position of the toNode among all toNodes of the
 * fromNode across every links entry (sorted by name), so repeated fromNode entries cannot collide; listen ports past
 * the range end, links without their reverse, unknown nodes, NAT-to-NAT pairs, duplicate entries and name collisions
 * are reported; names are checked and shortened deterministically (see names.ts).
 */
import { DEFAULTS } from "../api/constants.ts";
import { fullLinkName, interfaceNameFor, labelValueFor, objectNameFor, resourceId as resourceIdOf } from "./names.ts";
import type {
  GeneratedInterfaceSpec,
  PlanLinkTarget,
  PlanNode,
  PortRange,
  SecretKeyRef,
  WireGuardAddress,
  WireGuardNetworkPlanSpec,
  WireGuardPeer,
} from "./types.ts";

/** A node's usable key: its public key (base64) and where the generated interfaces find the private key. */
export interface NodeKey {
  publicKey: string;
  secretRef: SecretKeyRef;
  /** Kept in the plan's own key Secret (generated or inline), so children carry its public key to be checked. */
  inPlanSecret?: boolean;
}

/** Why a node or link could not be expanded. */
export type ProblemReason =
  | "DuplicateNode"
  | "DuplicateLink"
  | "SelfLink"
  | "UnknownNode"
  | "NotBidirectional"
  | "PortOutOfRange"
  | "NatToNat"
  | "KeyUnavailable"
  | "NameCollision"
  | "SecretNamespaceForbidden"
  | "SecretNotFound"
  | "InvalidKey"
  | "NameConflict"
  | "KeySecretNotTrusted";

/** One problem of a plan, with a message naming the spec field or link at fault. */
export interface PlanProblem {
  reason: ProblemReason;
  message: string;
}

/** One interface the plan stands for. */
export interface DesiredInterface {
  /** metadata.name of the WireGuardInterface. */
  objectName: string;
  /** Value of the resource-id label (bounded to a label value). */
  resourceId: string;
  fromNode: string;
  toNode: string;
  /** The link's index among fromNode's links (see {@link allocateIndexes}). */
  index: number;
  /** The reference's name `wg-<from>-<to>-<idx>`; differs from spec.interfaceName when that had to be shortened. */
  fullInterfaceName: string;
  spec: GeneratedInterfaceSpec;
  /** The public key the private key must have, when it is kept in the plan's own key Secret. */
  expectedPublicKey?: string;
}

/** Result of an expansion. */
export interface Expansion {
  /** Interfaces to create or keep, sorted by object name. */
  interfaces: DesiredInterface[];
  /** Object names of links that could not be generated; existing children with these names stay as they are. */
  held: string[];
  problems: PlanProblem[];
}

interface Link {
  from: string;
  to: string;
  index: number;
  target: PlanLinkTarget;
  fullName: string;
  objectName: string;
}

/** The port range of a node: its underlay's, else the plan default (reference behaviour, also for NAT nodes). */
function portRangeOf(node: PlanNode, spec: WireGuardNetworkPlanSpec): PortRange {
  return node.underlay?.portRange ?? spec.defaultPortRange;
}

/** `host:port`, bracketing IPv6 literals. */
function endpointOf(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Byte-order comparison of node names (the reference sorts Go strings). */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Node table; duplicates are reported and the first declaration wins. */
function nodeTable(spec: WireGuardNetworkPlanSpec, problems: PlanProblem[]): Map<string, PlanNode> {
  const nodes = new Map<string, PlanNode>();
  for (const [i, node] of (spec.nodes ?? []).entries()) {
    if (nodes.has(node.nodeName)) {
      problems.push({
        reason: "DuplicateNode",
        message: `spec.nodes[${i}].nodeName: node ${node.nodeName} is declared more than once; the first one is used`,
      });
      continue;
    }
    nodes.set(node.nodeName, node);
  }
  return nodes;
}

/** Link indexes already in use: fromNode → toNode → index (read back from the existing children). */
export type Allocations = ReadonlyMap<string, ReadonlyMap<string, number>>;

/**
 * Indexes of one node's targets. Targets that already have an index keep it (a duplicate index is kept only by the
 * first target by name); the others, in name order, get the lowest free indexes. Without previous allocations this is
 * exactly the reference's rule (position in the sorted list), and adding or removing a target never renumbers the
 * others (docs/design.md: sorted allocation shifts on insertion).
 */
export function allocateIndexes(sorted: string[], previous?: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const to of sorted) {
    const idx = previous?.get(to);
    if (idx !== undefined && Number.isSafeInteger(idx) && idx >= 0 && !used.has(idx)) {
      out.set(to, idx);
      used.add(idx);
    }
  }
  let free = 0;
  for (const to of sorted) {
    if (out.has(to)) continue;
    while (used.has(free)) free++;
    out.set(to, free);
    used.add(free);
  }
  return out;
}

/**
 * All links, indexed per fromNode across every links entry: targets are merged in declaration order (a repeated pair
 * is reported, the first wins), then given indexes by {@link allocateIndexes}.
 */
function linkTable(
  spec: WireGuardNetworkPlanSpec,
  previous: Allocations,
  problems: PlanProblem[],
): Map<string, Map<string, Link>> {
  const targets = new Map<string, Map<string, PlanLinkTarget>>();
  for (const [i, entry] of (spec.links ?? []).entries()) {
    const mine = targets.get(entry.fromNode) ?? new Map<string, PlanLinkTarget>();
    targets.set(entry.fromNode, mine);
    for (const [j, target] of entry.toNodes.entries()) {
      const field = `spec.links[${i}].toNodes[${j}]`;
      if (target.nodeName === entry.fromNode) {
        problems.push({ reason: "SelfLink", message: `${field}: node ${entry.fromNode} cannot link to itself` });
      } else if (mine.has(target.nodeName)) {
        problems.push({
          reason: "DuplicateLink",
          message:
            `${field}: link ${entry.fromNode} → ${target.nodeName} is declared more than once; the first is used`,
        });
      } else {
        mine.set(target.nodeName, target);
      }
    }
  }
  const links = new Map<string, Map<string, Link>>();
  for (const from of [...targets.keys()].sort(byName)) {
    const mine = targets.get(from)!;
    const row = new Map<string, Link>();
    const sorted = [...mine.keys()].sort(byName);
    const indexes = allocateIndexes(sorted, previous.get(from));
    for (const to of sorted) {
      const index = indexes.get(to)!;
      const fullName = fullLinkName(from, to, index);
      row.set(to, { from, to, index, target: mine.get(to)!, fullName, objectName: objectNameFor(fullName) });
    }
    links.set(from, row);
  }
  return links;
}

/** Problems of one direction of a link, each reported once. */
function linkProblems(
  link: Link,
  nodes: Map<string, PlanNode>,
  links: Map<string, Map<string, Link>>,
  spec: WireGuardNetworkPlanSpec,
): PlanProblem[] {
  const name = `link ${link.from} → ${link.to}`;
  const out: PlanProblem[] = [];
  for (const n of [link.from, link.to]) {
    if (!nodes.has(n)) out.push({ reason: "UnknownNode", message: `${name}: node ${n} is not in spec.nodes` });
  }
  if (out.length) return out;
  if (!links.get(link.to)?.has(link.from)) {
    out.push({
      reason: "NotBidirectional",
      message: `${name}: ${link.to} has no link back to ${link.from}; add ${link.from} to the toNodes of ${link.to}`,
    });
  }
  const from = nodes.get(link.from)!;
  const range = portRangeOf(from, spec);
  if (range.start + link.index > range.end) {
    out.push({
      reason: "PortOutOfRange",
      message: `${name}: listen port ${range.start + link.index} (index ${link.index}) is past the end of the ` +
        `port range ${range.start}-${range.end} of node ${link.from}`,
    });
  }
  if (link.from < link.to && !from.underlay && !nodes.get(link.to)!.underlay) {
    out.push({
      reason: "NatToNat",
      message: `${name}: both nodes are behind NAT (no underlay), no tunnel is possible between them`,
    });
  }
  return out;
}

/** Addresses of the fromNode side: node-level ones, then the link's (appended, or replacing with override). */
function addressesOf(node: PlanNode, target: PlanLinkTarget): WireGuardAddress[] {
  const own = target.addresses ?? [];
  return target.overrideAddresses ? [...own] : [...(node.addresses ?? []), ...own];
}

/** The interface of one valid link. */
function desiredOf(
  link: Link,
  reverse: Link,
  nodes: Map<string, PlanNode>,
  keys: ReadonlyMap<string, NodeKey>,
  spec: WireGuardNetworkPlanSpec,
): DesiredInterface {
  const from = nodes.get(link.from)!;
  const to = nodes.get(link.to)!;
  const fromKey = keys.get(link.from)!;
  const peer: WireGuardPeer = { publicKey: keys.get(link.to)!.publicKey, allowedIPs: [...DEFAULTS.planAllowedIPs] };
  if (to.underlay?.hostname) {
    peer.endpoint = endpointOf(to.underlay.hostname, portRangeOf(to, spec).start + reverse.index);
  }
  if (!from.underlay) peer.persistentKeepalive = DEFAULTS.natKeepaliveSeconds;
  const interfaceName = interfaceNameFor(link.fullName, link.to);
  const ifaceSpec: GeneratedInterfaceSpec = {
    node: link.from,
    interfaceName,
    moveToContainer: from.moveToContainer ?? false,
    ...(from.container ? { container: structuredClone(from.container) } : {}),
    privateKeySecretRef: { ...fromKey.secretRef },
    addresses: structuredClone(addressesOf(from, link.target)),
    listenPort: portRangeOf(from, spec).start + link.index,
    mtu: from.mtu || DEFAULTS.wireGuardMtu,
    peers: [peer],
  };
  return {
    objectName: link.objectName,
    resourceId: labelValueFor(resourceIdOf(link.from, link.to, link.index)),
    fromNode: link.from,
    toNode: link.to,
    index: link.index,
    fullInterfaceName: link.fullName,
    spec: ifaceSpec,
    ...(fromKey.inPlanSecret ? { expectedPublicKey: fromKey.publicKey } : {}),
  };
}

/** Reports and removes interfaces whose object name or (node, interface name) is not unique. */
function dropCollisions(
  interfaces: DesiredInterface[],
  problems: PlanProblem[],
  held: Set<string>,
): DesiredInterface[] {
  const groups = new Map<string, DesiredInterface[]>();
  for (const d of interfaces) {
    for (const key of [`object ${d.objectName}`, `interface ${d.spec.interfaceName} on node ${d.fromNode}`]) {
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
  }
  const bad = new Set<DesiredInterface>();
  for (const [key, group] of groups) {
    if (group.length < 2) continue;
    for (const d of group) bad.add(d);
    problems.push({
      reason: "NameCollision",
      message: `links ${group.map((d) => `${d.fromNode} → ${d.toNode}`).join(", ")} all map to ${key}; ` +
        "rename one of the nodes",
    });
  }
  for (const d of bad) held.add(d.objectName);
  return interfaces.filter((d) => !bad.has(d));
}

/**
 * Expands a plan. Pure and deterministic: the same spec, keys and previous allocations always give the same result.
 */
export function expandPlan(
  spec: WireGuardNetworkPlanSpec,
  keys: ReadonlyMap<string, NodeKey>,
  previous: Allocations = new Map(),
): Expansion {
  const problems: PlanProblem[] = [];
  const nodes = nodeTable(spec, problems);
  const links = linkTable(spec, previous, problems);
  const all = [...links.values()].flatMap((row) => [...row.values()]);
  const bad = new Map<Link, PlanProblem[]>(all.map((l) => [l, linkProblems(l, nodes, links, spec)]));
  for (const p of bad.values()) problems.push(...p);
  const keyless = new Set([...nodes.keys()].filter((n) => !keys.has(n)));
  for (const n of keyless) {
    problems.push({ reason: "KeyUnavailable", message: `node ${n} has no usable private key; its links are held` });
  }
  const held = new Set<string>();
  const generated: DesiredInterface[] = [];
  for (const link of all) {
    const reverse = links.get(link.to)?.get(link.from);
    const blocked = (bad.get(link)?.length ?? 0) > 0 || !reverse || (bad.get(reverse)?.length ?? 0) > 0 ||
      keyless.has(link.from) || keyless.has(link.to);
    if (blocked) held.add(link.objectName);
    else generated.push(desiredOf(link, reverse, nodes, keys, spec));
  }
  const interfaces = dropCollisions(generated, problems, held)
    .sort((a, b) => byName(a.objectName, b.objectName));
  return { interfaces, held: [...held].sort(byName), problems };
}
