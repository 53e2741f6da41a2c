/**
 * Work-queue rate limiters, modelled on client-go's `workqueue` package: per-item exponential failure backoff,
 * an overall token bucket, and the maximum of several limiters (client-go's DefaultControllerRateLimiter).
 */
import { type Clock, realClock } from "./clock.ts";

/** Decides how long an item waits before it is retried. */
export interface RateLimiter<T> {
  /** Delay in ms before `item` may be processed again; counts as one more failure/requeue of `item`. */
  when(item: T): number;
  /** Stops tracking `item` (its backoff starts over). */
  forget(item: T): void;
  /** How many times `item` was passed to `when` since it was last forgotten. */
  numRequeues(item: T): number;
}

/** Exponential backoff: delay(n) = base · 2ⁿ, capped at `max`, where n counts earlier failures (pure). */
export function exponentialDelay(failures: number, baseMs: number, maxMs: number): number {
  if (failures < 0) throw new RangeError(`failures must be >= 0, got ${failures}`);
  // 2^1024 overflows to Infinity, so the cap also keeps the arithmetic finite.
  const d = baseMs * Math.pow(2, failures);
  return !Number.isFinite(d) || d > maxMs ? maxMs : d;
}

/** Per-item exponential backoff (client-go default: 5 ms … 1000 s). */
export class ItemExponentialRateLimiter<T> implements RateLimiter<T> {
  readonly #failures = new Map<T, number>();
  constructor(readonly baseMs = 5, readonly maxMs = 1_000_000) {
    if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError(`invalid backoff ${baseMs} ms … ${maxMs} ms`);
  }
  when(item: T): number {
    const n = this.#failures.get(item) ?? 0;
    this.#failures.set(item, n + 1);
    return exponentialDelay(n, this.baseMs, this.maxMs);
  }
  forget(item: T): void {
    this.#failures.delete(item);
  }
  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0;
  }
}

/**
 * Token bucket shared by all items (client-go default: 50 qps, burst 300). Each call reserves one token; when the
 * bucket is empty the returned delay is the time until that reserved token accrues (like golang.org/x/time/rate's
 * Reserve), so a burst of calls is spread out at `qps`.
 */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  #tokens: number;
  #last: number;
  constructor(readonly qps = 50, readonly burst = 300, private readonly clock: Clock = realClock) {
    if (!(qps > 0) || !(burst >= 1)) throw new RangeError(`invalid token bucket qps=${qps} burst=${burst}`);
    this.#tokens = burst;
    this.#last = clock.now();
  }
  when(_item: T): number {
    const now = this.clock.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.qps) * 1000;
  }
  forget(_item: T): void {}
  numRequeues(_item: T): number {
    return 0;
  }
}

/** The longest delay of several limiters; `forget` and `numRequeues` go to all of them. */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  readonly #limiters: RateLimiter<T>[];
  constructor(...limiters: RateLimiter<T>[]) {
    if (limiters.length === 0) throw new RangeError("MaxOfRateLimiter needs at least one limiter");
    this.#limiters = limiters;
  }
  when(item: T): number {
    return Math.max(...this.#limiters.map((l) => l.when(item)));
  }
  forget(item: T): void {
    for (const l of this.#limiters) l.forget(item);
  }
  numRequeues(item: T): number {
    return Math.max(...this.#limiters.map((l) => l.numRequeues(item)));
  }
}

/** Options of the default controller rate limiter. */
export interface DefaultRateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
  clock?: Clock;
}

/** client-go's DefaultControllerRateLimiter: max(per-item 5 ms … 1000 s, bucket 50 qps burst 300). */
export function defaultControllerRateLimiter<T>(o: DefaultRateLimiterOptions = {}): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(
    new ItemExponentialRateLimiter<T>(o.baseDelayMs ?? 5, o.maxDelayMs ?? 1_000_000),
    new BucketRateLimiter<T>(o.qps ?? 50, o.burst ?? 300, o.clock ?? realClock),
  );
}
