/**
 * The process runtime of the three programs, after controller-runtime's Manager. A program registers what it runs
 * (controllers, periodic sweeps, any {@link Runnable}), its probes and its closers; `run(signal)` then
 *
 * 1. starts the ops server (/metrics, /healthz, /readyz) when an address is given;
 * 2. starts every runnable that does not need leadership;
 * 3. with leader election, campaigns for the Lease and starts the leader-only runnables while it holds it (losing it
 *    stops the whole process with status 1, so it restarts as a standby, as client-go programs do); without, starts
 *    them at once;
 * 4. on `signal` (or a runnable failing) stops in one order: every runnable's signal aborts and the manager waits
 *    for all of them (controllers finish in-flight reconciles), then the closers run in reverse order of
 *    registration, then the informers stop, then the ops server, then the API client's connections.
 *
 * Adding something to a program is one call: `manager.add({ name, start })`, `manager.addPeriodic(…)`, or a custom
 * gauge on `manager.metrics`.
 */
import { logger } from "../log/mod.ts";
import { sleep } from "./clock.ts";
import type { KubeClient, KubeObject } from "./client.ts";
import type { Controller } from "./controller.ts";
import type { Informer } from "./informer.ts";
import { LeaderElector } from "./leaderelection.ts";
import { ControllerMetrics } from "./metrics.ts";
import { type Check, type OpsServer, type OpsServerOptions, startOpsServer } from "./server.ts";

const log = logger("kube", "manager");

/** A setting a program cannot start with, found while building its manager (the program exits 2). */
export class ConfigError extends Error {}

/** Something the manager runs: a controller, a sweep, a heartbeat. */
export interface Runnable {
  /** For logs. */
  readonly name: string;
  /** Run only while this replica holds the Lease (when the manager elects a leader); default false. */
  readonly needLeaderElection?: boolean;
  /** Runs until `signal` aborts. Returning early ends only this runnable; rejecting stops the manager (status 1). */
  start(signal: AbortSignal): Promise<void>;
}

/** Leader election settings (a coordination.k8s.io Lease). */
export interface LeaderElectionSettings {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Options of a manager. */
export interface ManagerOptions {
  /** Program name, for logs. */
  name: string;
  /** API client: needed for leader election, closed at the end. */
  client?: KubeClient;
  /** Metrics registry (default: a new one with process metrics). */
  metrics?: ControllerMetrics;
  /** Where /metrics /healthz /readyz listen (src/kube/server.ts `opsListen`); undefined: no server. */
  ops?: Pick<OpsServerOptions, "address" | "fallbackToFreePort">;
  /** Called once the ops server listens (tests read the port). */
  onOpsListening?(server: OpsServer): void;
  /** Undefined: no leader election, every runnable starts at once. */
  leaderElection?: LeaderElectionSettings;
}

/** A periodic task: waits for `ready`, runs once, then once per `periodMs` after the previous run ended. */
export interface PeriodicTask {
  name: string;
  periodMs: number;
  /** One pass; a rejection is logged ("<name> failed") and the next pass comes as planned. */
  run(signal: AbortSignal): Promise<void>;
  /** Resolves true when the first pass may run (e.g. an informer synced), false to give up (aborted). */
  ready?(signal: AbortSignal): Promise<boolean>;
  needLeaderElection?: boolean;
}

/** A {@link Runnable} of a periodic task. */
export function periodic(t: PeriodicTask): Runnable {
  return {
    name: t.name,
    needLeaderElection: t.needLeaderElection,
    start: async (signal) => {
      if (t.ready && !(await t.ready(signal))) return;
      while (!signal.aborted) {
        try {
          await t.run(signal);
        } catch (e) {
          log.error("{name} failed", { name: t.name, error: String((e as Error)?.message ?? e) });
        }
        await sleep(t.periodMs, signal);
      }
    },
  };
}

/** Runs a program's runnables, probes and ops server, and stops them in one order. */
export class Manager {
  readonly metrics: ControllerMetrics;
  readonly #runnables: Runnable[] = [];
  readonly #closers: { name: string; close: () => unknown }[] = [];
  readonly #controllers: Controller<KubeObject>[] = [];
  readonly #healthz: Check[] = [];
  readonly #readyz: Check[] = [];
  #elector?: LeaderElector;
  #started = false;

  constructor(readonly options: ManagerOptions) {
    this.metrics = options.metrics ?? new ControllerMetrics();
  }

