/**
 * The WireGuardInterface object generated for one {@link DesiredInterface}: spec plus the reference's labels,
 * annotation, finalizer and owner reference (docs/reference.md#plan-expansion), and the drift check that decides whether an existing child has
 * to be rewritten.
 */
import { createHash } from "node:crypto";
import {
  API_VERSION,
  FINALIZERS,
  PLAN_LABELS,
  PLAN_PARENT_GENERATION_ANNOTATION,
  PLAN_PUBLIC_KEY_ANNOTATION,
} from "../api/constants.ts";
import type { DesiredInterface } from "./expand.ts";
import { isValidLabelValue, labelValueFor } from "./names.ts";
import type { GeneratedInterfaceSpec } from "./types.ts";

/** Label: the link's resource id. */
export const LABEL_RESOURCE_ID = PLAN_LABELS.resourceId;
/** Label: hash of the generated spec (see {@link configHash}). */
export const LABEL_CONFIG_HASH = PLAN_LABELS.configHash;
/** Label: name of the owning plan (the children's selector). */
export const LABEL_CONTROLLED_BY = PLAN_LABELS.isControlledBy;
/** Label (or annotation when it is no valid label value): the full `wg-<from>-<to>-<idx>` of a shortened ifname. */
export const FULL_INTERFACE_NAME_KEY = "networkplan.networking.dn42.io/full-interface-name";
/** Annotation: the plan generation the child's spec was computed from. */
export const ANNOTATION_PARENT_GENERATION = PLAN_PARENT_GENERATION_ANNOTATION;
/** Annotation: the link a child stands for, `{"fromNode","toNode","index"}` (keeps link indexes stable). */
export const ANNOTATION_LINK = "networkplan.networking.dn42.io/link";
/** Finalizer on every generated child (removed by the node agent once the link is gone). */
export const CHILD_FINALIZER = FINALIZERS.planChild;
/**
 * Plan annotation: `"true"` lets this plan take over the children the Go implementation's plan controller made for it
 * (see {@link takeOverRefusal}). Without it such a child is a NameConflict and left alone.
 */
export const ANNOTATION_TAKE_OVER = "networkplan.networking.dn42.io/take-over-children";

/** The identity of the plan that owns the children. */
export interface PlanIdentity {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
}

/** Metadata of a generated child. */
export interface ChildMetadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  finalizers: string[];
  ownerReferences: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller: boolean;
    blockOwnerDeletion: boolean;
  }[];
}

/** A generated WireGuardInterface. */
export interface ChildObject {
  apiVersion: string;
  kind: "WireGuardInterface";
  metadata: ChildMetadata;
  spec: GeneratedInterfaceSpec;
}

/** JSON with object keys sorted at every level, so equal values always serialize equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
        : v,
  );
}

/**
 * The config-hash label value: lowercase hex SHA-1 of the canonical JSON of the generated spec. The label key and
 * format (40 hex characters) are the reference's; the reference's Merkle tree over "critical fields" hashed the inline
 * private key, which generated children no longer carry, so its values could not be reproduced anyway.
 */
export function configHash(spec: GeneratedInterfaceSpec): string {
  return createHash("sha1").update(canonicalJson(spec)).digest("hex");
}

/** The label value that selects a plan's children. */
export function controlledByValue(planName: string): string {
  return labelValueFor(planName);
}

/** Label selector of a plan's children. */
export function childSelector(planName: string): string {
  return `${LABEL_CONTROLLED_BY}=${controlledByValue(planName)}`;
}

/**
 * Builds the full child object. `waitForAgent` false (its node's agent is gone or never ran, src/plan/agents.ts):
 * no finalizer, so deleting it does not wait for an agent that will not come.
 */
