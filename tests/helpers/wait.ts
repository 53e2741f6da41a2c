/** Polling for tests: wait for a condition instead of sleeping a fixed time. */

/** Polls `fn` until it returns a truthy value; throws after `ms` with the last value or error. */
export async function until<T>(what: string, fn: () => Promise<T>, ms = 30_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
