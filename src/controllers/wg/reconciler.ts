/**
 * wg-controller reconcile: one WireGuardInterface key → kernel state on this node, status, Events, finalizer.
 *
 * - Only this node's objects reach the cache (server-side field selector spec.node).
 * - Keys come from the inline field or from Secrets in the object's own namespace, read again only on a spec change,
 *   after `keyMaxAgeMs` (the resync period) or after a failed pass (KeyCache in keys.ts states the policy).
 * - The finalizer is added by us before the first kernel change and only ours is removed, after the link is gone
 *   (a vanished container needs no link deletion: its namespace took the link with it).
 * - A deleted object without our finalizer (seen as a cache delete) is cleaned up from the location we last used.
 * - Orphans are swept in every open namespace: links carrying THIS agent's mark (kind, node, watched namespace;
 *   src/node/ownership.ts) whose owner the API proves gone, moved to another node or renamed — the node-filtered
 *   cache alone proves nothing, since other nodes' objects are never in it (src/controllers/owners.ts asks the API).
 *   Links of other nodes' agents sharing a namespace are never touched. wireguard-go daemons of our own state
 *   directory that no object of this node wants (confirmed by a live LIST) are stopped. Nothing is deleted on
 *   doubt: an API error keeps the link.
 * - `dryRun`: the plan is computed and logged; no link, status, finalizer or Event is written.
 * - WireGuard drift is found by polling (requeue after `pollIntervalMs`), link and address drift by the shared
 *   rtnetlink monitor, which enqueues the owning key. A poll that finds nothing to change reads each kernel fact
 *   once and sends no Secret GET.
 * - A recreated device (deleted link) gets the peer endpoints the status last published for peers whose spec names
 *   none, so a listening side does not wait for its peers to re-handshake.
 * - Failed status writes are retried in the background and counted in dn42op_status_write_errors_total.
 */
import {
  CONDITION_REASONS,
  CONDITION_TYPES,
  type ConditionReason,
  FIELD_MANAGERS,
  FINALIZERS,
  GROUP,
  KINDS,
  NODE_FIELD,
  VERSION,
} from "../../api/constants.ts";
import { type Placement, wireGuardPlacement } from "../../api/placement.ts";
import type { WireGuardInterface, WireGuardInterfaceStatus } from "../../api/wireguard_interface.ts";
import { type KubeClient, objectKey } from "../../kube/client.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import type { ControllerMetrics } from "../../kube/metrics.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../../kube/finalizers.ts";
import type { OwnWrites } from "../../kube/own_writes.ts";
import type { Informer } from "../../kube/informer.ts";
import { StatusQueue, StatusWriter } from "../../kube/status.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";
import type { DriftMonitor } from "../../node/monitor.ts";
import { type NamespaceResolver, PlacementError, placementKey } from "../../node/placement.ts";
import { desiredState, type PeerProblem, type WgDesired, WgSpecError } from "../../node/wireguard/desired.ts";
import { type EnsureResult, LinkConflictError, type WgNode } from "../../node/wireguard/apply.ts";
import { observedStatus, publishedEndpoints } from "../../node/wireguard/status.ts";
import { WireGuardKey } from "../../wireguard/key.ts";
import { listAll, ownerSource } from "../owners.ts";
import { conditionsFor, type Outcome, problemsMessage } from "../conditions.ts";
import { deletionBlockedMessage, DeletionRetries } from "../deletion.ts";
import { adoptionOf } from "../../node/adoption.ts";
import { resolveEndpoints } from "./endpoints.ts";
import { checkPlanKey, KeyCache, KeyMaterialError, readKeys, SharedSecretReads } from "./keys.ts";
import type { PeerObserver } from "./peer_metrics.ts";
import { CounterThrottle } from "./stats.ts";

const log = logger("wg-controller", "reconcile");

/** The WireGuardInterface resource. */
export const WGI_RESOURCE = { group: GROUP, version: VERSION, plural: KINDS.WireGuardInterface.plural };

