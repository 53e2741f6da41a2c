/**
 * Drift monitor (shared by wg-controller and nl-controller): one rtnetlink event subscription per open namespace
 * (started and stopped with the {@link NamespaceResolver}'s handles) that maps link and address changes to the keys
 * of the objects owning or depending on them, and hands those keys to the controller's queue.
 *
 * A link event is attributed to: the owner in its ownership mark (this agent's marks only); every object that tracks its name or ifindex in
 * that namespace (a wanted link that someone else created or deleted, a bridge slave, a vxlan underlay); and the
 * objects tracking its master (a slave joined or left a bridge). An address event is attributed through the
 * ifindex. A kernel buffer overflow (ENOBUFS) or a failed subscription asks for a full resync.
 */
import { logger } from "../log/mod.ts";
import { type NetlinkEvent, NetlinkMonitor } from "../netlink/mod.ts";
import { type AgentIdentity, markedKey } from "./ownership.ts";
import type { NamespaceListener, NsTarget } from "./placement.ts";

const log = logger("node", "monitor");

/** Options of {@link DriftMonitor}. */
export interface DriftMonitorOptions {
  /** The agent; only its own marks are attributed by mark (other agents' links in a shared namespace are not). */
  agent: AgentIdentity;
  /** Queues one object key. */
  enqueue(key: string): void;
  /** Queues every object (after lost notifications). */
  resyncAll(reason: string): void;
  /** Keys of the objects in the cache (to resolve hashed marks). */
  knownKeys?(): Iterable<string>;
}

/** What an object depends on in one namespace. */
export interface TrackedLinks {
  /** Link names (the managed link(s), bridge slaves, underlay devices, …). */
  names: string[];
  /** ifindexes of those that exist now (lets address events be attributed before any link event arrived). */
  indexes?: number[];
}

class KeyIndex<K> {
  readonly #m = new Map<K, Set<string>>();
  add(k: K, key: string): void {
    let s = this.#m.get(k);
    if (!s) this.#m.set(k, s = new Set());
    s.add(key);
  }
  remove(k: K, key: string): void {
    const s = this.#m.get(k);
    if (s?.delete(key) && s.size === 0) this.#m.delete(k);
  }
  get(k: K): Iterable<string> {
    return this.#m.get(k) ?? [];
  }
  drop(k: K): void {
    this.#m.delete(k);
  }
}

class NamespaceWatch {
  readonly names = new KeyIndex<string>();
  readonly indexes = new KeyIndex<number>();
  readonly tracked = new Map<string, TrackedLinks>();
  monitor?: NetlinkMonitor;
}

/** Maps rtnetlink events of every open namespace to object keys. Register it with `resolver.listen(monitor)`. */
export class DriftMonitor implements NamespaceListener {
  readonly #o: DriftMonitorOptions;
  readonly #watches = new Map<string, NamespaceWatch>();
  /** Objects in a pass whose events are held ({@link hold}): whether one came meanwhile. */
  readonly #held = new Map<string, boolean>();
  #events = 0;

  constructor(opts: DriftMonitorOptions) {
    this.#o = opts;
  }

  /** Events received so far (all namespaces). */
  get events(): number {
    return this.#events;
  }

