/**
 * Which nodes a plan waits for, decided from their agents' heartbeats (src/kube/heartbeat.ts). Pure.
 *
 * - A child gets the finalizer `networkplan.networking.dn42.io/finalizer` only where its node's agent is Alive or
 *   Stale: that agent (or it, once back) deletes the link and releases the finalizer.
 * - A Terminating child on a node whose agent is Gone or None is released by the plan controller: it removes the plan
 *   finalizer and the agent's own `wireguardinterface.networking.dn42.io/finalizer` (an agent that is gone for good
 *   cannot), so deleting a plan never hangs on a node without an agent. A marked link such a node may still hold is
 *   the agent's orphan sweep's job if it ever comes back.
 * - Without heartbeats (`requireHeartbeat` false, for agents that publish none, like the Go implementation's), every
 *   child gets the finalizer and nothing is released: the reference's behaviour.
 */
import { CONDITION_REASONS } from "../api/constants.ts";
import type { AgentLiveness, AgentState } from "../kube/heartbeat.ts";

/** Whether deleting a child on a node whose agent is in `state` waits for that agent. */
export function waitsForAgent(state: AgentState, requireHeartbeat: boolean): boolean {
  return !requireHeartbeat || state === "Alive" || state === "Stale";
}

/** One node and its agent. */
export interface NodeAgent {
  nodeName: string;
  liveness: AgentLiveness;
}

/** The AgentsAvailable condition's status, reason and message. */
export interface AgentsVerdict {
  ok: boolean;
  reason: string;
  message: string;
}

/** Nodes named in one message part before "and N more". */
const MAX_NAMED = 10;

function named(nodes: string[]): string {
  const shown = nodes.slice(0, MAX_NAMED).join(", ");
  return nodes.length > MAX_NAMED ? `${shown} and ${nodes.length - MAX_NAMED} more` : shown;
}

/** The AgentsAvailable condition: True when every node's wg-controller is Alive, else which ones are not and why. */
export function agentsVerdict(nodes: NodeAgent[]): AgentsVerdict {
  const by = (state: AgentState) => nodes.filter((n) => n.liveness.state === state).map((n) => n.nodeName);
  const parts: string[] = [];
  const none = by("None");
  const gone = by("Gone");
  const stale = by("Stale");
  if (none.length) parts.push(`never seen (nothing waits for them): ${named(none)}`);
  if (gone.length) parts.push(`gone beyond the grace period (nothing waits for them): ${named(gone)}`);
  if (stale.length) parts.push(`stopped recently (deletions wait for them): ${named(stale)}`);
  if (!parts.length) {
    return {
      ok: true,
      reason: CONDITION_REASONS.AgentsAlive,
      message: `the wg-controller of each of the ${nodes.length} nodes is alive`,
    };
  }
  return {
    ok: false,
    reason: CONDITION_REASONS.AgentsMissing,
    message: `no running wg-controller: ${parts.join("; ")}`,
  };
}
