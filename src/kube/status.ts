/**
 * Status writer: computes an object's new status from its current state and writes it through the `status`
 * subresource (PUT with the object's resourceVersion), only when it differs from what is stored; on 409 Conflict it
 * re-reads the object and re-applies the mutation. The field manager is the controller's name.
 */
import { isDeepStrictEqual } from "node:util";
import { isConflict, type KubeClient, type KubeObject, type ResourceType } from "./client.ts";

/** Result of a status update. */
export interface StatusUpdate<T> {
  /** False when the computed status equals the stored one (nothing was sent). */
  written: boolean;
  /** The object as stored after the update (or as read, when nothing was written). */
  object: T;
  /** How many 409 conflicts were retried. */
  conflicts: number;
}

/**
 * Computes the desired status from a private copy of the current object; return `undefined` to leave it unchanged.
 */
export type StatusMutation<T, S> = (current: T) => S | undefined;

/** JSON-normalised copy, so `undefined` members and key order don't count as differences. */
function normalize(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** Writes `status` of one resource type for one controller. */
export class StatusWriter<T extends KubeObject & { status?: S }, S = T["status"]> {
  constructor(
    private readonly client: KubeClient,
    private readonly resource: ResourceType,
    /** Field manager recorded for the writes: the controller's name. */
    readonly fieldManager: string,
    private readonly maxAttempts = 5,
  ) {}

  /**
   * Applies `mutate` to the object `namespace/name` and writes the result when it changed. `current` (e.g. the
   * informer's cached copy) saves the first GET; it is never modified. Throws `KubeApiError` (404 when the object is
   * gone, 409 after `maxAttempts` conflicts).
   */
  async update(
    namespace: string,
    name: string,
    mutate: StatusMutation<T, S>,
    current?: T,
  ): Promise<StatusUpdate<T>> {
    let obj = current ? structuredClone(current) : await this.client.get<T>(this.resource, namespace, name);
    for (let attempt = 1;; attempt++) {
      const desired = normalize(mutate(structuredClone(obj))) as S | undefined;
      if (desired === undefined || isDeepStrictEqual(desired, normalize(obj.status))) {
        return { written: false, object: obj, conflicts: attempt - 1 };
      }
      try {
        const written = await this.client.replace<T>(this.resource, { ...obj, status: desired }, {
          subresource: "status",
          fieldManager: this.fieldManager,
        });
        return { written: true, object: written, conflicts: attempt - 1 };
      } catch (e) {
        if (!isConflict(e) || attempt >= this.maxAttempts) throw e;
        obj = await this.client.get<T>(this.resource, namespace, name);
      }
    }
  }
}
