/** Pure helpers over metav1.Condition lists, with the semantics of apimachinery's meta.SetStatusCondition. */
import type { Condition } from "./common.ts";
import type { ConditionReason, ConditionType } from "./constants.ts";

/** A condition to set; lastTransitionTime is filled in by setCondition. */
export interface ConditionUpdate {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: ConditionReason;
  message: string;
  observedGeneration?: number;
}

/**
 * A new list with `update` applied: an existing condition of the same type keeps its lastTransitionTime unless
 * its status changes; a new one gets `now`. Other conditions are kept in order.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    ...update,
    lastTransitionTime: previous !== undefined && previous.status === update.status
      ? previous.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** The condition of `type`, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition of `type` has status True. */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: ConditionType): boolean {
  return findCondition(conditions, type)?.status === "True";
}
