/**
 * Event recorder: core/v1 Events on the involved object (what `kubectl describe` and `kubectl get events` show),
 * with source component and host, correlated like client-go (correlator.ts): rate-limited per object, similar
 * messages combined, and a repeated Event becomes a `count`/`lastTimestamp` increment of the existing one instead of
 * a new Event.
 *
 * Callers pass only a reason and a human-readable message. Never put secrets (private or preshared keys, Secret
 * data) into a message: Events are readable by anyone who can read the namespace. As a safety net, tokens that look
 * like a base64 32-byte key are replaced with "[redacted]" before anything is sent.
 */
import { logger } from "../log/mod.ts";
import type { Clock } from "./clock.ts";
import { isNotFound, type KubeClient, type KubeObject, type ResourceType } from "./client.ts";
import { type CorrelatorOptions, EventCorrelator, Lru } from "./correlator.ts";
import { redactKeys } from "./redact.ts";

const log = logger("kube", "events");

const EVENTS: ResourceType = { group: "", version: "v1", plural: "events" };
const MAX_MESSAGE = 1024;

/** Event severity. */
export type EventType = "Normal" | "Warning";

/** Who emits the Events. */
export interface EventSource {
  /** Controller name, e.g. "wg-controller". */
  component: string;
  /** Node name or hostname. */
  host: string;
}

/** The core/v1 Event fields this recorder writes. */
export interface CoreEvent extends KubeObject {
  involvedObject: {
    apiVersion?: string;
    kind?: string;
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  reason: string;
  message: string;
  type: EventType;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component: string; host: string };
  reportingComponent: string;
  reportingInstance: string;
}

/** Redacts key-looking tokens and truncates to 1 KiB (pure). */
export function sanitizeMessage(message: string): string {
  const m = redactKeys(message);
  return m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE - 3)}...` : m;
}

/** Records Events for one controller; `record` never throws (failures are logged). */
export class EventRecorder {
  readonly #correlator: EventCorrelator;
  readonly #seen: Lru<string, { name: string; namespace: string; count: number }>;
  #seq = 0n;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    readonly source: EventSource,
    correlation: { options?: Partial<CorrelatorOptions>; clock?: Clock } = {},
  ) {
    this.#correlator = new EventCorrelator(correlation.options, correlation.clock);
    this.#seen = new Lru(this.#correlator.options.cacheSize);
  }

  /** Events dropped by the per-object rate limit so far. */
  get dropped(): number {
    return this.#correlator.dropped;
  }

  /**
   * Records an Event on `obj`. `reason` is a short UpperCamelCase word (e.g. "LinkCreated"); `message` is for humans
   * and must not contain secrets. Resolves once the API call finished (callers may ignore the promise).
   */
  record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    // Serialised, so concurrent repeats aggregate into one Event instead of racing to create two.
    this.#chain = this.#chain.then(() => this.#record(obj, type, reason, message));
    return this.#chain;
  }

  async #record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata;
    const namespace = m.namespace || "default";
    const object = [m.uid ?? "", obj.kind ?? "", namespace, m.name ?? ""].join("\x00");
    const c = this.#correlator.correlate({ object, type, reason, message: sanitizeMessage(message) });
    if (c.skip) {
      log.v(4).info("event dropped by the per-object rate limit", { reason, name: `${namespace}/${m.name}` });
      return;
    }
    const msg = sanitizeMessage(c.message);
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    const prev = this.#seen.get(c.key);
    try {
      if (prev) {
        try {
          await this.client.patch(EVENTS, prev.namespace, prev.name, "merge", {
            count: prev.count + 1,
            lastTimestamp: now,
            message: msg,
          });
          prev.count++;
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e; // the Event expired (TTL): start a new one
        }
      }
      const ev: CoreEvent = {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: this.#eventName(m.name ?? "object"), namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
        },
        reason,
        message: msg,
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.source.component, host: this.source.host },
        reportingComponent: this.source.component,
        reportingInstance: this.source.host,
      };
      const created = await this.client.create<CoreEvent>(EVENTS, namespace, ev);
      this.#seen.set(c.key, { name: created.metadata.name!, namespace, count: 1 });
    } catch (e) {
      log.warn("could not record event", {
        reason,
        name: `${namespace}/${m.name}`,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** Unique name like client-go's: "<object>.<hex timestamp in ns>". */
  #eventName(objName: string): string {
    const ns = BigInt(Date.now()) * 1_000_000n + (this.#seq++ % 1_000_000n);
    return `${objName}.${ns.toString(16)}`;
  }
}
