/**
 * The resourceVersions a controller wrote itself, per object. A watch event carrying exactly such a version reports
 * that write back, and the pass that made it has already acted on it: the event is not worth another pass (a plan
 * that creates a hundred children would otherwise expand itself again for their echoes).
 *
 * The echo may come before the write's response (the watch and the request are separate streams), so a write runs
 * inside {@link OwnWrites.track}: events of that object that arrive meanwhile are held, and once the response names
 * the version written, the held echo is dropped and every other held event is delivered. A recorded version answers
 * once (a later event of the same version, a relist, is news again); entries end when matched, when the object is
 * deleted or when the next write of it replaces them, so they never outnumber the objects.
 */
import { type KubeObject, objectKey } from "./client.ts";

/** `write` of the object `key`, tracked by `ownWrites` when there is one ({@link OwnWrites.track}). */
export function ownWrite<T extends KubeObject | undefined>(
  ownWrites: OwnWrites | undefined,
  key: string,
  write: () => Promise<T>,
): Promise<T> {
  return ownWrites ? ownWrites.track(key, write) : write();
}

/** A held event: its object's version and how to deliver it after all. */
interface Held {
  rv: string | undefined;
  deliver(): void;
}

/** Own writes of one controller, as seen by its watches. */
export class OwnWrites {
  readonly #versions = new Map<string, string>();
  readonly #inFlight = new Map<string, Held[]>();

  /**
   * Runs `write` (a create, update or patch of the object `key`, "namespace/name") and remembers the object it
   * returns as our own write. A failed write delivers what was held and remembers nothing.
   */
  async track<T extends KubeObject | undefined>(key: string, write: () => Promise<T>): Promise<T> {
    const held: Held[] = [];
    this.#inFlight.set(key, held);
    let written: T | undefined;
    try {
      written = await write();
      return written;
    } finally {
      if (this.#inFlight.get(key) === held) this.#inFlight.delete(key); // not a later write's, should two overlap
      const rv = written?.metadata.resourceVersion; // none: the write failed or found the object gone
      const echoed = rv !== undefined && held.some((h) => h.rv === rv);
      if (rv !== undefined && !echoed) this.#versions.set(key, rv);
      for (const h of held) if (h.rv === undefined || h.rv !== rv) h.deliver();
    }
  }

  /**
   * Whether the event about `obj` is to be dropped here: the echo of our own last write of it, or held while a write
   * of it is in flight (then `deliver` runs later unless it turns out to be the echo).
   */
  intercept(obj: KubeObject, deliver: () => void): boolean {
    const key = objectKey(obj);
    const rv = obj.metadata.resourceVersion;
    const held = this.#inFlight.get(key);
    if (held) return (held.push({ rv, deliver }), true);
    if (rv === undefined || this.#versions.get(key) !== rv) return false;
    this.#versions.delete(key);
    return true;
  }

  /** Drops what is remembered of a deleted object. */
  forget(obj: KubeObject): void {
    this.#versions.delete(objectKey(obj));
  }

  /** How many writes still wait for their echo. */
  get size(): number {
    return this.#versions.size;
  }
}