/** What the reconciler needs. */
export interface WgReconcilerDeps {
  client: KubeClient;
  informer: Informer<WireGuardInterface>;
  resolver: NamespaceResolver;
  node: WgNode;
  monitor: DriftMonitor;
  events: EventRecorder;
  nodename: string;
  /** Watched namespace (`-namespace`; "" means all): part of the ownership marks and the scope of API lookups. */
  namespace: string;
  dryRun: boolean;
  pollIntervalMs: number;
  /** Peer counters (handshake, bytes) are written at most once per this interval per object (0: on every change). */
  statsIntervalMs: number;
  /** Keys read from Secrets are read again at the latest after this long (the resync period). */
  keyMaxAgeMs: number;
  /** Where status write failures and Secret reads are counted, labelled `controllerName`. */
  metrics?: ControllerMetrics;
  controllerName?: string;
  /** Gets every device the poll reads (peer metrics); told when a link goes. */
  peers?: PeerObserver;
  /** Where the finalizer writes are remembered, so that their echoes cost no pass. */
  ownWrites?: OwnWrites;
}

interface Location {
  placement: Placement;
  name: string;
}

/** Reconciles WireGuardInterface keys on one node. */
export class WgReconciler {
  readonly #d: WgReconcilerDeps;
  readonly #status: StatusQueue<WireGuardInterface, WireGuardInterfaceStatus>;
  readonly #counters: CounterThrottle;
  readonly #keys: KeyCache;
  readonly #deletions = new DeletionRetries();
  /** Peer problems already announced with an Event, per object. */
  readonly #announced = new Map<string, Set<string>>();
  /** The last whole-object problem announced with an Event, per object ("reason\nmessage"). */
  readonly #lastWarned = new Map<string, string>();
  readonly #secrets: SharedSecretReads;
  readonly #where = new Map<string, Location>();
  readonly #hostname = Deno.hostname();

  constructor(deps: WgReconcilerDeps) {
    this.#d = deps;
    this.#status = new StatusQueue(new StatusWriter(deps.client, WGI_RESOURCE, FIELD_MANAGERS.wgController), {
      lookup: (namespace, name) => deps.informer.store.get(`${namespace}/${name}`),
      onError: (key, e) => {
        deps.metrics?.statusWriteErrors.inc({ controller: this.#controller });
        log.warn("status write failed; retrying", { key, error: String(e) });
      },
    });
    this.#counters = new CounterThrottle(deps.statsIntervalMs);
    this.#keys = new KeyCache(deps.keyMaxAgeMs);
    this.#secrets = new SharedSecretReads(
      deps.client,
      () => deps.metrics?.secretReads.inc({ controller: this.#controller }),
    );
  }

  /** Writes the pending statuses (bounded wait) and stops the status writers. */
  close(): Promise<void> {
    return this.#status.close();
  }

  get #controller(): string {
    return this.#d.controllerName ?? "wg-controller";
  }

  /** Links this process currently manages. */
  managedLinks(): number {
    return this.#where.size;
  }

  /** The reconcile function for the harness. */
  reconcile = async (key: string, signal: AbortSignal): Promise<ReconcileResult> => {
    try {
      // The link events of this pass's own changes need no second pass (settled before ensure's last look).
      return await this.#d.monitor.holding(key, () => this.#pass(key, signal));
    } catch (e) {
      this.#keys.forget(key);
      throw e;
    }
  };

  async #pass(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const obj = this.#d.informer.store.get(key);
    if (!obj) return void await this.#gone(key);
    if (obj.spec.node !== this.#d.nodename) return;
    const placement = wireGuardPlacement(obj.spec, obj.metadata.namespace ?? "");
    if (obj.metadata.deletionTimestamp) return await this.#finalize(key, obj, placement);
    this.#deletions.clear(key);
    const fresh = obj.status?.observedGeneration !== obj.metadata.generation; // trace only until converged
    if (fresh) trace(log, "agent-reconcile", key, { generation: obj.metadata.generation });
    await this.#moved(key, obj, placement);

    // The target namespace is looked up while the keys are read: neither needs the other.
    const resolving = this.#d.resolver.resolve(placement, signal).then((t) => ({ t }), (e: unknown) => ({ e }));
    let desired: WgDesired;
    let peerProblems: PeerProblem[];
    try {
      const keys = await this.#keys.get(key, obj, () => readKeys(this.#secrets.get, obj, signal));
      await checkPlanKey(obj.metadata.annotations, obj.spec, keys.privateKey);
      if (fresh) trace(log, "keys-read", key);
      const endpoints = await resolveEndpoints(obj.spec);
      desired = desiredState(obj.spec, keys, {
        endpoint: endpoints.endpoint,
        publicKey: (t, f) => WireGuardKey.parse("public", t, f),
      });
      peerProblems = [...(keys.peerProblems ?? []), ...endpoints.problems].sort((a, b) => a.index - b.index);
    } catch (e) {
      if (e instanceof KeyMaterialError) return this.#degraded(obj, e.reason, e.message);
      if (e instanceof WgSpecError) return this.#degraded(obj, CONDITION_REASONS.InvalidSpec, e.message);
      throw e;
    }

    const resolved = await resolving;
    if ("e" in resolved) {
      const e = resolved.e;
      if (!(e instanceof PlacementError)) throw e;
      const reason = e.reason === "PlacementForbidden"
        ? CONDITION_REASONS.PlacementForbidden
        : CONDITION_REASONS.PlacementNotFound;
      return this.#degraded(obj, reason, e.message, 2000);
    }
    const target = resolved.t;
    if (fresh) trace(log, "placement-resolved", key);

    // A plan's child carries the plan's finalizer, which #finalize removes only after the link is gone: it guards the
    // link as ours would, so a child needs no second finalizer (and its first pass no extra API write).
    const guarded = hasFinalizer(obj, FINALIZERS.wireGuardInterface) || hasFinalizer(obj, FINALIZERS.planChild);
    if (!this.#d.dryRun && !guarded) {
      const updated = await addFinalizer(this.#d.client, WGI_RESOURCE, obj, FINALIZERS.wireGuardInterface, {
        ownWrites: this.#d.ownWrites,
      });
      if (!updated) return;
      trace(log, "finalizer-added", key);
    }

