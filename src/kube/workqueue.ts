/**
 * A rate-limited work queue with client-go semantics:
 * - per-key dedupe: an item added several times before it is taken is processed once;
 * - an item is never handed to two workers at once: re-added while processing, it is queued again only after `done`;
 * - `addAfter` delays an item (the earliest pending deadline wins); `addRateLimited` delays it by the rate limiter
 *   (per-item exponential backoff combined with an overall token bucket by default); `forget` resets its backoff;
 * - `shutDown` stops handing out items; `drain` waits for in-flight items to be marked done.
 *
 * Delayed items wait in a deadline heap served by a single timer (no timer per item: 1000 objects polled every
 * 10 s would otherwise keep 1000 timers).
 */
import { type Clock, realClock, type TimerHandle } from "./clock.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "./ratelimit.ts";

/** Observer for queue metrics; every method is optional. Durations are in seconds. */
export interface QueueMetrics {
  /** Current number of items waiting to be taken (not counting delayed or in-flight ones). */
  depth?(n: number): void;
  /** An item was added (also counted when deduplicated). */
  added?(): void;
  /** An item was re-added through the rate limiter. */
  retried?(): void;
  /** Time an item waited in the queue before a worker took it. */
  queueLatency?(seconds: number): void;
  /** Time a worker spent on an item (get → done). */
  workDuration?(seconds: number): void;
}

/** Options of a work queue. */
export interface WorkQueueOptions<T> {
  rateLimiter?: RateLimiter<T>;
  metrics?: QueueMetrics;
  clock?: Clock;
}

