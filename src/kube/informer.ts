/**
 * Informer: keeps a local cache of one resource type in sync through list + watch, and tells handlers about adds,
 * updates and deletes. Written on client-node's `Watch` instead of its `makeInformer`, which stops for good on any
 * non-410 error and has no watchdog.
 *
 * - paginated list (quorum read), then watch from the list's resourceVersion with bookmarks;
 * - a watch that ends is resumed from the last seen resourceVersion (events and bookmarks advance it);
 * - 410 Gone, as an in-stream ERROR event or as an HTTP status (watch or expired continue token), triggers a relist
 *   that diffs the new list against the cache (missed deletes become delete events);
 * - other errors retry with exponential backoff (0.8 s … 5 s, jitter taken off: {@link RECONNECT_BACKOFF}), forever,
 *   until `stop()`: after an API server outage of any length the cache is current again within about 5 s of its
 *   return;
 * - a watchdog aborts a watch that delivered nothing (not even a bookmark) for `watchdogMs`;
 * - every `resyncPeriodMs` each cached object is passed to the `resync` handlers (drift-detection tick);
 * - cached objects carry no `metadata.managedFields`.
 */
import { logger } from "../log/mod.ts";
import { Backoff } from "./backoff.ts";
import { sleep } from "./clock.ts";
import {
  isGone,
  KubeApiError,
  type KubeClient,
  type KubeObject,
  objectKey,
  type ResourceType,
  type WatchEvent,
} from "./client.ts";
import { type ReadStore, Store } from "./store.ts";

const log = logger("kube", "informer");

/**
 * Reconnect backoff of list and watch: from 0.8 s doubling to a 5 s cap, each delay up to half shorter at random.
 * client-go's reflector caps at 30 s, so after a long outage its controllers may wait half a minute to see the API
 * server again; a low cap keeps that wait a few seconds, and the jitter keeps many agents from retrying in step (at
 * the cap one retry per 2.5–5 s each, a cheap failed connection while the server is down).
 */
export const RECONNECT_BACKOFF = { initialMs: 800, maxMs: 5_000, jitter: 0.5 } as const;

/** Callbacks of an informer; exceptions thrown by them are logged and otherwise ignored. */
export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  /** `obj` is the last known state (after a relist it may be older than the deletion). */
  delete?(obj: T): void;
  /** Periodic resync: called for every cached object once per resync period. */
  resync?(obj: T): void;
}

/** What an informer lists and watches, and its timing. */
export interface InformerOptions {
  resource: ResourceType;
  /** Only this namespace (default: all namespaces). */
  namespace?: string;
  labelSelector?: string;
  /** Server-side field selector, e.g. "spec.node=lax1" (needs a CRD selectableField). */
  fieldSelector?: string;
  /** 0 disables periodic resync (default 0). */
  resyncPeriodMs?: number;
  /** List page size (default 500). */
  pageSize?: number;
  /** Server-side watch timeout; default random 300–600 s like client-go. */
  watchTimeoutSeconds?: number;
  /** Abort a watch that received nothing for this long (default: watch timeout + 60 s). */
  watchdogMs?: number;
  /** Reconnect backoff (default {@link RECONNECT_BACKOFF}). */
  backoff?: Backoff;
  /** Name used in logs and stats (default: the plural). */
  name?: string;
}

/** Counters describing what the informer did; useful for metrics and tests. */
export interface InformerStats {
  lists: number;
  /** Relists caused by 410 Gone. */
  relists: number;
  watches: number;
  /** Watches aborted by the watchdog. */
  watchdogAborts: number;
  errors: number;
  lastError?: string;
}

type WatchOutcome = { kind: "closed"; events: number } | { kind: "gone" } | { kind: "error"; error: unknown } | {
  kind: "stalled";
};

/** What a fresh list changes relative to the cache. */
export interface SnapshotDiff<T> {
  added: T[];
  /** [cached, listed] pairs whose resourceVersion differs. */
  updated: [T, T][];
  /** Cached objects missing from the list (deleted while we were not watching). */
  deleted: T[];
}