export function childObject(plan: PlanIdentity, d: DesiredInterface, waitForAgent = true): ChildObject {
  const labels: Record<string, string> = {
    [LABEL_RESOURCE_ID]: d.resourceId,
    [LABEL_CONFIG_HASH]: configHash(d.spec),
    [LABEL_CONTROLLED_BY]: controlledByValue(plan.name),
  };
  const annotations: Record<string, string> = {
    [ANNOTATION_PARENT_GENERATION]: String(plan.generation),
    [ANNOTATION_LINK]: JSON.stringify({ fromNode: d.fromNode, toNode: d.toNode, index: d.index }),
  };
  if (d.expectedPublicKey) annotations[PLAN_PUBLIC_KEY_ANNOTATION] = d.expectedPublicKey;
  if (d.fullInterfaceName !== d.spec.interfaceName) {
    if (isValidLabelValue(d.fullInterfaceName)) labels[FULL_INTERFACE_NAME_KEY] = d.fullInterfaceName;
    else annotations[FULL_INTERFACE_NAME_KEY] = d.fullInterfaceName;
  }
  return {
    apiVersion: API_VERSION,
    kind: "WireGuardInterface",
    metadata: {
      name: d.objectName,
      namespace: plan.namespace,
      labels,
      annotations,
      finalizers: waitForAgent ? [CHILD_FINALIZER] : [],
      ownerReferences: [{
        apiVersion: API_VERSION,
        kind: "WireGuardNetworkPlan",
        name: plan.name,
        uid: plan.uid,
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec: d.spec,
  };
}

/** The parts of an existing child the drift check reads. */
export interface ExistingChild {
  metadata: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: { apiVersion?: string; kind?: string; name?: string; uid: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  spec?: unknown;
}

/** True if the object is controlled by the plan with this uid. */
export function isOwnedBy(obj: ExistingChild, planUid: string): boolean {
  return (obj.metadata.ownerReferences ?? []).some((r) => r.uid === planUid && r.controller === true);
}

/**
 * Why `existing`, which holds the name of `want` but is not controlled by this plan, cannot be taken over; undefined
 * when it can. Only a child the Go implementation's plan controller made for this very plan qualifies: no controller
 * owner reference, a plain owner reference to this plan's uid, the plan's is-controlled-by label, not being deleted,
 * and the same node and interface name (both immutable).
 */
export function takeOverRefusal(existing: ExistingChild, want: ChildObject): string | undefined {
  const refs = existing.metadata.ownerReferences ?? [];
  const plan = want.metadata.ownerReferences[0];
  const spec = (existing.spec ?? {}) as { node?: unknown; interfaceName?: unknown };
  if (refs.some((r) => r.controller)) return "it has a controller";
  if (!refs.some((r) => r.uid === plan.uid && r.kind === plan.kind)) return "it has no owner reference to this plan";
  if (existing.metadata.labels?.[LABEL_CONTROLLED_BY] !== want.metadata.labels[LABEL_CONTROLLED_BY]) {
    return `its label ${LABEL_CONTROLLED_BY} does not name this plan`;
  }
  if (existing.metadata.deletionTimestamp) return "it is being deleted";
  if (spec.node !== want.spec.node || spec.interfaceName !== want.spec.interfaceName) {
    return "its node or interface name differs (both are immutable)";
  }
  return undefined;
}

/**
 * The patch that makes this plan the controller of `existing` (see {@link takeOverRefusal}): its owner reference to
 * the plan becomes the controller reference; other owner references stay. Guarded by the resourceVersion.
 */
export function takeOverPatch(existing: ExistingChild, want: ChildObject): JsonPatchOp[] {
  const plan = want.metadata.ownerReferences[0];
  const refs = (existing.metadata.ownerReferences ?? []).filter((r) => r.uid !== plan.uid);
  return [
    { op: "test", path: "/metadata/resourceVersion", value: existing.metadata.resourceVersion },
    { op: "replace", path: "/metadata/ownerReferences", value: [...refs, plan] },
  ];
}

/** One RFC 6902 operation. */
export type JsonPatchOp =
  | { op: "test" | "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

/** RFC 6901 escaping of one path segment. */
function pointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/**
 * The JSON patch that turns an existing child into the wanted one, or undefined when nothing differs. It replaces the
 * whole spec (so fields added by hand are removed, which server-side apply would leave alone), sets our labels and
 * annotations, restores the finalizer, and starts with a resourceVersion test so a concurrent change makes it fail
 * with a conflict instead of being overwritten.
 */
export function childPatch(existing: ExistingChild, want: ChildObject): JsonPatchOp[] | undefined {
  const ops: JsonPatchOp[] = [];
  if (canonicalJson(existing.spec) !== canonicalJson(want.spec)) {
    ops.push({ op: existing.spec === undefined ? "add" : "replace", path: "/spec", value: want.spec });
  }
  for (const field of ["labels", "annotations"] as const) {
    const have = existing.metadata[field];
    const wanted = want.metadata[field];
    if (!have) {
      ops.push({ op: "add", path: `/metadata/${field}`, value: wanted });
      continue;
    }
    for (const [k, v] of Object.entries(wanted)) {
      if (have[k] !== v) {
        ops.push({ op: k in have ? "replace" : "add", path: `/metadata/${field}/${pointer(k)}`, value: v });
      }
    }
    for (const k of [FULL_INTERFACE_NAME_KEY, PLAN_PUBLIC_KEY_ANNOTATION]) {
      if (k in have && !(k in wanted)) ops.push({ op: "remove", path: `/metadata/${field}/${pointer(k)}` });
    }
  }
  const finalizers = existing.metadata.finalizers ?? [];
  const wanted = want.metadata.finalizers.includes(CHILD_FINALIZER);
  const at = finalizers.indexOf(CHILD_FINALIZER);
  if (!existing.metadata.deletionTimestamp && wanted && at < 0) {
    ops.push(
      existing.metadata.finalizers
        ? { op: "add", path: "/metadata/finalizers/-", value: CHILD_FINALIZER }
        : { op: "add", path: "/metadata/finalizers", value: [CHILD_FINALIZER] },
    );
  } else if (!existing.metadata.deletionTimestamp && !wanted && at >= 0) {
    ops.push({ op: "remove", path: `/metadata/finalizers/${at}` });
  }
  if (ops.length === 0) return undefined;
  return [{ op: "test", path: "/metadata/resourceVersion", value: existing.metadata.resourceVersion }, ...ops];
}

/** The link indexes recorded on existing children (unparsable annotations are ignored). */
export function allocationsOf(children: Iterable<ExistingChild>): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const c of children) {
    try {
      const link = JSON.parse(c.metadata.annotations?.[ANNOTATION_LINK] ?? "");
      if (typeof link?.fromNode !== "string" || typeof link.toNode !== "string") continue;
      if (!Number.isSafeInteger(link.index)) continue;
      const row = out.get(link.fromNode) ?? new Map<string, number>();
      out.set(link.fromNode, row);
      if (!row.has(link.toNode)) row.set(link.toNode, link.index);
    } catch {
      // not one of ours (or edited by hand): no allocation to keep
    }
  }
  return out;
}
