/**
 * Finalizer helpers that touch only our own finalizer: JSON patches guarded by `test` operations, so a concurrent
 * change of the list (another owner adding or removing theirs) makes the patch fail instead of being overwritten;
 * the object is then re-read and the patch recomputed. The whole list is never replaced blindly.
 */
import {
  isConflict,
  isNotFound,
  KubeApiError,
  type KubeClient,
  type KubeObject,
  objectKey,
  type ResourceType,
} from "./client.ts";
import { ownWrite, type OwnWrites } from "./own_writes.ts";

/** True when `obj` carries `finalizer`. */
export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

type JsonPatchOp = { op: "test" | "add" | "remove"; path: string; value?: unknown };

/** The guarded JSON patch that adds `finalizer` to `obj` (pure; `undefined` if it is already there). */
export function addFinalizerPatch(obj: KubeObject, finalizer: string): JsonPatchOp[] | undefined {
  const list = obj.metadata.finalizers;
  if (list?.includes(finalizer)) return undefined;
  if (!list) {
    // No list yet: "add" on an existing member would replace it, so guard on the resourceVersion instead.
    return [
      { op: "test", path: "/metadata/resourceVersion", value: obj.metadata.resourceVersion },
      { op: "add", path: "/metadata/finalizers", value: [finalizer] },
    ];
  }
  return [
    { op: "test", path: "/metadata/finalizers", value: list },
    { op: "add", path: "/metadata/finalizers/-", value: finalizer },
  ];
}

/** The guarded JSON patch that removes `finalizer` from `obj` (pure; `undefined` if it is not there). */
export function removeFinalizerPatch(obj: KubeObject, finalizer: string): JsonPatchOp[] | undefined {
  const i = obj.metadata.finalizers?.indexOf(finalizer) ?? -1;
  if (i < 0) return undefined;
  return [
    { op: "test", path: `/metadata/finalizers/${i}`, value: finalizer },
    { op: "remove", path: `/metadata/finalizers/${i}` },
  ];
}

/**
 * A JSON patch whose `test` failed: the API server answers 422 Invalid with a generic message. A genuine validation
 * error is 422 too, so the caller re-reads and gives up when the recomputed patch is unchanged.
 */
function maybeTestFailure(e: unknown): boolean {
  return isConflict(e) || (e instanceof KubeApiError && e.code === 422);
}

/** How a finalizer write is sent: the field manager, and where it is remembered as our own write. */
export interface FinalizerWriteOptions {
  fieldManager?: string;
  /** The watch event that echoes the write is told apart (src/kube/own_writes.ts). */
  ownWrites?: OwnWrites;
}

async function patchFinalizers<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
  build: (o: T, f: string) => JsonPatchOp[] | undefined,
  { fieldManager, ownWrites }: FinalizerWriteOptions,
): Promise<T | undefined> {
  const { namespace = "", name = "" } = obj.metadata;
  const write = (patch: JsonPatchOp[]) => client.patch<T>(rt, namespace, name, "json", patch, { fieldManager });
  let current = obj;
  let failed = "";
  for (let attempt = 1;; attempt++) {
    const patch = build(current, finalizer);
    if (!patch) return current;
    try {
      return await ownWrite(ownWrites, objectKey(obj), () => write(patch));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      const same = JSON.stringify(patch) === failed;
      failed = JSON.stringify(patch);
      if (!maybeTestFailure(e) || same || attempt >= 5) throw e;
      try {
        current = await client.get<T>(rt, namespace, name);
      } catch (e2) {
        if (isNotFound(e2)) return undefined;
        throw e2;
      }
    }
  }
}

/** Adds our finalizer unless present; returns the updated object, or `undefined` if the object is gone. */
export function addFinalizer<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
  o: FinalizerWriteOptions = {},
): Promise<T | undefined> {
  return patchFinalizers(client, rt, obj, finalizer, addFinalizerPatch, o);
}

/**
 * Removes only our finalizer, leaving every other one in place; returns the updated object, or `undefined` when the
 * object is gone (e.g. deleted because ours was the last finalizer).
 */
export function removeFinalizer<T extends KubeObject>(
  client: KubeClient,
  rt: ResourceType,
  obj: T,
  finalizer: string,
  o: FinalizerWriteOptions = {},
): Promise<T | undefined> {
  return patchFinalizers(client, rt, obj, finalizer, removeFinalizerPatch, o);
}
