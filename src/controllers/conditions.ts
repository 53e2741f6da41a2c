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

/** Most problems a condition message lists one by one; the rest are counted. */
export const MAX_LISTED_PROBLEMS = 10;
/** Most characters of a condition message: the CRDs' maxLength (as metav1.Condition), above which a write fails. */
export const MAX_CONDITION_MESSAGE = 32768;

/** `message` cut to {@link MAX_CONDITION_MESSAGE} characters (pure). */
export function boundMessage(message: string): string {
  return message.length > MAX_CONDITION_MESSAGE ? `${message.slice(0, MAX_CONDITION_MESSAGE - 3)}...` : message;
}

/** Problems as one condition message: the first {@link MAX_LISTED_PROBLEMS}, then "and N more"; bounded (pure). */
export function problemsMessage(messages: readonly string[]): string {
  const shown = messages.slice(0, MAX_LISTED_PROBLEMS).join("; ");
  const more = messages.length - MAX_LISTED_PROBLEMS;
  return boundMessage(more > 0 ? `${shown}; and ${more} more` : shown);
}

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
    message: ready ? "the kernel matches the spec" : boundMessage(outcome.message),
    ...g,
  }, now);
  c = setCondition(c, {
    type: CONDITION_TYPES.Progressing,
    status: outcome.kind === "progressing" ? "True" : "False",
    reason: outcome.kind === "progressing" ? CONDITION_REASONS.Reconciling : CONDITION_REASONS.Reconciled,
    message: outcome.kind === "progressing" ? boundMessage(outcome.message) : "no change in progress",
    ...g,
  }, now);
  return setCondition(c, {
    type: CONDITION_TYPES.Degraded,
    status: outcome.kind === "degraded" ? "True" : "False",
    reason: outcome.kind === "degraded" ? outcome.reason : CONDITION_REASONS.Reconciled,
    message: outcome.kind === "degraded" ? boundMessage(outcome.message) : "no problem",
    ...g,
  }, now);
}
