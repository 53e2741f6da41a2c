/**
 * Leader election through a coordination.k8s.io/v1 Lease, following client-go's `leaderelection` package:
 * - acquire: every `retryPeriodMs` (with jitter) try to take the Lease; it is free when it has no holder or when its
 *   record has not changed for `leaseDurationMs` as observed on OUR clock (no cross-host clock comparison);
 * - renew: every `retryPeriodMs` while leading; if no renew succeeded within `renewDeadlineMs`, leadership is lost;
 * - release: on cancellation the Lease is handed back (empty holder) so a standby takes over at once;
 * - all updates are conditional on the Lease's resourceVersion, so two candidates never both succeed.
 * Defaults are client-go's: 15 s lease, 10 s renew deadline, 2 s retry period.
 */
import { logger } from "../log/mod.ts";
import { isDeepStrictEqual } from "node:util";
import { sleep } from "./clock.ts";
import {
  isAlreadyExists,
  isConflict,
  isNotFound,
  type KubeClient,
  type KubeObject,
  type ResourceType,
} from "./client.ts";

const log = logger("kube", "leaderelection");

/** coordination.k8s.io/v1 Leases. */
export const LEASES: ResourceType = { group: "coordination.k8s.io", version: "v1", plural: "leases" };

/** The Lease spec fields used for election. */
export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

/** A coordination.k8s.io/v1 Lease. */
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** Options of a leader elector. */
export interface LeaderElectionOptions {
  /** Namespace and name of the Lease. */
  namespace: string;
  name: string;
  /** Unique identity of this candidate (e.g. hostname + random suffix). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Hand the Lease back on cancellation (default true). */
  releaseOnCancel?: boolean;
  /** Called when we become leader; `signal` aborts when leadership ends. */
  onStartedLeading(signal: AbortSignal): void;
  /** Called when leadership ends (lost or released); not called if we never led. `run` returns right after. */
  onStoppedLeading(): void;
  /** Called when a (different) leader is observed. */
  onNewLeader?(identity: string): void;
}

