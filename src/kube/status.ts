/**
 * Status writer: computes an object's new status from its current state and writes it through the `status`
 * subresource (PUT with the object's resourceVersion), only when it differs from what is stored; on 409 Conflict it
 * re-reads the object and re-applies the mutation. The field manager is the controller's name.
 * {@link StatusQueue} runs such writes in the background, so reconciles do not wait for the API server.
 */
import { isDeepStrictEqual } from "node:util";
import { isConflict, isNotFound, type KubeClient, type KubeObject, type ResourceType } from "./client.ts";
import type { Clock } from "./clock.ts";
import { ItemExponentialRateLimiter, type RateLimiter } from "./ratelimit.ts";
import { WorkQueue } from "./workqueue.ts";
import { logger } from "../log/mod.ts";
import { trace } from "../log/trace.ts";

const log = logger("kube", "status");

/** Result of a status update. */
export interface StatusUpdate<T> {
  /** False when the computed status equals the stored one (nothing was sent). */
  written: boolean;
  /** The object as stored after the update (or as read, when nothing was written: then possibly the caller's copy). */
  object: T;
  /** How many 409 conflicts were retried. */
  conflicts: number;
}

/**
 * Computes the desired status from the current object; return `undefined` to leave it unchanged. Its `status` is a
 * private copy; its metadata and spec are the caller's cached ones (read them, never modify them).
 */
export type StatusMutation<T, S> = (current: T) => S | undefined;

