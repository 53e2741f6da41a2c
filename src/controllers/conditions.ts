/**
 * Ready / Progressing / Degraded of a node agent's object (WireGuardInterface, NetlinkInterface), as one pure function
 * of the reconcile outcome: both agents report their conditions through this helper only.
 */
import type { Condition } from "../api/common.ts";
import { setCondition } from "../api/conditions.ts";
import { CONDITION_REASONS, CONDITION_TYPES, type ConditionReason } from "../api/constants.ts";

/** What a reconcile came to. */
export type Outcome =
  | { kind: "converged" }
  | { kind: "progressing"; message: string }
  | { kind: "degraded"; reason: ConditionReason; message: string };

/** The conditions after `outcome`, keeping transition times of unchanged ones. */
export function conditionsFor(
  previous: readonly Condition[] | undefined,
  outcome: Outcome,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const g = generation === undefined ? {} : { observedGeneration: generation };
  const ready = outcome.kind === "converged";
  let c = setCondition(previous, {
    type: CONDITION_TYPES.Ready,
    status: ready ? "True" : "False",
    reason: ready
      ? CONDITION_REASONS.Reconciled
      : outcome.kind === "degraded"
      ? outcome.reason
      : CONDITION_REASONS.Reconciling,
    message: ready ? "the kernel matches the spec" : outcome.message,
    ...g,
  }, now);
  c = setCondition(c, {
    type: CONDITION_TYPES.Progressing,
    status: outcome.kind === "progressing" ? "True" : "False",
    reason: outcome.kind === "progressing" ? CONDITION_REASONS.Reconciling : CONDITION_REASONS.Reconciled,
    message: outcome.kind === "progressing" ? outcome.message : "no change in progress",
    ...g,
  }, now);
  return setCondition(c, {
    type: CONDITION_TYPES.Degraded,
    status: outcome.kind === "degraded" ? "True" : "False",
    reason: outcome.kind === "degraded" ? outcome.reason : CONDITION_REASONS.Reconciled,
    message: outcome.kind === "degraded" ? outcome.message : "no problem",
    ...g,
  }, now);
}
