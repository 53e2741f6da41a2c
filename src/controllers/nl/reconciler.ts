/**
 * NetlinkInterface reconcile: one key → finalizer, desired state, placement, kernel pass, drift tracking, Events,
 * status. Deletions happen only for an object deleted with our finalizer, an object the synced cache no longer holds
 * (links this process recorded for it), or (garbage collection) links carrying this agent's mark whose owner the API
 * proves gone, moved to another node or renamed (src/controllers/owners.ts; other nodes' links in a shared namespace
 * are never touched). A failing watch or API never leads to deletions.
 */
import { hostname } from "node:os";
import { CONDITION_REASONS, FIELD_MANAGERS, FINALIZERS } from "../../api/constants.ts";
import type { NetlinkInterface } from "../../api/netlink_interface.ts";
import { Backoff } from "../../kube/backoff.ts";
import { type KubeClient, objectKey, type ResourceType } from "../../kube/client.ts";
import type { ReconcileResult } from "../../kube/controller.ts";
import type { EventRecorder } from "../../kube/events.ts";
import { addFinalizer, type FinalizerWriteOptions, hasFinalizer, removeFinalizer } from "../../kube/finalizers.ts";
import type { OwnWrites } from "../../kube/own_writes.ts";
import type { ReadStore } from "../../kube/store.ts";
import type { ControllerMetrics } from "../../kube/metrics.ts";
import { StatusQueue, StatusWriter } from "../../kube/status.ts";
import { logger } from "../../log/mod.ts";
import type { DriftMonitor } from "../../node/monitor.ts";
import { type Action, applyInterface } from "../../node/netlink/apply.ts";
import { type DesiredInterface, desiredInterface, SpecError } from "../../node/netlink/desired.ts";
import { collectGarbage, removeOwnLinks } from "../../node/netlink/remove.ts";
import type { AgentIdentity } from "../../node/ownership.ts";
import { type NamespaceResolver, type NsTarget, PlacementError } from "../../node/placement.ts";
import { ownerSource } from "../owners.ts";
import { buildStatus, problemsShown, type StatusProblem } from "./status.ts";
import { deletionBlockedMessage, DeletionRetries } from "../deletion.ts";
import { adoptionOf } from "../../node/adoption.ts";

const log = logger("nl-controller");

/** The NetlinkInterface resource. */
export const NETLINK_INTERFACES: ResourceType = {
  group: "networking.dn42.io",
  version: "v1alpha1",
  plural: "netlinkinterfaces",
};

/** Re-check interval while a problem (conflict, missing dependency, placement) persists. */
const PROBLEM_RETRY_MS = 30_000;
/** Retries after a kernel refusal (a link kind whose module may be loaded later): exponential, 2 s up to 5 min. */
const KERNEL_RETRY = { initialMs: 2_000, maxMs: 300_000 };
const KERNEL_REASONS = new Set<string>(["KindUnsupported", "KernelError"]);

/** What the reconciler needs. */
export interface NlReconcilerOptions {
  client: KubeClient;
  store: ReadStore<NetlinkInterface>;
  resolver: NamespaceResolver;
  monitor: DriftMonitor;
  events: EventRecorder;
  nodename: string;
  /** Watched namespace (`-namespace`; "" means all): part of the ownership marks and the scope of API lookups. */
  namespace: string;
  dryRun: boolean;
  /** Where failed status writes are counted (dn42op_status_write_errors_total). */
  metrics?: ControllerMetrics;
  /** Where the finalizer writes are remembered, so that their echoes cost no pass. */
  ownWrites?: OwnWrites;
}

/** Where an object's links were last seen (to remove them when the object vanishes without a finalizer). */
interface Record {
  ends: { target: NsTarget; name: string }[];
  converged: boolean;
}

/** Reconciles NetlinkInterfaces of one node. */
export class NlReconciler {
  readonly #o: NlReconcilerOptions;
  /** Our finalizer writes are remembered, so that their echoes cost no pass. */
  readonly #finalizerWrites: FinalizerWriteOptions;
  readonly #status: StatusQueue<NetlinkInterface>;
  readonly #records = new Map<string, Record>();
  /** Per key: the problems last announced with Warning Events (one Event per change, not per retry). */
  readonly #warned = new Map<string, string>();
  /** Per key: backoff of retries after kernel refusals. */
  readonly #kernelRetry = new Map<string, Backoff>();
  readonly #deletions = new DeletionRetries();
  readonly #host = hostname();
  readonly #agent: AgentIdentity;