    let r: EnsureResult;
    try {
      r = await this.#d.node.ensure(
        key,
        desired,
        target.ns,
        this.#d.dryRun,
        publishedEndpoints(obj.status),
        adoptionOf(key, obj.metadata.annotations),
        () => this.#d.monitor.settle(key, [this.#d.resolver.host.id, target.id]),
      );
    } catch (e) {
      if (e instanceof LinkConflictError) return this.#degraded(obj, CONDITION_REASONS.LinkConflict, e.message);
      this.#degraded(obj, CONDITION_REASONS.KernelError, (e as Error).message, -1);
      throw e;
    }
    if (this.#d.dryRun) {
      if (r.actions.length) log.info("dry-run: would change", { key, actions: r.actions.join("; ") });
      return { requeueAfterMs: this.#d.pollIntervalMs };
    }
    this.#where.set(key, { placement, name: desired.name });
    this.#d.peers?.observe(key, r.observed?.device);
    if (r.observed) {
      this.#d.monitor.track(target.id, key, { names: [desired.name], indexes: [r.observed.link.index] });
    }
    this.#notify(obj, r);
    if (peerProblems.length) {
      // Only these peers are affected; everything else, peer removals included, was applied above.
      const message = problemsMessage(peerProblems.map((p) => p.message));
      // One Event per problem when it first appears (also across restarts: the condition already names it).
      const shown = this.#announced.get(key) ?? new Set(condition(obj, CONDITION_TYPES.Ready)?.message?.split("; "));
      for (const p of peerProblems) if (!shown.has(p.message)) this.#warn(obj, p.reason, p.message);
      this.#announced.set(key, new Set(peerProblems.map((p) => p.message)));
      this.#lastWarned.delete(key);
      this.#writeStatus(obj, { kind: "degraded", reason: CONDITION_REASONS.PeersDegraded, message }, r);
      return { requeueAfterMs: this.#d.pollIntervalMs };
    }
    this.#announced.delete(key);
    this.#lastWarned.delete(key);
    const outcome: Outcome = r.converged
      ? { kind: "converged" }
      : { kind: "progressing", message: "changes applied; waiting for the node to match" };
    this.#writeStatus(obj, outcome, r);
    return { requeueAfterMs: r.converged ? this.#d.pollIntervalMs : 1000 };
  }

  #notify(obj: WireGuardInterface, r: EnsureResult): void {
    if (r.actions.length === 0) return;
    const text = r.actions.join("; ");
    log.info("changed", { key: objectKey(obj), actions: text });
    const converged = obj.status?.observedGeneration === obj.metadata.generation;
    const reason = r.adopted ? "Adopted" : r.created ? "Created" : converged ? "DriftHealed" : "Configured";
    void this.#d.events.record(obj, "Normal", reason, text.slice(0, 900)).catch(() => {});
  }

  /** Hands the status of this pass to the background writer (the pass does not wait for the API server). */
  #writeStatus(obj: WireGuardInterface, outcome: Outcome, r?: EnsureResult): void {
    if (this.#d.dryRun) return;
    const gen = obj.metadata.generation;
    const key = objectKey(obj);
    this.#status.submit(obj.metadata.namespace!, obj.metadata.name!, (cur) => {
      const prev = cur.status ?? {};
      const observed = r?.observed ? observedStatus(r.observed) : pickObserved(prev);
      const wireguard = this.#counters.device(key, observed.wireguard, prev.wireguard);
      const s: WireGuardInterfaceStatus = {
        ...observed,
        ...(wireguard ? { wireguard } : {}),
        hostname: this.#hostname,
        nodename: this.#d.nodename,
        conditions: conditionsFor(prev.conditions, outcome, gen, new Date()),
      };
      const observedGeneration = outcome.kind === "converged" ? gen : prev.observedGeneration;
      if (observedGeneration !== undefined) s.observedGeneration = observedGeneration;
      return s;
    }, obj);
  }

  /** The link's namespace cannot be reached: keep the finalizer, say so in status, retry with backoff. */
  #deletionBlocked(obj: WireGuardInterface, e: PlacementError): ReconcileResult {
    const { attempt, delayMs } = this.#deletions.next(objectKey(obj));
    const what = `link ${obj.spec.interfaceName}`;
    log.warn("deletion blocked", { key: objectKey(obj), attempt, error: e.message });
    if (attempt === 1) {
      this.#warn(obj, CONDITION_REASONS.DeletionBlocked, deletionBlockedMessage(what, e.message, 1, delayMs));
    }
    const message = deletionBlockedMessage(what, e.message, attempt, delayMs);
    this.#writeStatus(obj, { kind: "degraded", reason: CONDITION_REASONS.DeletionBlocked, message });
    return { requeueAfterMs: delayMs };
  }

  /** Whether the object's Ready condition does not already say `reason` and `message` (then an Event is news). */
  #conditionChanged(obj: WireGuardInterface, reason: string, message: string): boolean {
    const ready = condition(obj, CONDITION_TYPES.Ready);
    return ready?.reason !== reason || ready.message !== message;
  }

  #warn(obj: WireGuardInterface, reason: string, message: string): void {
    if (!this.#d.dryRun) void this.#d.events.record(obj, "Warning", reason, message.slice(0, 900)).catch(() => {});
  }

  /**
   * Status Degraded with `reason`, and a Warning Event when the problem is news (a retry of the same problem adds
   * none, also before the status written by the last pass is back in the cache; after a restart the condition
   * tells); retried after `retryMs` (-1: caller throws).
   */
  #degraded(
    obj: WireGuardInterface,
    reason: ConditionReason,
    message: string,
    retryMs?: number,
  ): ReconcileResult {
    log.warn("degraded", { key: objectKey(obj), reason, message });
    if (!this.#d.dryRun) {
      const key = objectKey(obj);
      const said = this.#lastWarned.get(key);
      if (said === undefined ? this.#conditionChanged(obj, reason, message) : said !== `${reason}\n${message}`) {
        this.#warn(obj, reason, message);
      }
      this.#lastWarned.set(key, `${reason}\n${message}`);
      this.#announced.delete(key);
      this.#writeStatus(obj, { kind: "degraded", reason, message });
    }
    if (retryMs === -1) return;
    return { requeueAfterMs: retryMs ?? this.#d.pollIntervalMs };
  }

  /** A changed placement or interface name: the old link goes first. */
  async #moved(key: string, obj: WireGuardInterface, placement: Placement): Promise<void> {
    const was = this.#where.get(key);
    if (!was || (was.name === obj.spec.interfaceName && placementKey(was.placement) === placementKey(placement))) {
      return;
    }
    await this.#removeAt(key, was);
  }

  /** Removes the link at `at`; throws a transient PlacementError when its namespace may still exist but is unreachable. */
  async #removeAt(key: string, at: Location): Promise<string[]> {
    let ns;
    try {
      ns = (await this.#d.resolver.resolve(at.placement, undefined, { fresh: true })).ns;
    } catch (e) {
      // A known-gone container or namespace took the link with it; an unanswered lookup proves nothing.
      if (!(e instanceof PlacementError) || e.transient) throw e;
    }
    trace(log, "agent-deleting", key);
    const actions = await this.#d.node.remove(key, at.name, ns, this.#d.dryRun);
    if (actions.length) {
      trace(log, "device-removed", key);
      log.info(this.#d.dryRun ? "dry-run: would remove" : "removed", { key, actions: actions.join("; ") });
    }
    if (!this.#d.dryRun) {
      this.#d.monitor.untrack(key);
      this.#where.delete(key);
      this.#status.cancel(key);
      this.#counters.forget(key);
      this.#keys.forget(key);
      this.#d.peers?.forget(key);
      this.#announced.delete(key);
      this.#lastWarned.delete(key);
      await this.#d.resolver.release(at.placement);
    }
    return actions;
  }

  async #gone(key: string): Promise<void> {
    const at = this.#where.get(key);
    if (at) await this.#removeAt(key, at);
  }

  /**
   * Removes the link, then the finalizers that wait for it: ours and the one a plan puts on its children
   * (docs/reference.md#plan-expansion: each node's wg-controller deletes the link, then clears that finalizer); without
   * the latter a deleted plan's children stay Terminating and a re-created plan can never recreate them.
   */
  async #finalize(key: string, obj: WireGuardInterface, placement: Placement): Promise<ReconcileResult> {
    const waiting = [FINALIZERS.wireGuardInterface, FINALIZERS.planChild].filter((f) => hasFinalizer(obj, f));
    if (!waiting.length) return;
    let actions: string[];
    try {
      actions = await this.#removeAt(key, { placement, name: obj.spec.interfaceName });
    } catch (e) {
      if (!(e instanceof PlacementError && e.transient)) throw e;
      return this.#deletionBlocked(obj, e);
    }
    this.#deletions.clear(key);
    if (this.#d.dryRun) return;
    if (actions.length) void this.#d.events.record(obj, "Normal", "Deleted", actions.join("; ")).catch(() => {});
    let current: WireGuardInterface | undefined = obj;
    for (const f of waiting) {
      if (current) {
        current = await removeFinalizer(this.#d.client, WGI_RESOURCE, current, f, { ownWrites: this.#d.ownWrites });
      }
    }
  }

  /**
   * Deletes links marked by this agent whose owner the API proves gone (or moved or renamed), and stops the
   * wireguard-go daemons of our state directory no object of this node wants. Call only after the informer synced.
   */
  async sweep(signal?: AbortSignal): Promise<void> {
    if (!this.#d.informer.hasSynced()) return;
    const owners = ownerSource<WireGuardInterface>({
      client: this.#d.client,
      resource: WGI_RESOURCE,
      store: this.#d.informer.store,
      namespace: this.#d.namespace,
      nodeOf: (o) => o.spec.node,
      wants: (o, name) => o.spec.interfaceName === name,
      signal,
    });
    for (const t of this.#d.resolver.targets()) {
      if (t.ns.closed) continue;
      const actions = await this.#d.node.sweep(t.ns, owners, this.#d.dryRun);
      if (actions.length) log.info(this.#d.dryRun ? "dry-run: would sweep" : "swept", { actions: actions.join("; ") });
    }
    const stopped = await this.#d.node.sweepDaemons((names) => this.#unwantedDaemons(names, signal), this.#d.dryRun);
    if (stopped.length) log.info(this.#d.dryRun ? "dry-run: would stop" : "stopped", { actions: stopped.join("; ") });
  }

  /** Of `names` (our running daemons), those that neither the cache nor a live LIST of this node's objects wants. */
  async #unwantedDaemons(names: string[], signal?: AbortSignal): Promise<string[]> {
    const cached = new Set(this.#d.informer.store.list().map((o) => o.spec.interfaceName));
    const candidates = names.filter((n) => !cached.has(n));
    if (!candidates.length) return [];
    try {
      const live = await listAll<WireGuardInterface>(this.#d.client, WGI_RESOURCE, {
        namespace: this.#d.namespace || undefined,
        fieldSelector: `${NODE_FIELD}=${this.#d.nodename}`,
        signal,
      });
      const wanted = new Set(live.map((o) => o.spec.interfaceName));
      return candidates.filter((n) => !wanted.has(n));
    } catch (e) {
      log.warn("cannot confirm that no object wants these daemons; keeping them", {
        daemons: candidates.join(" "),
        error: String(e),
      });
      return [];
    }
  }
}

/** The object's condition of `type`. */
function condition(obj: WireGuardInterface, type: string) {
  return obj.status?.conditions?.find((c) => c.type === type);
}

function pickObserved(s: WireGuardInterfaceStatus): Partial<WireGuardInterfaceStatus> {
  const { mtu, operState, addresses, netlink, wireguard } = s;
  return JSON.parse(JSON.stringify({ mtu, operState, addresses, netlink, wireguard }));
}
