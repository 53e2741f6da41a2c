/**
 * Event correlation as client-go's `EventCorrelator` does it, so a hostile or sloppy object cannot flood the API
 * server with Events (pure, with an injectable clock):
 *
 *   1. Spam filter: a token bucket per involved object and event type (burst 25, one more token every 5 minutes).
 *      An Event that finds the bucket empty is dropped (and counted).
 *   2. Aggregation: once one object has produced 10 Events of one type and reason with different messages within
 *      10 minutes, further ones are merged into a single Event with the message prefixed
 *      "(combined from similar events): ".
 *   3. Deduplication: an Event equal to an earlier one (same object, type, reason, message) becomes a count
 *      increment of that Event instead of a new one.
 *
 * All caches are LRU-bounded, so memory stays bounded however many objects come and go.
 */
import { type Clock, realClock } from "./clock.ts";

/** Limits of the correlator (client-go's defaults). */
export interface CorrelatorOptions {
  /** Tokens a fresh object starts with. */
  burst: number;
  /** Milliseconds per new token. */
  refillMs: number;
  /** Distinct messages of one reason after which messages are combined. */
  maxSimilar: number;
  /** Window of the similar-message count, in milliseconds. */
  similarWindowMs: number;
  /** Entries of each cache (objects, reasons, Events). */
  cacheSize: number;
}

/** client-go: burst 25, qps 1/300, 10 similar Events in 600 s, caches of 4096. */
export const DEFAULT_CORRELATOR: CorrelatorOptions = {
  burst: 25,
  refillMs: 300_000,
  maxSimilar: 10,
  similarWindowMs: 600_000,
  cacheSize: 4096,
};

/** Prefix of a combined message (client-go's wording). */
export const COMBINED_PREFIX = "(combined from similar events): ";

/** What the correlator needs to know about an Event. */
export interface EventFacts {
  /** Identity of the involved object: uid, kind, namespace, name. */
  object: string;
  type: string;
  reason: string;
  message: string;
}

/** The decision for one Event. */
export type Correlation =
  | { skip: true }
  | {
    skip: false;
    /** Key of the Event this one is recorded as: equal keys are one Event whose count grows. */
    key: string;
    /** The message to record (combined when aggregated). */
    message: string;
  };

/** A map that forgets its least recently used entry beyond `size`. */
export class Lru<K, V> {
  readonly #m = new Map<K, V>();
  constructor(readonly size: number) {}
  get(k: K): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.#m.delete(k);
    this.#m.set(k, v);
    if (this.#m.size > this.size) this.#m.delete(this.#m.keys().next().value!);
  }
}

/** Decides, per Event, whether to drop it, and which Event it counts as. */
export class EventCorrelator {
  readonly #o: CorrelatorOptions;
  readonly #buckets: Lru<string, { tokens: number; at: number }>;
  readonly #similar: Lru<string, { messages: Set<string>; since: number }>;
  #dropped = 0;

  constructor(opts: Partial<CorrelatorOptions> = {}, private readonly clock: Clock = realClock) {
    this.#o = { ...DEFAULT_CORRELATOR, ...opts };
    this.#buckets = new Lru(this.#o.cacheSize);
    this.#similar = new Lru(this.#o.cacheSize);
  }

  /** The limits in force. */
  get options(): Readonly<CorrelatorOptions> {
    return this.#o;
  }

  /** Events dropped by the spam filter so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Correlates one Event (counts against its object's budget unless dropped). */
  correlate(e: EventFacts): Correlation {
    if (!this.#take(`${e.object}\x00${e.type}`)) {
      this.#dropped++;
      return { skip: true };
    }
    const reasonKey = [e.object, e.type, e.reason].join("\x00");
    const now = this.clock.now();
    let s = this.#similar.get(reasonKey);
    if (!s || now - s.since > this.#o.similarWindowMs) s = { messages: new Set(), since: now };
    s.messages.add(e.message);
    this.#similar.set(reasonKey, s);
    if (s.messages.size > this.#o.maxSimilar) {
      return { skip: false, key: `${reasonKey}\x00*`, message: COMBINED_PREFIX + e.message };
    }
    return { skip: false, key: `${reasonKey}\x00${e.message}`, message: e.message };
  }

  /** Takes a token from the bucket `key`, refilled by the time passed; false when it is empty. */
  #take(key: string): boolean {
    const now = this.clock.now();
    const b = this.#buckets.get(key) ?? { tokens: this.#o.burst, at: now };
    const refill = Math.floor((now - b.at) / this.#o.refillMs);
    if (refill > 0) {
      b.tokens = Math.min(this.#o.burst, b.tokens + refill);
      b.at += refill * this.#o.refillMs;
    }
    if (b.tokens >= this.#o.burst) b.at = now;
    const ok = b.tokens > 0;
    if (ok) b.tokens--;
    this.#buckets.set(key, b);
    return ok;
  }
}
