/**
 * The plan status, computed purely from the expansion, the problems found and the children as read back.
 *
 * observedGeneration is not the minimum of the children's generation annotations (the reference's rule, docs/reference.md#plan-generation): it
 * becomes the plan's generation only when every generated child carries that generation's annotation, has exactly the
 * spec computed from it, and its node reports `status.observedGeneration == metadata.generation`, i.e. the nodes have
 * applied this generation. Until then it keeps its previous value.
 */
import { CONDITION_REASONS, CONDITION_TYPES } from "../api/constants.ts";
import type { Condition } from "../api/common.ts";
import type { WireGuardInterfaceStatus } from "../api/wireguard_interface.ts";
import { MAX_ENTRY_ADDRESSES, type WireGuardNetworkPlanStatus } from "../api/wireguard_network_plan.ts";
import { ANNOTATION_PARENT_GENERATION, canonicalJson } from "./child.ts";
import type { DesiredInterface, PlanProblem } from "./expand.ts";
import type { AgentLiveness } from "../kube/heartbeat.ts";
import { agentsVerdict } from "./agents.ts";

/** A child as read from the API server (only what the status needs). */
export interface ObservedChild {
  metadata: {
    name?: string;
    generation?: number;
    annotations?: Record<string, string>;
    deletionTimestamp?: string | Date;
  };
  spec?: unknown;
  status?: WireGuardInterfaceStatus;
}

/** Everything the status is computed from. */
export interface StatusInput {
  generation: number;
  previous?: WireGuardNetworkPlanStatus;
  interfaces: DesiredInterface[];
  problems: PlanProblem[];
  /** Failed API writes of this pass (messages carry no key material). */
  writeErrors: string[];
  /** Public keys of the nodes whose keys resolved, in spec order. */
  nodes: { nodeName: string; publicKey?: string }[];
  /** Owned children by object name. */
  children: ReadonlyMap<string, ObservedChild>;
  /** The nodes' agents by node name; undefined when heartbeats are not used (no AgentsAvailable condition). */
  agents?: ReadonlyMap<string, AgentLiveness>;
  now: Date;
}

/** Problem messages listed in a condition before "and N more". */
const MAX_MESSAGES = 10;

/** True when the node has applied the child as generated from this plan generation. */
export function childApplied(d: DesiredInterface, child: ObservedChild | undefined, generation: number): boolean {
  if (!child || child.metadata.deletionTimestamp) return false;
  return child.metadata.annotations?.[ANNOTATION_PARENT_GENERATION] === String(generation) &&
    canonicalJson(child.spec) === canonicalJson(d.spec) &&
    child.metadata.generation !== undefined &&
    child.status?.observedGeneration === child.metadata.generation;
}

/** Applied, and the node's Ready condition is not False (the reference's agents write no conditions). */
function childReady(applied: boolean, child: ObservedChild | undefined): boolean {
  const ready = child?.status?.conditions?.find((c) => c.type === CONDITION_TYPES.Ready);
  return applied && (ready === undefined || ready.status === "True");
}

function joinMessages(messages: string[]): string {
  const shown = messages.slice(0, MAX_MESSAGES).join("; ");
  return messages.length > MAX_MESSAGES ? `${shown}; and ${messages.length - MAX_MESSAGES} more` : shown;
}

/** The Degraded reason: the most specific cause among the problems. */
function degradedReason(problems: PlanProblem[], writeErrors: string[]): string {
  for (
    const r of [
      "KeySecretNotTrusted",
      "SecretNamespaceForbidden",
      "SecretNotFound",
      "InvalidKey",
      "NameConflict",
    ] as const
  ) {
    if (problems.some((p) => p.reason === r)) return CONDITION_REASONS[r];
  }
  return problems.length ? CONDITION_REASONS.InvalidPlan : writeErrors.length ? "ApplyFailed" : "";
}

function condition(
  previous: Condition[] | undefined,
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  generation: number,
  now: Date,
): Condition {
  const status = ok ? "True" : "False";
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : now.toISOString();
  return { type, status, reason, message, observedGeneration: generation, lastTransitionTime };
}