  constructor(o: NlReconcilerOptions) {
    this.#o = o;
    this.#finalizerWrites = { ownWrites: o.ownWrites };
    this.#agent = { kind: "nl", node: o.nodename, namespace: o.namespace };
    this.#status = new StatusQueue(new StatusWriter(o.client, NETLINK_INTERFACES, FIELD_MANAGERS.nlController), {
      lookup: (namespace, name) => o.store.get(`${namespace}/${name}`),
      onError: (key, e) => {
        o.metrics?.statusWriteErrors.inc({ controller: "nl-controller" });
        log.warn("status write failed; retrying", { key, error: String(e) });
      },
    });
  }

  /** Writes the pending statuses (bounded wait) and stops the status writers. */
  close(): Promise<void> {
    return this.#status.close();
  }

  /** Number of links currently managed (for /metrics). */
  managedLinks(): number {
    let n = 0;
    for (const r of this.#records.values()) n += r.ends.length;
    return n;
  }

  /** The reconcile function for the controller harness. */
  reconcile = async (key: string, signal: AbortSignal): Promise<ReconcileResult> => {
    const obj = this.#o.store.get(key);
    if (!obj) return await this.#vanished(key);
    if (obj.spec?.node !== this.#o.nodename) return; // not ours (the field selector normally filters these)
    if (obj.metadata.deletionTimestamp) return await this.#delete(obj);
    // The link and address events of this pass's own changes need no second pass (settled before the last look).
    return await this.#o.monitor.holding(key, async () => this.#converge(await this.#withFinalizer(obj), signal));
  };

  /** `obj` with our finalizer (added now if missing; in dry-run mode only logged). */
  async #withFinalizer(obj: NetlinkInterface): Promise<NetlinkInterface> {
    if (hasFinalizer(obj, FINALIZERS.netlinkInterface)) return obj;
    if (this.#o.dryRun) {
      log.info("dry-run: would add finalizer", { key: objectKey(obj) });
      return obj;
    }
    const { client } = this.#o;
    return await addFinalizer(client, NETLINK_INTERFACES, obj, FINALIZERS.netlinkInterface, this.#finalizerWrites) ??
      obj;
  }

  async #converge(obj: NetlinkInterface, signal: AbortSignal): Promise<ReconcileResult> {
    const key = objectKey(obj);
    let want: DesiredInterface;
    try {
      want = desiredInterface(obj.spec, obj.metadata.namespace ?? "");
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      return this.#report(obj, [], [{ reason: "InvalidSpec", message: e.message }]);
    }
    let targets: NsTarget[];
    try {
      targets = [];
      for (const e of want.ends) targets.push(await this.#o.resolver.resolve(e.placement, signal));
    } catch (e) {
      if (!(e instanceof PlacementError)) throw e;
      this.#o.monitor.untrack(key);
      return this.#report(obj, [], [{ reason: e.reason, message: e.message }]);
    }
    const res = await applyInterface(want, targets, {
      key,
      agent: this.#agent,
      dryRun: this.#o.dryRun,
      adoption: adoptionOf(key, obj.metadata.annotations),
      settle: () => this.#o.monitor.settle(key, targets.map((t) => t.id)),
    });
    this.#track(key, want, targets, res.ends.map((e) => e.link?.index ?? null));
    const prev = this.#records.get(key);
    this.#records.set(key, {
      ends: want.ends.map((e, i) => ({ target: targets[i], name: e.name })),
      converged: res.problems.length === 0,
    });
    this.#announce(obj, res.actions, prev?.converged ?? false);
    return this.#report(obj, res.ends, res.problems);
  }

  /** Tells the drift monitor which names/indexes in which namespace concern this object. */
  #track(key: string, want: DesiredInterface, targets: NsTarget[], indexes: (number | null)[]): void {
    this.#o.monitor.untrack(key);
    const p = want.params;
    const deps = p.kind === "bridge"
      ? p.slaves ?? []
      : p.kind === "vxlan"
      ? (p.vxlan.dev ? [p.vxlan.dev] : [])
      : p.kind === "vlan" || p.kind === "macvlan"
      ? [p.parent]
      : [];
    const perNs = new Map<string, { names: string[]; indexes: number[] }>();
    want.ends.forEach((e, i) => {
      const t = targets[i];
      const entry = perNs.get(t.id) ?? { names: [], indexes: [] };
      entry.names.push(e.name, ...(i === 0 ? deps : []));
      if (indexes[i] !== null) entry.indexes.push(indexes[i]!);
      perNs.set(t.id, entry);
    });
    for (const [id, links] of perNs) this.#o.monitor.track(id, key, links);
  }

  #announce(obj: NetlinkInterface, actions: Action[], wasConverged: boolean): void {
    if (actions.length === 0) return;
    const text = actions.map((a) => `${a.verb} ${a.link}: ${a.detail}`).join("; ");
    log.info(this.#o.dryRun ? "dry-run: would change" : "changed", { key: objectKey(obj), actions: text });
    if (this.#o.dryRun) return;
    const ev = (reason: string, msg: string) => this.#o.events.record(obj, "Normal", reason, msg);
    for (const a of actions.filter((x) => x.verb === "recreate")) {
      ev("Recreated", `recreated ${a.link}: ${a.detail}`);
    }
    for (const a of actions.filter((x) => x.verb === "adopt")) ev("Adopted", `adopted ${a.link}: ${a.detail}`);
    if (actions.some((a) => a.verb === "create")) ev("Created", text);
    else if (wasConverged && !actions.every((a) => a.verb === "recreate" || a.verb === "adopt")) {
      ev("DriftHealed", text);
    }
  }

  #report(
    obj: NetlinkInterface,
    ends: Awaited<ReturnType<typeof applyInterface>>["ends"],
    problems: StatusProblem[],
    warn = true,
  ): ReconcileResult {
    const key = objectKey(obj);
    if (warn) this.#warn(obj, problems);
    const retry = problems.length ? { requeueAfterMs: this.#retryMs(key, problems) } : undefined;
    if (!problems.length) this.#kernelRetry.delete(key);
    if (this.#o.dryRun) return retry;
    const { namespace = "", name = "" } = obj.metadata;
    // the generation this pass acted on, even if the spec moved on before the write
    const generation = obj.metadata.generation ?? 0;
    this.#status.submit(namespace, name, (cur) =>
      buildStatus({
        previous: cur.status,
        generation,
        nodename: this.#o.nodename,
        hostname: this.#host,
        ends,
        problems,
        now: new Date(),
      }), obj);
    return retry;
  }

  /**
   * Logs the problems and records one Warning Event per problem when they differ from the last announced ones
   * (or, after a restart, from what the status already shows); a retry meeting the same problems logs quietly.
   */
  #warn(obj: NetlinkInterface, problems: StatusProblem[]): void {
    const key = objectKey(obj);
    if (!problems.length) return void this.#warned.delete(key);
    const signature = problems.map((p) => `${p.reason}: ${p.message}`).join("\n");
    const before = this.#warned.get(key);
    this.#warned.set(key, signature);
    const repeated = before === undefined ? problemsShown(obj.status, problems) : before === signature;
    for (const p of problems) {
      if (repeated) log.v(2).info("still not converged", { key, reason: p.reason, message: p.message });
      else log.warn("not converged", { key, reason: p.reason, message: p.message });
      if (!repeated && !this.#o.dryRun) void this.#o.events.record(obj, "Warning", p.reason, p.message);
    }
  }

  /** Kernel refusals back off exponentially per key; other problems are re-checked every 30 s. */
  #retryMs(key: string, problems: StatusProblem[]): number {
    if (!problems.some((p) => KERNEL_REASONS.has(p.reason))) return PROBLEM_RETRY_MS;
    let b = this.#kernelRetry.get(key);
    if (!b) this.#kernelRetry.set(key, b = new Backoff(KERNEL_RETRY.initialMs, KERNEL_RETRY.maxMs));
    return b.next();
  }

  /** Deletion with our finalizer: remove our links (a vanished placement means they are gone), then the finalizer. */
  async #delete(obj: NetlinkInterface): Promise<ReconcileResult> {
    const key = objectKey(obj);
    if (!hasFinalizer(obj, FINALIZERS.netlinkInterface)) return await this.#vanished(key);
    let want: DesiredInterface | undefined;
    try {
      want = desiredInterface(obj.spec, obj.metadata.namespace ?? "");
    } catch { /* an invalid spec created nothing */ }
    const ends: { target: NsTarget; name: string }[] = [];
    for (const e of want?.ends ?? []) {
      try {
        ends.push({ target: await this.#o.resolver.resolve(e.placement, undefined, { fresh: true }), name: e.name });
      } catch (err) {
        if (!(err instanceof PlacementError)) throw err;
        // A known-gone namespace took its links with it; an unanswered lookup proves nothing: keep the finalizer.
        if (err.transient) return this.#deletionBlocked(obj, `link ${e.name}`, err);
      }
    }
    const removed = await removeOwnLinks(this.#agent, key, ends, this.#o.dryRun);
    this.#forget(key);
    if (this.#o.dryRun) {
      log.info("dry-run: would delete links and remove the finalizer", { key, links: removed.map((r) => r.name) });
      return;
    }
    if (removed.length) log.info("deleted links", { key, links: removed.map((r) => r.name) });
    await removeFinalizer(this.#o.client, NETLINK_INTERFACES, obj, FINALIZERS.netlinkInterface, this.#finalizerWrites);
    for (const e of want?.ends ?? []) await this.#o.resolver.release(e.placement);
  }

  /** The link's namespace cannot be reached: status says so with the attempt count, one Event, retried with backoff. */
  #deletionBlocked(obj: NetlinkInterface, what: string, e: PlacementError): ReconcileResult {
    const key = objectKey(obj);
    const { attempt, delayMs } = this.#deletions.next(key);
    log.warn("deletion blocked", { key, attempt, error: e.message });
    const message = deletionBlockedMessage(what, e.message, attempt, delayMs);
    if (attempt === 1 && !this.#o.dryRun) {
      void this.#o.events.record(obj, "Warning", CONDITION_REASONS.DeletionBlocked, message);
    }
    this.#report(obj, [], [{ reason: CONDITION_REASONS.DeletionBlocked, message }], false);
    return { requeueAfterMs: delayMs };
  }

  /** The synced cache no longer holds the object (deleted without our finalizer): remove what we created. */
  async #vanished(key: string): Promise<ReconcileResult> {
    const rec = this.#records.get(key);
    this.#forget(key);
    if (!rec) return;
    const live = rec.ends.filter((e) => !e.target.ns.closed);
    const removed = await removeOwnLinks(this.#agent, key, live, this.#o.dryRun);
    if (removed.length) {
      log.info(this.#o.dryRun ? "dry-run: would delete links" : "deleted links of a deleted object", {
        key,
        links: removed.map((r) => r.name),
      });
    }
  }

  #forget(key: string): void {
    this.#status.cancel(key);
    this.#records.delete(key);
    this.#warned.delete(key);
    this.#kernelRetry.delete(key);
    this.#deletions.clear(key);
    this.#o.monitor.untrack(key);
  }

  /**
   * Orphan sweep (garbage collection) over every open namespace: links carrying this agent's mark whose owner the API proves gone or
   * no longer wanting them. Call only with synced caches.
   */
  async sweep(signal?: AbortSignal): Promise<void> {
    const owners = ownerSource<NetlinkInterface>({
      client: this.#o.client,
      resource: NETLINK_INTERFACES,
      store: this.#o.store,
      namespace: this.#o.namespace,
      nodeOf: (o) => o.spec?.node ?? "",
      wants: (o, name) => wantedNames(o).has(name),
      signal,
    });
    for (const t of this.#o.resolver.targets()) {
      if (t.ns.closed) continue;
      for (const r of await collectGarbage(t, this.#agent, owners, this.#o.dryRun)) {
        log.info(this.#o.dryRun ? "dry-run: would delete orphan link" : "deleted orphan link", {
          ns: t.label,
          link: r.name,
          why: r.why,
        });
      }
    }
  }
}

/** Names of the links an object wants (none for an invalid spec). */
function wantedNames(o: NetlinkInterface): Set<string> {
  try {
    return new Set(desiredInterface(o.spec, o.metadata.namespace ?? "").ends.map((e) => e.name));
  } catch {
    return new Set();
  }
}