  #watch(id: string): NamespaceWatch {
    let w = this.#watches.get(id);
    if (!w) this.#watches.set(id, w = new NamespaceWatch());
    return w;
  }

  /** NamespaceListener: subscribes in a newly opened namespace. */
  opened(t: NsTarget): void {
    const w = this.#watch(t.id);
    if (w.monitor) return;
    try {
      w.monitor = NetlinkMonitor.start(t.ns, (e) => this.#onEvent(w, e));
      w.monitor.done.catch((e) => {
        log.error("event monitor failed; resyncing", { ns: t.label, error: String(e) });
        w.monitor = undefined;
        this.#o.resyncAll(`event monitor in ${t.label} failed`);
      });
    } catch (e) {
      log.error("cannot subscribe to link events", { ns: t.label, error: String(e) });
    }
  }

  /** NamespaceListener: unsubscribes before the handle closes; every object tracked there is re-queued. */
  async closing(t: NsTarget): Promise<void> {
    const w = this.#watches.get(t.id);
    if (!w) return;
    this.#watches.delete(t.id);
    await w.monitor?.stop();
    for (const key of w.tracked.keys()) this.#o.enqueue(key);
  }

  /** Sets what object `key` depends on in namespace `nsId` (replacing what it tracked there before). */
  track(nsId: string, key: string, links: TrackedLinks): void {
    const w = this.#watch(nsId);
    this.#forget(w, key);
    w.tracked.set(key, links);
    for (const n of links.names) w.names.add(n, key);
    for (const i of links.indexes ?? []) w.indexes.add(i, key);
  }

  /** Stops attributing events to `key` in every namespace (`nsId` omitted) or in one. */
  untrack(key: string, nsId?: string): void {
    for (const [id, w] of this.#watches) if (nsId === undefined || id === nsId) this.#forget(w, key);
  }

  #forget(w: NamespaceWatch, key: string): void {
    const old = w.tracked.get(key);
    if (!old) return;
    w.tracked.delete(key);
    for (const n of old.names) w.names.remove(n, key);
    for (const i of old.indexes ?? []) w.indexes.remove(i, key);
  }

  /** Keys an event concerns (pure bookkeeping; also updates the ifindex index). */
  #keysOf(w: NamespaceWatch, e: NetlinkEvent): Set<string> {
    const keys = new Set<string>();
    if (e.type === "address") {
      for (const k of w.indexes.get(e.address.index)) keys.add(k);
      return keys;
    }
    if (e.type !== "link") return keys;
    const l = e.link;
    const owner = markedKey(l.alias, this.#o.agent, this.#o.knownKeys?.() ?? []);
    if (owner !== undefined) keys.add(owner);
    for (const k of w.names.get(l.name)) keys.add(k);
    for (const k of w.indexes.get(l.index)) keys.add(k);
    if (l.master !== null) { for (const k of w.indexes.get(l.master)) keys.add(k); }
    if (e.action === "del") w.indexes.drop(l.index);
    else for (const k of keys) if (w.tracked.has(k)) w.indexes.add(l.index, k);
    return keys;
  }

  #onEvent(w: NamespaceWatch, e: NetlinkEvent): void {
    this.#events++;
    if (e.type === "resync") {
      this.#o.resyncAll(e.reason);
      return;
    }
    for (const k of this.#keysOf(w, e)) {
      if (this.#held.has(k)) this.#held.set(k, true);
      else this.#o.enqueue(k);
    }
  }

  /**
   * A pass of `key` begins: its events are held instead of queued, until {@link settle} (they were the pass's own
   * doing, or at least older than what it observes last) or {@link release}. Without this, every change a pass makes
   * brings the object back for a second pass that finds nothing to do.
   */
  hold(key: string): void {
    this.#held.set(key, false);
  }

  /**
   * Called by the pass right before its final look at the kernel: waits until every event queued so far in the
   * namespaces `nsIds` has been seen, drops what was held for `key` (the look that follows covers it) and stops
   * holding, so anything later is queued as usual. If a namespace's events cannot be ordered (its monitor stopped),
   * the held events stay held and {@link release} delivers them.
   */
  async settle(key: string, nsIds: Iterable<string>): Promise<void> {
    const monitors = [...new Set(nsIds)].map((id) => this.#watches.get(id)?.monitor);
    try {
      await Promise.all(monitors.map((m) => m?.sync()));
    } catch (e) {
      log.v(4).info("events not ordered; keeping them", { key, error: String(e) });
      return;
    }
    this.#held.delete(key);
  }

  /** The pass of `key` ended: an event held and not settled is queued now. */
  release(key: string): void {
    if (this.#held.get(key)) this.#o.enqueue(key);
    this.#held.delete(key);
  }

  /** Runs `pass` of `key` between {@link hold} and {@link release}; the pass calls {@link settle} after changes. */
  async holding<T>(key: string, pass: () => Promise<T>): Promise<T> {
    this.hold(key);
    try {
      return await pass();
    } finally {
      this.release(key);
    }
  }

  /** Stops every subscription. */
  async stop(): Promise<void> {
    const ws = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all(ws.map((w) => w.monitor?.stop()));
  }
}
