/**
 * Prometheus metrics of the controller runtime (prom-client), named like controller-runtime's so existing
 * dashboards apply: reconcile counts, errors and durations per controller, work-queue depth, adds, retries and
 * latencies per queue, process metrics, and a hook for custom gauges.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { InformerStats } from "./informer.ts";
import type { QueueMetrics } from "./workqueue.ts";

/** Outcome label of one reconcile. */
export type ReconcileOutcome = "success" | "error" | "requeue_after";

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// Event-loop lag figures from prom-client are meaningless on Deno (NaN / sentinel values).
const UNRELIABLE_ON_DENO = /^nodejs_eventloop_lag/;

/** The runtime's metrics in one registry (one per process). */
export class ControllerMetrics {
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileTime: Histogram<"controller">;
  readonly queueDepth: Gauge<"name">;
  readonly queueAdds: Counter<"name">;
  readonly queueRetries: Counter<"name">;
  readonly queueLatency: Histogram<"name">;
  readonly workDuration: Histogram<"name">;
  /** Failed status writes per controller (each is retried with backoff; the reconcile itself succeeded). */
  readonly statusWriteErrors: Counter<"controller">;
  /** Secret GETs sent for key material per controller. */
  readonly secretReads: Counter<"controller">;

  constructor(readonly registry: Registry = new Registry(), options: { processMetrics?: boolean } = {}) {
    const registers = [registry];
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: registry });
      for (const m of registry.getMetricsAsArray()) {
        if (UNRELIABLE_ON_DENO.test(m.name)) registry.removeSingleMetric(m.name);
      }
    }
    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller and result",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: "workqueue_depth",
      help: "Current depth of the work queue",
      labelNames: ["name"],
      registers,
    });
    this.queueAdds = new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by the work queue",
      labelNames: ["name"],
      registers,
    });
    this.queueRetries = new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by the work queue",
      labelNames: ["name"],
      registers,
    });
    this.queueLatency = new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long an item stays in the work queue before being requested",
      labelNames: ["name"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long processing an item from the work queue takes",
      labelNames: ["name"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.statusWriteErrors = new Counter({
      name: "dn42op_status_write_errors_total",
      help: "Status writes that failed (retried with per-object backoff) per controller",
      labelNames: ["controller"],
      registers,
    });
    this.secretReads = new Counter({
      name: "dn42op_secret_reads_total",
      help: "Secret GET requests sent for key material per controller",
      labelNames: ["controller"],
      registers,
    });
  }

  /** Queue observer that feeds the workqueue_* metrics for queue `name`. */
  queueMetrics(name: string): QueueMetrics {
    return {
      depth: (n) => this.queueDepth.set({ name }, n),
      added: () => this.queueAdds.inc({ name }),
      retried: () => this.queueRetries.inc({ name }),
      queueLatency: (s) => this.queueLatency.observe({ name }, s),
      workDuration: (s) => this.workDuration.observe({ name }, s),
    };
  }

  /** Records one reconcile of `controller`. */
  observeReconcile(controller: string, outcome: ReconcileOutcome, seconds: number): void {
    this.reconcileTotal.inc({ controller, result: outcome });
    if (outcome === "error") this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  /**
   * Registers a custom gauge whose values are read at scrape time (e.g. managed links per kind):
   * `collect` returns label sets with values.
   */
  customGauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: () => { labels: Partial<Record<L, string>>; value: number }[],
  ): Gauge<L> {
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of collect()) this.set(labels, value);
      },
    });
  }

  /**
   * Exposes informers' counters and cache sizes, read at scrape time: `informer_lists_total`,
   * `informer_relists_total` (410 Gone), `informer_watches_total`, `informer_watchdog_restarts_total`,
   * `informer_errors_total` and `informer_cached_objects`, each labelled `informer`.
   */
  watchInformers(informers: readonly { name: string; stats: InformerStats; store: { size: number } }[]): void {
    const counters: [string, string, keyof InformerStats][] = [
      ["informer_lists_total", "Full lists (initial and relists)", "lists"],
      ["informer_relists_total", "Relists caused by 410 Gone", "relists"],
      ["informer_watches_total", "Watch requests opened", "watches"],
      ["informer_watchdog_restarts_total", "Watches restarted by the stall watchdog", "watchdogAborts"],
      ["informer_errors_total", "Failed list or watch attempts", "errors"],
    ];
    for (const [name, help, field] of counters) {
      new Counter({
        name,
        help,
        labelNames: ["informer"],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const i of informers) this.inc({ informer: i.name }, Number(i.stats[field] ?? 0));
        },
      });
    }
    this.customGauge(
      "informer_cached_objects",
      "Objects in the informer's cache",
      ["informer"],
      () => informers.map((i) => ({ labels: { informer: i.name }, value: i.store.size })),
    );
  }

  /** The text exposition (for /metrics). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