/** JSON-normalised copy, so `undefined` members and key order don't count as differences. */
function normalize(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** How many objects a {@link StatusWriter} remembers its last write of (the oldest are forgotten first). */
const REMEMBERED_WRITES = 1024;

/**
 * Writes `status` of one resource type for one controller. It remembers its last write per object until a caller's
 * copy shows it: a caller whose cache has not yet seen that write (its watch event is on the way, which under load
 * takes seconds) passes the version the write replaced, and the write is then based on the written object instead
 * of being sent stale, refused with 409 Conflict, read again and sent again.
 */
export class StatusWriter<T extends KubeObject & { status?: S }, S = T["status"]> {
  readonly #lastWrite = new Map<string, { replaced: string | undefined; object: T }>();

  constructor(
    private readonly client: KubeClient,
    private readonly resource: ResourceType,
    /** Field manager recorded for the writes: the controller's name. */
    readonly fieldManager: string,
    private readonly maxAttempts = 5,
  ) {}

  /**
   * Applies `mutate` to the object `namespace/name` and writes the result when it changed. `current` (e.g. the
   * informer's cached copy) saves the first GET; it is never modified, nor is the returned object. Throws
   * `KubeApiError` (404 when the object is gone, 409 after `maxAttempts` conflicts).
   */
  async update(
    namespace: string,
    name: string,
    mutate: StatusMutation<T, S>,
    current?: T,
  ): Promise<StatusUpdate<T>> {
    const key = `${namespace}/${name}`;
    // Only the status is copied for `mutate`: the rest of the object (managed fields, spec) is only read, and copying
    // all of it on every poll of every object was an agent's largest idle cost (bench:scale with DN42OP_CPU_PROF_DIR).
    let obj = (current && this.#freshest(key, current)) ?? await this.client.get<T>(this.resource, namespace, name);
    for (let attempt = 1;; attempt++) {
      const desired = normalize(mutate({ ...obj, status: structuredClone(obj.status) })) as S | undefined;
      if (desired === undefined || isDeepStrictEqual(desired, normalize(obj.status))) {
        return { written: false, object: obj, conflicts: attempt - 1 };
      }
      try {
        const written = await this.client.replace<T>(this.resource, { ...obj, status: desired }, {
          subresource: "status",
          fieldManager: this.fieldManager,
        });
        this.#remember(key, obj.metadata.resourceVersion, written);
        return { written: true, object: written, conflicts: attempt - 1 };
      } catch (e) {
        if (!isConflict(e) || attempt >= this.maxAttempts) throw e;
        obj = await this.client.get<T>(this.resource, namespace, name);
      }
    }
  }

  /** `current`, or our last write of it when `current` is exactly the version that write replaced. */
  #freshest(key: string, current: T): T {
    const last = this.#lastWrite.get(key);
    if (!last) return current;
    const m = current.metadata;
    if (m.uid === last.object.metadata.uid && m.resourceVersion === last.replaced) return last.object;
    this.#lastWrite.delete(key); // the caller's copy has moved on: ours or a later write
    return current;
  }

  #remember(key: string, replaced: string | undefined, written: T): void {
    this.#lastWrite.delete(key);
    this.#lastWrite.set(key, { replaced, object: written });
    if (this.#lastWrite.size > REMEMBERED_WRITES) this.#lastWrite.delete(this.#lastWrite.keys().next().value!);
  }
}

/** Options of {@link StatusQueue}. */
export interface StatusQueueOptions<T> {
  /** Writes running at once (default 4); each object still has at most one. */
  concurrency?: number;
  /** The freshest known copy at write time (e.g. the informer's cache), to save a GET; else the submitted one. */
  lookup?: (namespace: string, name: string) => T | undefined;
  /** Called when a write fails (it is then retried with per-object backoff, unless a newer submission replaced it). */
  onError?: (key: string, error: unknown) => void;
  /** Backoff and timers (tests). */
  rateLimiter?: RateLimiter<string>;
  clock?: Clock;
}

interface Submission<T, S> {
  namespace: string;
  name: string;
  mutate: StatusMutation<T, S>;
  current?: T;
}

/**
 * Status writes off the reconcile path. `submit` records the newest wanted status of an object and returns at once;
 * background writers apply it through a {@link StatusWriter}, so a slow or unreachable API server never delays the
 * next kernel repair. Per object only the newest submission is written (older pending ones are superseded) and never
 * two writes at once; a failed write is retried with per-object backoff; an object that is gone (404) is dropped.
 */
export class StatusQueue<T extends KubeObject & { status?: S }, S = T["status"]> {
  readonly #pending = new Map<string, Submission<T, S>>();
  readonly #queue: WorkQueue<string>;
  readonly #workers: Promise<void>[];
  #written = 0;
  #failed = 0;

  constructor(private readonly writer: StatusWriter<T, S>, private readonly o: StatusQueueOptions<T> = {}) {
    this.#queue = new WorkQueue<string>({
      clock: o.clock,
      rateLimiter: o.rateLimiter ?? new ItemExponentialRateLimiter<string>(50, 30_000),
    });
    this.#workers = Array.from({ length: Math.max(1, o.concurrency ?? 4) }, () => this.#work());
  }

  /**
   * Asks for `mutate` to be applied to `namespace/name`'s status soon; replaces an unwritten earlier submission. With
   * `current` (the object the caller acted on) the status is written only to that incarnation of the object (same
   * uid): a write still pending when the object is deleted and created again never lands on the new one.
   */
  submit(namespace: string, name: string, mutate: StatusMutation<T, S>, current?: T): void {
    const key = `${namespace}/${name}`;
    this.#pending.set(key, { namespace, name, mutate, current });
    this.#queue.add(key);
  }

  /** Drops the unwritten submission of `key` ("namespace/name"), e.g. when the object is being deleted. */
  cancel(key: string): void {
    this.#pending.delete(key);
  }

  /** Submissions not yet written (including those waiting for a retry). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Writes that changed an object so far. */
  get written(): number {
    return this.#written;
  }

  /** Write attempts that failed so far (each also reported to `onError`; 404 Not Found does not count). */
  get failed(): number {
    return this.#failed;
  }

  /** Waits (at most `timeoutMs`) for the pending submissions to be written, then stops the writers. */
  async close(timeoutMs = 5_000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (this.#pending.size > 0 && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    this.#queue.shutDown();
    await Promise.all(this.#workers);
    await this.#queue.drain();
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      const sub = this.#pending.get(key);
      this.#pending.delete(key);
      try {
        if (!sub) continue;
        const cached = this.o.lookup?.(sub.namespace, sub.name) ?? sub.current;
        const uid = sub.current?.metadata.uid;
        const mutate: StatusMutation<T, S> = uid
          ? (o) => o.metadata.uid === uid ? sub.mutate(o) : undefined
          : sub.mutate;
        const r = await this.writer.update(sub.namespace, sub.name, mutate, cached);
        if (r.written) {
          this.#written++;
          trace(log, "status-written", key);
        }
        this.#queue.forget(key);
      } catch (e) {
        if (isNotFound(e)) {
          this.#queue.forget(key);
          continue;
        }
        this.#failed++;
        this.o.onError?.(key, e);
        if (!this.#pending.has(key)) this.#pending.set(key, sub!);
        this.#queue.addRateLimited(key);
      } finally {
        this.#queue.done(key);
      }
    }
  }
}