/** Deduplicating, rate-limited work queue; items are compared with SameValueZero (use string keys). */
export class WorkQueue<T> {
  readonly #queue: T[] = [];
  readonly #dirty = new Set<T>();
  readonly #processing = new Map<T, number>(); // item → start time
  readonly #addedAt = new Map<T, number>();
  /** item → its earliest pending deadline; the heap may also hold superseded (stale) entries. */
  readonly #delayed = new Map<T, number>();
  readonly #deadlines = new DeadlineHeap<T>();
  #timer?: { at: number; handle: TimerHandle };
  readonly #waiters: ((item: T | undefined) => void)[] = [];
  readonly #drained: (() => void)[] = [];
  readonly #limiter: RateLimiter<T>;
  readonly #metrics: QueueMetrics;
  readonly #clock: Clock;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions<T> = {}) {
    this.#clock = options.clock ?? realClock;
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter<T>({ clock: this.#clock });
    this.#metrics = options.metrics ?? {};
  }

  /** Marks `item` as needing processing (no-op if already queued, or after shutdown). */
  add(item: T): void {
    if (this.#shuttingDown) return;
    this.#metrics.added?.();
    if (this.#dirty.has(item)) return;
    this.#dirty.add(item);
    this.#addedAt.set(item, this.#clock.now());
    if (this.#processing.has(item)) return;
    this.#push(item);
  }

  /** Adds `item` after `delayMs`; if it is already waiting, the earlier deadline is kept. */
  addAfter(item: T, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (!(delayMs > 0)) return this.add(item);
    const at = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(item);
    if (pending !== undefined && pending <= at) return;
    this.#delayed.set(item, at);
    this.#deadlines.push(at, item);
    this.#arm();
  }

  /** Points the single timer at the earliest live deadline (dropping superseded heap entries on the way). */
  #arm(): void {
    let top = this.#deadlines.peek();
    while (top && this.#delayed.get(top.item) !== top.at) {
      this.#deadlines.pop();
      top = this.#deadlines.peek();
    }
    if (this.#timer && (!top || this.#timer.at > top.at)) {
      this.#clock.clearTimer(this.#timer.handle);
      this.#timer = undefined;
    }
    if (!top || this.#timer) return;
    const at = top.at;
    this.#timer = { at, handle: this.#clock.setTimer(() => this.#fire(), at - this.#clock.now()) };
  }

  /** Timer callback: adds every item whose deadline has come, then re-arms. */
  #fire(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (let top = this.#deadlines.peek(); top && top.at <= now; top = this.#deadlines.peek()) {
      this.#deadlines.pop();
      if (this.#delayed.get(top.item) !== top.at) continue;
      this.#delayed.delete(top.item);
      this.add(top.item);
    }
    this.#arm();
  }

  /** Re-adds `item` after the rate limiter's delay (one more failure for its backoff). */
  addRateLimited(item: T): void {
    if (this.#shuttingDown) return;
    this.#metrics.retried?.();
    this.addAfter(item, this.#limiter.when(item));
  }

  /** Resets `item`'s backoff (call after it was processed successfully). */
  forget(item: T): void {
    this.#limiter.forget(item);
  }

  /** How many rate-limited re-adds `item` has had since it was last forgotten. */
  numRequeues(item: T): number {
    return this.#limiter.numRequeues(item);
  }

  /** Waits for the next item; resolves `undefined` once the queue is shut down. Call `done(item)` afterwards. */
  get(): Promise<T | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const item = this.#take();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `item` as processed; if it was re-added meanwhile it is queued again now. */
  done(item: T): void {
    const started = this.#processing.get(item);
    if (started === undefined) return;
    this.#processing.delete(item);
    this.#metrics.workDuration?.((this.#clock.now() - started) / 1000);
    if (this.#dirty.has(item) && !this.#shuttingDown) this.#push(item);
    if (this.#processing.size === 0) this.#drained.splice(0).forEach((r) => r());
  }

  /** Items waiting to be taken. */
  get length(): number {
    return this.#queue.length;
  }

  /** Items currently being processed, with how long (seconds) the oldest has been running. */
  inFlight(): { count: number; longestSeconds: number } {
    const now = this.#clock.now();
    let longest = 0;
    for (const start of this.#processing.values()) longest = Math.max(longest, (now - start) / 1000);
    return { count: this.#processing.size, longestSeconds: longest };
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Stops handing out items: waiting and later `get` calls resolve `undefined`, delayed adds are cancelled. */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    if (this.#timer) this.#clock.clearTimer(this.#timer.handle);
    this.#timer = undefined;
    this.#delayed.clear();
    this.#deadlines.clear();
    this.#queue.length = 0;
    this.#metrics.depth?.(0);
    this.#waiters.splice(0).forEach((w) => w(undefined));
  }

  /** Resolves when no item is being processed (use after `shutDown` for a graceful stop). */
  drain(): Promise<void> {
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#start(item);
      waiter(item);
      return;
    }
    this.#queue.push(item);
    this.#metrics.depth?.(this.#queue.length);
  }

  #take(): T | undefined {
    if (this.#queue.length === 0) return undefined;
    const item = this.#queue.shift()!;
    this.#metrics.depth?.(this.#queue.length);
    this.#start(item);
    return item;
  }

  #start(item: T): void {
    this.#dirty.delete(item);
    const now = this.#clock.now();
    const added = this.#addedAt.get(item);
    this.#addedAt.delete(item);
    if (added !== undefined) this.#metrics.queueLatency?.((now - added) / 1000);
    this.#processing.set(item, now);
  }
}

/** Binary min-heap of (deadline, item) pairs. */
class DeadlineHeap<T> {
  readonly #h: { at: number; item: T }[] = [];

  push(at: number, item: T): void {
    const h = this.#h;
    h.push({ at, item });
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (h[p].at <= h[i].at) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  peek(): { at: number; item: T } | undefined {
    return this.#h[0];
  }

  pop(): void {
    const h = this.#h;
    const last = h.pop();
    if (h.length === 0 || !last) return;
    h[0] = last;
    for (let i = 0;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && h[l].at < h[m].at) m = l;
      if (r < h.length && h[r].at < h[m].at) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }

  clear(): void {
    this.#h.length = 0;
  }
}
