/**
 * Deletions that cannot confirm their link is gone (shared by wg-controller and nl-controller): when the placement's
 * existence cannot be decided — the container runtime does not answer — the link may still live in a running
 * container, so the finalizer stays. Such an object is retried with a capped exponential backoff (2 s … 5 min) and
 * the attempt count is shown in its status; the Warning Event is sent once, at the first attempt.
 */
import { Backoff } from "../kube/backoff.ts";

/** Backoff of blocked deletions per object. */
export class DeletionRetries {
  readonly #m = new Map<string, Backoff>();
  constructor(readonly initialMs = 2_000, readonly maxMs = 300_000) {}

  /** Counts one more blocked attempt of `key`: its number (from 1) and the delay before the next. */
  next(key: string): { attempt: number; delayMs: number } {
    let b = this.#m.get(key);
    if (!b) this.#m.set(key, b = new Backoff(this.initialMs, this.maxMs, 0));
    const delayMs = b.next();
    return { attempt: b.failures, delayMs };
  }

  /** Forgets `key` (its deletion went through, or it came back). */
  clear(key: string): void {
    this.#m.delete(key);
  }
}

/** The condition message of a blocked deletion (pure). */
export function deletionBlockedMessage(what: string, cause: string, attempt: number, delayMs: number): string {
  return `cannot confirm that ${what} is gone (${cause}); the finalizer stays until it is: attempt ${attempt}, ` +
    `next in ${Math.round(delayMs / 1000)} s`;
}