/** Computes the plan status. Pure. */
export function planStatus(input: StatusInput): WireGuardNetworkPlanStatus {
  const { generation, previous, problems, writeErrors, now } = input;
  const publicKeys = new Map(input.nodes.map((n) => [n.nodeName, n.publicKey]));
  let applied = 0;
  let ready = 0;
  const interfaces = input.interfaces.map((d) => {
    const child = input.children.get(d.objectName);
    const isApplied = childApplied(d, child, generation);
    const isReady = childReady(isApplied, child);
    if (isApplied) applied++;
    if (isReady) ready++;
    const wg = child?.status?.wireguard;
    const peer = wg?.peers?.find((p) => p.public_key === d.spec.peers[0].publicKey);
    const entry = {
      wgObjectRef: d.objectName,
      nodeName: d.fromNode,
      peerNodeName: d.toNode,
      hostName: child?.status?.hostname,
      interfaceName: d.spec.interfaceName,
      listenPort: wg?.listen_port ?? d.spec.listenPort,
      publicKey: wg?.public_key ?? publicKeys.get(d.fromNode),
      endpoint: peer?.endpoint ?? d.spec.peers[0].endpoint,
      lastHandshake: peer?.last_handshake_time,
      mtu: child?.status?.mtu,
      addresses: child?.status?.addresses?.slice(0, MAX_ENTRY_ADDRESSES),
      ready: isReady,
    };
    return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined)) as typeof entry;
  });
  const total = input.interfaces.length;
  const allApplied = applied === total;
  const troubles = [...problems.map((p) => p.message), ...writeErrors];
  const degraded = degradedReason(problems, writeErrors);
  const prev = previous?.conditions;
  const conditions = [
    condition(
      prev,
      CONDITION_TYPES.Ready,
      ready === total && !degraded,
      degraded || (ready === total ? CONDITION_REASONS.Reconciled : CONDITION_REASONS.ChildrenNotReady),
      degraded ? joinMessages(troubles) : `${ready} of ${total} interfaces ready`,
      generation,
      now,
    ),
    condition(
      prev,
      CONDITION_TYPES.Progressing,
      !allApplied,
      allApplied ? CONDITION_REASONS.Reconciled : CONDITION_REASONS.Reconciling,
      `${applied} of ${total} interfaces applied by their nodes at generation ${generation}`,
      generation,
      now,
    ),
    condition(
      prev,
      CONDITION_TYPES.Degraded,
      !!degraded,
      degraded || CONDITION_REASONS.Reconciled,
      degraded ? joinMessages(troubles) : "no problems",
      generation,
      now,
    ),
  ];
  const shown = boundInterfaces(interfaces);
  const status = {
    observedGeneration: allApplied ? generation : previous?.observedGeneration ?? 0,
    conditions,
    desiredInterfaces: total,
    readyInterfaces: ready,
    nodes: input.nodes,
    interfaces: shown,
    ...(shown.length < interfaces.length ? { interfacesOmitted: interfaces.length - shown.length } : {}),
  };
  return input.agents ? withAgents(status, prev, input.agents, generation, now) : status;
}

/**
 * `status` with the AgentsAvailable condition (transition time kept from `previous`) and each node's agent state (for
 * a plan being deleted, the only part that still changes). The last heartbeat is shown only for agents that are not Alive: an Alive agent's renewals would
 * otherwise rewrite the status every few seconds. Pure.
 */
export function withAgents(
  status: WireGuardNetworkPlanStatus,
  previous: Condition[] | undefined,
  agents: ReadonlyMap<string, AgentLiveness>,
  generation: number,
  now: Date,
): WireGuardNetworkPlanStatus {
  const nodes = (status.nodes ?? []).map(({ nodeName, publicKey }) => {
    const l = agents.get(nodeName) ?? { state: "None" as const };
    const last = l.state !== "Alive" && l.lastHeartbeat ? { lastHeartbeatTime: l.lastHeartbeat } : {};
    return { nodeName, ...(publicKey ? { publicKey } : {}), agent: l.state, ...last };
  });
  const verdict = agentsVerdict(nodes.map((n) => ({ nodeName: n.nodeName, liveness: { state: n.agent } })));
  const others = (status.conditions ?? []).filter((c) => c.type !== CONDITION_TYPES.AgentsAvailable);
  const type = CONDITION_TYPES.AgentsAvailable;
  const agentsCondition = condition(previous, type, verdict.ok, verdict.reason, verdict.message, generation, now);
  return { ...status, nodes, conditions: [...others, agentsCondition] };
}

/**
 * Most interface entries a plan status lists: a full mesh of 64 nodes has 4032, about 1.4 MB of status, more than
 * the API server stores with the plan (etcd takes at most 1.5 MiB per object).
 */
export const MAX_STATUS_INTERFACES = 1000;

/** The entries shown: all when they fit, else the ones not ready first (pure; order kept within each group). */
function boundInterfaces<T extends { ready: boolean }>(entries: T[]): T[] {
  if (entries.length <= MAX_STATUS_INTERFACES) return entries;
  return [...entries.filter((e) => !e.ready), ...entries.filter((e) => e.ready)].slice(0, MAX_STATUS_INTERFACES);
}
