/**
 * Reconcile-loop harness: informer events → work queue (keys "namespace/name") → N workers → `reconcile(key)`.
 * - primary adds/updates/deletes and every resync tick enqueue the object's key (deduplicated by the queue);
 * - secondary informers (e.g. Secrets) map their objects to primary keys through `watch`;
 * - success forgets the key's backoff and honours `requeueAfterMs`; an error re-adds it rate-limited
 *   (exponential per key, combined with the overall token bucket); one after `signal` aborted is a cancellation,
 *   neither counted nor retried;
 * - a key is never reconciled by two workers at once;
 * - `run(signal)` waits for all informers to sync (no reconcile ever sees a partial cache), runs the workers until
 *   `signal` aborts, then lets in-flight reconciles finish.
 */
import { logger } from "../log/mod.ts";
import { type KubeObject, objectKey } from "./client.ts";
import type { Informer } from "./informer.ts";
import type { OwnWrites } from "./own_writes.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { RateLimiter } from "./ratelimit.ts";
import { redactKeys } from "./redact.ts";
import { WorkQueue } from "./workqueue.ts";

const log = logger("kube", "controller");

/** What a reconcile asks for: nothing, or to run again after a delay (periodic polling). */
export type ReconcileResult = void | { requeueAfterMs?: number };

/** Reconciles one key; throwing means "retry with backoff". `signal` aborts when the controller stops. */
export type Reconciler = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

/** Options of a controller. */
export interface ControllerOptions<T extends KubeObject> {
  /** Controller name: metrics label, queue name, logs. */
  name: string;
  /** Informer of the primary resource. */
  informer: Informer<T>;
  reconcile: Reconciler;
  /** Number of workers (default 1). */
  workers?: number;
  metrics?: ControllerMetrics;
  rateLimiter?: RateLimiter<string>;
  /** Filter for primary updates (default: every change of resourceVersion). */
  shouldEnqueueUpdate?(oldObj: T, newObj: T): boolean;
  /** The reconciler's own writes of primary objects (e.g. finalizers): their echoes enqueue nothing. */
  ownWrites?: OwnWrites;
}

/**
 * Update filter for `shouldEnqueueUpdate`: spec (generation), deletion, finalizers or identity changed. A
 * controller's own status writes are not worth a reconcile (the periodic resync still covers everything).
 */
export function specOrLifecycleChanged<T extends KubeObject>(a: T, b: T): boolean {
  const m = (o: KubeObject) =>
    JSON.stringify([o.metadata.generation, o.metadata.deletionTimestamp, o.metadata.finalizers, o.metadata.uid]);
  return m(a) !== m(b);
}

/** One controller: a queue, its workers and the informers feeding it. */
export class Controller<T extends KubeObject> {
  readonly queue: WorkQueue<string>;
  readonly #informers: Informer<KubeObject>[] = [];
  #running = false;

  constructor(readonly options: ControllerOptions<T>) {
    this.queue = new WorkQueue<string>({
      rateLimiter: options.rateLimiter,
      metrics: options.metrics?.queueMetrics(options.name),
    });
    const filter = options.shouldEnqueueUpdate ??
      ((a: T, b: T) => a.metadata.resourceVersion !== b.metadata.resourceVersion);
    this.#informers.push(options.informer as unknown as Informer<KubeObject>);
    const own = options.ownWrites;
    options.informer.on({
      add: (o) => this.enqueue(objectKey(o)),
      update: (a, b) => {
        const enqueue = () => this.enqueue(objectKey(b));
        if (filter(a, b)) own?.intercept(b, enqueue) || enqueue();
      },
      delete: (o) => (own?.forget(o), this.enqueue(objectKey(o))),
      resync: (o) => this.enqueue(objectKey(o)),
    });
  }

  /**
   * Feeds a secondary resource: each add/update/delete of it enqueues the primary keys `map` returns. With
   * `ownWrites`, an add or update that only echoes the controller's own write of the object enqueues nothing.
   */
  watch<U extends KubeObject>(informer: Informer<U>, map: (obj: U) => string[], ownWrites?: OwnWrites): void {
    this.#informers.push(informer as unknown as Informer<KubeObject>);
    // Each key once per event: a key taken by a worker between two adds of one event would be reconciled twice.
    const enqueueAll = (...objs: U[]) => new Set(objs.flatMap(map)).forEach((k) => this.enqueue(k));
    informer.on({
      add: (o) => ownWrites?.intercept(o, () => enqueueAll(o)) || enqueueAll(o),
      update: (a, b) => ownWrites?.intercept(b, () => enqueueAll(a, b)) || enqueueAll(a, b),
      delete: (o) => (ownWrites?.forget(o), enqueueAll(o)),
    });
  }

  /** Queues `key` for reconciliation (deduplicated). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** The informers feeding this controller (primary first). */
  get informers(): readonly Informer<KubeObject>[] {
    return this.#informers;
  }

  /** True when every informer feeding this controller has synced. */
  hasSynced(): boolean {
    return this.#informers.every((i) => i.hasSynced());
  }

  /**
   * /readyz check: ready once all caches are synced. It does not depend on leadership, so a standby replica with
   * warm caches is ready (it can take over at once) — start the informers before campaigning.
   */
  readyCheck(): { name: string; check: () => true | string } {
    return {
      name: `${this.options.name}-caches-synced`,
      check: () => {
        const waiting = this.#informers.filter((i) => !i.hasSynced()).map((i) => i.name);
        return waiting.length === 0 || `not synced: ${waiting.join(", ")}`;
      },
    };
  }

  /** Starts the informers feeding this controller (idempotent); `run` does it too. */
  startInformers(): void {
    for (const i of this.#informers) i.start();
  }

  /** Starts the informers (if not yet), waits for sync, runs the workers until `signal` aborts, then drains. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`controller ${this.options.name} is already running`);
    this.#running = true;
    const onAbort = () => this.queue.shutDown();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      this.startInformers();
      for (const i of this.#informers) {
        if (!(await i.waitForSync(signal))) return;
      }
      log.info("caches synced, starting workers", {
        controller: this.options.name,
        n: this.options.workers ?? 1,
      });
      const workers = Array.from({ length: Math.max(1, this.options.workers ?? 1) }, () => this.#worker(signal));
      await Promise.all(workers);
      await this.queue.drain();
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.queue.shutDown();
    }
  }

  async #worker(signal: AbortSignal): Promise<void> {
    const { name, reconcile, metrics } = this.options;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const t0 = performance.now();
      try {
        const r = await reconcile(key, signal);
        this.queue.forget(key);
        const after = r?.requeueAfterMs;
        if (after !== undefined && after >= 0) this.queue.addAfter(key, after);
        metrics?.observeReconcile(
          name,
          after !== undefined ? "requeue_after" : "success",
          (performance.now() - t0) / 1000,
        );
        log.v(4).info("successfully synced", { controller: name, key, ms: Math.round(performance.now() - t0) });
      } catch (e) {
        if (signal.aborted) {
          // Stopping: the reconcile was cancelled, not failed; the next agent's first pass covers the key.
          log.v(1).info("reconcile cancelled by shutdown", { controller: name, key });
          continue;
        }
        metrics?.observeReconcile(name, "error", (performance.now() - t0) / 1000);
        log.error("error syncing; requeuing for later retry", {
          controller: name,
          key,
          n: this.queue.numRequeues(key) + 1,
          error: redactKeys(e instanceof Error ? e.message : String(e)),
        });
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
