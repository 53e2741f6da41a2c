/** Retry backoff for reconnect loops (informers, leader election): exponential with jitter, resettable. */
import { exponentialDelay } from "./ratelimit.ts";

/**
 * Exponential backoff state: `next()` returns the next delay in ms, `reset()` starts over. The jitter is taken off
 * the exponential delay, never added: every delay lies in [d·(1 − jitter), d] with d ≤ `maxMs`, so the cap bounds the
 * wait and, at the cap, many clients retrying after the same outage still spread out.
 */
export class Backoff {
  #failures = 0;
  /**
   * @param initialMs first delay
   * @param maxMs cap
   * @param jitter fraction of the delay taken off at random (0.1 = up to −10 %)
   * @param random source of randomness in [0, 1)
   */
  constructor(
    readonly initialMs = 800,
    readonly maxMs = 30_000,
    readonly jitter = 0.1,
    private readonly random: () => number = Math.random,
  ) {}
  next(): number {
    const d = exponentialDelay(this.#failures++, this.initialMs, this.maxMs);
    return d * (1 - this.jitter * this.random());
  }
  reset(): void {
    this.#failures = 0;
  }
  get failures(): number {
    return this.#failures;
  }
}