/** Formats a Date as a Kubernetes MicroTime (RFC 3339 with 6 fractional digits). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Runs one candidate of a leader election. */
export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, "onNewLeader">> & Pick<LeaderElectionOptions, "onNewLeader">;
  #observedSpec?: LeaseSpec;
  #observedAt = 0; // performance.now() when the observed record last changed
  #lastRenew = 0;
  #leading = false;
  #leader = "";

  constructor(private readonly client: KubeClient, options: LeaderElectionOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      ...options,
    };
    const o = this.#o;
    if (!(o.leaseDurationMs > o.renewDeadlineMs && o.renewDeadlineMs > o.retryPeriodMs * 1.2)) {
      throw new RangeError("leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod");
    }
    if (!o.identity) throw new RangeError("leader election identity must not be empty");
  }

  /** True while we hold the Lease. */
  isLeader(): boolean {
    return this.#leading;
  }

  /** Identity of the last observed leader ("" if none). */
  get leader(): string {
    return this.#leader;
  }

  /**
   * Health check: false when we think we lead but have not renewed for longer than the lease duration plus
   * `graceMs` (a stuck elector; the process should be restarted).
   */
  healthy(graceMs = 20_000): boolean {
    return !this.#leading || performance.now() - this.#lastRenew <= this.#o.leaseDurationMs + graceMs;
  }

  /** The elector as a /healthz check. */
  healthCheck(graceMs = 20_000): { name: string; check: () => true | string } {
    return {
      name: "leader-election",
      check: () => this.healthy(graceMs) || "leader has not renewed its lease in time",
    };
  }

  /**
   * Campaigns until `signal` aborts or one leadership term ends: acquire, lead while renewing, release at the end.
   * Like client-go's `Run`, it returns after leadership is lost; the program should then exit (and be restarted)
   * rather than campaign again with half-stopped state.
   */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    if (!(await this.#acquire(signal))) return;
    this.#leading = true;
    this.#lastRenew = performance.now();
    const leading = new AbortController();
    log.info("became leader", { identity: o.identity, lease: `${o.namespace}/${o.name}` });
    this.#safe(() => o.onStartedLeading(leading.signal));
    await this.#renewLoop(signal);
    this.#leading = false;
    leading.abort();
    if (signal.aborted && o.releaseOnCancel) await this.#release();
    log.info("stopped leading", { identity: o.identity, lease: `${o.namespace}/${o.name}` });
    this.#safe(() => o.onStoppedLeading());
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      log.error("leader election callback threw", { error: String(e) });
    }
  }

  /** Retries until acquired (true) or cancelled (false). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) return true;
      await sleep(this.#o.retryPeriodMs * (1 + 0.2 * Math.random()), signal);
    }
    return false;
  }

  /** Renews every retry period; returns when cancelled or when no renew succeeded within the renew deadline. */
  async #renewLoop(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    while (!signal.aborted) {
      await sleep(o.retryPeriodMs, signal);
      if (signal.aborted) return;
      const deadline = performance.now() + o.renewDeadlineMs;
      let renewed = false;
      while (!signal.aborted && performance.now() < deadline) {
        if (await this.#tryAcquireOrRenew()) {
          renewed = true;
          break;
        }
        if (this.#leader !== o.identity && this.#leader !== "") break; // someone else holds it now
        await sleep(Math.min(o.retryPeriodMs / 2, Math.max(0, deadline - performance.now())), signal);
      }
      if (signal.aborted) return;
      if (!renewed) {
        log.warn("failed to renew lease; leadership lost", {
          id: o.identity,
          ns: o.namespace,
          name: o.name,
        });
        return;
      }
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const o = this.#o;
    const nowIso = microTime(new Date());
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(LEASES, o.namespace, o.name, undefined);
    } catch (e) {
      if (!isNotFound(e)) {
        log.warn("get lease failed", { ns: o.namespace, name: o.name, error: String(e) });
        return false;
      }
      const spec = this.#spec(undefined, nowIso);
      try {
        const created = await this.client.create<Lease>(LEASES, o.namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: o.name, namespace: o.namespace },
          spec,
        });
        this.#observe(created);
        this.#lastRenew = performance.now();
        return true;
      } catch (e2) {
        if (!isAlreadyExists(e2)) log.warn("create lease failed", { error: String(e2) });
        return false;
      }
    }
    this.#observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const expired = performance.now() > this.#observedAt + (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== "" && holder !== o.identity && !expired) return false;
    try {
      const updated = await this.client.replace<Lease>(LEASES, {
        ...lease,
        spec: this.#spec(spec, nowIso),
      });
      this.#observe(updated);
      this.#lastRenew = performance.now();
      return true;
    } catch (e) {
      if (!isConflict(e)) log.warn("update lease failed", { error: String(e) });
      return false;
    }
  }

  #spec(old: LeaseSpec | undefined, nowIso: string): LeaseSpec {
    const o = this.#o;
    const ours = old?.holderIdentity === o.identity;
    return {
      holderIdentity: o.identity,
      leaseDurationSeconds: Math.ceil(o.leaseDurationMs / 1000),
      acquireTime: ours && old?.acquireTime ? old.acquireTime : nowIso,
      renewTime: nowIso,
      leaseTransitions: old ? (old.leaseTransitions ?? 0) + (ours ? 0 : 1) : 0,
    };
  }

  #observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    if (!this.#observedSpec || !isDeepStrictEqual(spec, this.#observedSpec)) {
      this.#observedSpec = spec;
      this.#observedAt = performance.now();
    }
    const holder = spec.holderIdentity ?? "";
    if (holder !== this.#leader) {
      this.#leader = holder;
      if (holder && holder !== this.#o.identity) this.#safe(() => this.#o.onNewLeader?.(holder));
    }
  }

  /** Hands the Lease back so a standby can take over without waiting for it to expire. */
  async #release(): Promise<void> {
    const o = this.#o;
    try {
      const lease = await this.client.get<Lease>(LEASES, o.namespace, o.name);
      if (lease.spec?.holderIdentity !== o.identity) return;
      const now = microTime(new Date());
      await this.client.replace<Lease>(LEASES, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
      });
      this.#leader = "";
    } catch (e) {
      log.warn("release lease failed", { ns: o.namespace, name: o.name, error: String(e) });
    }
  }
}
