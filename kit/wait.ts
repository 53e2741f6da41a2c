/**
 * Waiting — the one toolkit of scripts/, lab/, tests/ and bench/: poll an observable condition until it holds
 * instead of sleeping a fixed time, and fail with what was awaited and the last value or error seen.
 */

import { sleep } from "../src/kube/clock.ts";

/** Resolves after `ms` milliseconds, or early (without rejecting) when `signal` aborts (the product's, one for all). */
export { sleep };

/** Thrown by {@link until} when the condition did not hold in time. */
export class WaitTimeout extends Error {
  override name = "WaitTimeout";
}

/** `T` without its falsy members: what {@link until} returns. */
export type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/**
 * Calls `probe` every `everyMs` until it returns a truthy value, and returns that value. A probe that throws counts
 * as "not yet". After `ms` it throws a {@link WaitTimeout} naming `what` and the last value or error.
 */
export async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  ms = 30_000,
  everyMs = 50,
): Promise<Truthy<T>> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as Truthy<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= end) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new WaitTimeout(`timed out after ${ms} ms waiting for ${what}: ${seen}`);
    }
    await sleep(everyMs);
  }
}

/** Thrown by {@link holds} when the observed value changed. */
export class NotSteady extends Error {
  override name = "NotSteady";
}

/**
 * The counterpart of {@link until} for steady state: calls `probe` every `everyMs` for `ms` and throws a
 * {@link NotSteady} naming `what` as soon as it returns anything but `expected`.
 */
export async function holds<T>(
  what: string,
  probe: () => T | Promise<T>,
  expected: T,
  ms: number,
  everyMs = 100,
): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await probe();
    if (v !== expected) throw new NotSteady(`${what}: expected ${JSON.stringify(expected)}, saw ${JSON.stringify(v)}`);
    await sleep(everyMs);
  }
}