/** Compares a full list with the cache (pure): new keys, changed resourceVersions and vanished keys. */
export function diffSnapshot<T extends KubeObject>(cached: ReadStore<T>, items: readonly T[]): SnapshotDiff<T> {
  const d: SnapshotDiff<T> = { added: [], updated: [], deleted: [] };
  const seen = new Set<string>();
  for (const obj of items) {
    const key = objectKey(obj);
    seen.add(key);
    const old = cached.get(key);
    if (!old) d.added.push(obj);
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) d.updated.push([old, obj]);
  }
  for (const key of cached.keys()) if (!seen.has(key)) d.deleted.push(cached.get(key)!);
  return d;
}

/**
 * Drops `metadata.managedFields` (server-side apply bookkeeping, often the largest part of an object) before caching:
 * no controller reads it, and a PUT without it keeps the stored value.
 */
function slim<T extends KubeObject>(obj: T): T {
  const m = obj.metadata as { managedFields?: unknown } | undefined;
  if (m?.managedFields !== undefined) delete m.managedFields;
  return obj;
}

/** List+watch cache of one resource type. */
export class Informer<T extends KubeObject> {
  readonly #store = new Store<T>();
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #stop = new AbortController();
  readonly #backoff: Backoff;
  readonly #syncWaiters: (() => void)[] = [];
  #resourceVersion = "";
  #synced = false;
  #loop?: Promise<void>;
  #abortWatch?: () => void;
  #resyncTimer?: ReturnType<typeof setInterval>;
  readonly stats: InformerStats = { lists: 0, relists: 0, watches: 0, watchdogAborts: 0, errors: 0 };

  constructor(private readonly client: KubeClient, readonly options: InformerOptions) {
    const b = RECONNECT_BACKOFF;
    this.#backoff = options.backoff ?? new Backoff(b.initialMs, b.maxMs, b.jitter);
  }

  /** The cache (read-only view). */
  get store(): ReadStore<T> {
    return this.#store;
  }