  /** Adds a runnable (before `run`). */
  add(r: Runnable): void {
    if (this.#started) throw new Error(`manager ${this.options.name}: add ${r.name} before run`);
    this.#runnables.push(r);
  }

  /** Adds a periodic task (see {@link periodic}). */
  addPeriodic(t: PeriodicTask): void {
    this.add(periodic(t));
  }

  /**
   * Adds a controller: its run as a runnable, its cache-sync readiness check (passing on a standby that does not
   * lead), its informers to the informer metrics, stopped at the end.
   */
  addController<T extends KubeObject>(ctl: Controller<T>, o: { needLeaderElection?: boolean } = {}): void {
    this.add({ name: ctl.options.name, needLeaderElection: o.needLeaderElection, start: (s) => ctl.run(s) });
    this.#controllers.push(ctl as unknown as Controller<KubeObject>);
    const ready = ctl.readyCheck();
    this.addReadyz(
      o.needLeaderElection ? { name: ready.name, check: () => !this.#elector?.isLeader() || ready.check() } : ready,
    );
  }

  /** Adds a liveness check. */
  addHealthz(c: Check): void {
    this.#healthz.push(c);
  }

  /** Adds a readiness check. */
  addReadyz(c: Check): void {
    this.#readyz.push(c);
  }

  /** Adds something to close after every runnable has stopped; closers run in reverse order of registration. */
  onStop(name: string, close: () => unknown): void {
    this.#closers.push({ name, close });
  }

  /** True while this replica leads (always true without leader election). */
  isLeader(): boolean {
    return !this.options.leaderElection || (this.#elector?.isLeader() ?? false);
  }

  /**
   * Runs until `signal` aborts, a runnable fails, or leadership is lost. Returns 0 after a clean shutdown, 1 after a
   * failure or a lost leadership.
   */
  async run(signal: AbortSignal): Promise<number> {
    if (this.#started) throw new Error(`manager ${this.options.name} is already running`);
    this.#started = true;
    const o = this.options;
    const stop = new AbortController();
    const done = AbortSignal.any([signal, stop.signal]);
    let status = 0;
    const running: Promise<void>[] = [];
    const launch = (r: Runnable, s: AbortSignal) =>
      running.push(
        r.start(s).catch((e) => {
          log.error("{name} stopped: {error}", { name: r.name, error: String((e as Error)?.message ?? e) });
          status = 1;
          stop.abort();
        }),
      );
    const le = o.leaderElection;
    if (le) {
      if (!o.client) throw new Error(`manager ${o.name}: leader election needs a client`);
      this.#elector = new LeaderElector(o.client, {
        namespace: le.namespace,
        name: le.leaseName,
        identity: le.identity,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        onStartedLeading: (leading) => {
          const s = AbortSignal.any([done, leading]);
          for (const r of this.#runnables) if (r.needLeaderElection) launch(r, s);
        },
        onStoppedLeading: () => {
          if (!signal.aborted) {
            status = 1;
            log.error("lost leadership of lease {ns}/{name}; stopping", { ns: le.namespace, name: le.leaseName });
          }
          stop.abort();
        },
        onNewLeader: (id) => log.info("leader is {id}", { id }),
      });
      this.addHealthz(this.#elector.healthCheck());
    }
    const informers = [...new Set(this.#controllers.flatMap((c) => c.informers))];
    if (informers.length > 0) this.metrics.watchInformers(informers);
    let ops: OpsServer | undefined;
    try {
      if (o.ops !== undefined) {
        ops = await startOpsServer({
          ...o.ops,
          metrics: () => this.metrics.exposition(),
          healthz: this.#healthz,
          readyz: this.#readyz,
        });
        o.onOpsListening?.(ops);
      }
      for (const r of this.#runnables) if (!le || !r.needLeaderElection) launch(r, done);
      if (this.#elector) await this.#elector.run(done);
      else await new Promise((resolve) => done.addEventListener("abort", resolve, { once: true }));
      stop.abort();
      // runnables may add to the list while they stop (a leader started late)
      for (let n = 0; n < running.length; n = running.length) await Promise.all(running.slice(n));
    } finally {
      stop.abort();
      await this.#shutdown(informers, ops);
    }
    return status;
  }

  async #shutdown(informers: readonly Informer<KubeObject>[], ops: OpsServer | undefined): Promise<void> {
    const attempt = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        log.warn("stopping {what} failed", { what, error: String((e as Error)?.message ?? e) });
      }
    };
    for (const c of [...this.#closers].reverse()) await attempt(c.name, c.close);
    await Promise.all(informers.map((i) => attempt(`informer ${i.name}`, () => i.stop())));
    if (ops) await attempt("ops server", () => ops.shutdown());
    this.options.client?.close();
  }
}