  /** Name for logs. */
  get name(): string {
    return this.options.name ?? this.options.resource.plural;
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Registers handlers; objects already cached are replayed as adds. */
  on(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
    if (this.#synced) { for (const o of this.#store.list()) this.#call(handlers, "add", o); }
  }

  /** True once the first list has been delivered to the handlers. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true when synced, false when stopped (or `signal` aborted) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#stop.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        signal?.removeEventListener("abort", onAbort);
        this.#stop.signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const onAbort = () => done(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#stop.signal.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push(() => done(true));
    });
  }

  /** Starts list+watch in the background (idempotent). */
  start(): void {
    if (this.#loop || this.#stop.signal.aborted) return;
    this.#loop = this.#run();
    const period = this.options.resyncPeriodMs ?? 0;
    if (period > 0) this.#resyncTimer = setInterval(() => this.#resync(), period);
  }

  /** Stops watching and lets the process exit; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#stop.abort();
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    this.#abortWatch?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let needList = true;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.#list();
          needList = false;
        } catch (e) {
          if (signal.aborted) break;
          this.#error("list", e);
          await sleep(this.#backoff.next(), signal);
          continue;
        }
      }
      const started = performance.now();
      const outcome = await this.#watchOnce();
      if (signal.aborted) break;
      switch (outcome.kind) {
        case "gone":
          this.stats.relists++;
          log.info("resourceVersion expired (410 Gone), relisting", {
            informer: this.name,
            rv: this.#resourceVersion,
          });
          needList = true;
          break;
        case "stalled":
          this.stats.watchdogAborts++;
          log.warn("watch silent too long, restarting it", {
            informer: this.name,
            ms: this.#watchdogMs,
          });
          break;
        case "closed":
          // A watch the server ended normally; back off only if it ends right away without any event.
          if (outcome.events === 0 && performance.now() - started < 1000) {
            await sleep(this.#backoff.next(), signal);
          } else this.#backoff.reset();
          break;
        case "error":
          this.#error("watch", outcome.error);
          await sleep(this.#backoff.next(), signal);
          break;
      }
    }
  }

  get #watchTimeoutSeconds(): number {
    return this.options.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random()));
  }

  get #watchdogMs(): number {
    return this.options.watchdogMs ?? ((this.options.watchTimeoutSeconds ?? 600) + 60) * 1000;
  }

  #error(what: string, e: unknown): void {
    this.stats.errors++;
    this.stats.lastError = e instanceof Error ? e.message : String(e);
    log.warn("list/watch failed, retrying with backoff", { informer: this.name, what, error: this.stats.lastError });
  }

  /** Full paginated list; replaces the cache and fires the differences. A 410 on a continue token restarts it. */
  async #list(): Promise<void> {
    const o = this.options;
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    this.stats.lists++;
    do {
      let page;
      try {
        page = await this.client.list<T>(o.resource, {
          namespace: o.namespace,
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          limit: o.pageSize ?? 500,
          continue: cont,
          signal: this.#stop.signal,
        });
      } catch (e) {
        if (cont && isGone(e)) { // continue token expired: start the list over
          items.length = 0;
          cont = undefined;
          continue;
        }
        throw e;
      }
      const kind = page.kind?.replace(/List$/, "");
      for (const it of page.items) {
        items.push(slim({ ...it, apiVersion: it.apiVersion ?? page.apiVersion, kind: it.kind ?? kind }));
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? "";
    } while (cont);
    this.#replace(items);
    this.#resourceVersion = rv;
    this.#backoff.reset();
    if (!this.#synced) {
      this.#synced = true;
      this.#syncWaiters.splice(0).forEach((w) => w());
    }
  }

  #replace(items: T[]): void {
    const d = diffSnapshot(this.#store, items);
    for (const obj of d.added) this.#store.upsert(obj);
    for (const [, obj] of d.updated) this.#store.upsert(obj);
    for (const obj of d.deleted) this.#store.remove(objectKey(obj));
    for (const obj of d.added) this.#fire("add", obj);
    for (const [old, obj] of d.updated) this.#fire("update", old, obj);
    for (const obj of d.deleted) this.#fire("delete", obj);
  }

  #watchOnce(): Promise<WatchOutcome> {
    const o = this.options;
    this.stats.watches++;
    return new Promise<WatchOutcome>((resolve) => {
      let settled = false;
      let events = 0;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const finish = (outcome: WatchOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.#abortWatch?.();
        this.#abortWatch = undefined;
        resolve(outcome);
      };
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish({ kind: "stalled" }), this.#watchdogMs);
      };
      arm();
      const onEvent = (ev: WatchEvent<T>) => {
        if (settled) return;
        arm();
        events++;
        if (ev.type === "ERROR") {
          const s = ev.object as unknown as { code?: number; reason?: string; message?: string };
          if (s.code === 410) return finish({ kind: "gone" });
          return finish({
            kind: "error",
            error: new KubeApiError(s.code ?? 0, s.reason ?? "WatchError", `watch ${this.name}`, s.message ?? ""),
          });
        }
        const rv = ev.object?.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        if (ev.type === "BOOKMARK") return;
        this.#apply(ev);
      };
      const onDone = (err: unknown) => {
        if (this.#stop.signal.aborted || settled) return finish({ kind: "closed", events });
        if (!err) return finish({ kind: "closed", events });
        if (isGone(err)) return finish({ kind: "gone" });
        finish({ kind: "error", error: err });
      };
      this.client.watch<T>(
        o.resource,
        {
          namespace: o.namespace,
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.#watchTimeoutSeconds,
        },
        onEvent,
        onDone,
      ).then((abort) => {
        if (settled || this.#stop.signal.aborted) abort();
        else this.#abortWatch = abort;
      }, (e) => finish({ kind: "error", error: e }));
    });
  }

  #apply(ev: WatchEvent<T>): void {
    const obj = slim(ev.object);
    if (ev.type === "DELETED") {
      const old = this.#store.remove(objectKey(obj));
      this.#fire("delete", old ?? obj);
      return;
    }
    const old = this.#store.upsert(obj);
    if (old) this.#fire("update", old, obj);
    else this.#fire("add", obj);
  }

  #resync(): void {
    if (!this.#synced) return;
    for (const obj of this.#store.list()) this.#fire("resync", obj);
  }

  #fire(kind: "add" | "delete" | "resync", obj: T): void;
  #fire(kind: "update", old: T, obj: T): void;
  #fire(kind: keyof InformerHandlers<T>, a: T, b?: T): void {
    for (const h of this.#handlers) this.#call(h, kind, a, b);
  }

  #call(h: InformerHandlers<T>, kind: keyof InformerHandlers<T>, a: T, b?: T): void {
    try {
      if (kind === "update") h.update?.(a, b!);
      else h[kind]?.(a);
    } catch (e) {
      log.error("event handler threw", { informer: this.name, kind, error: String(e) });
    }
  }
}
