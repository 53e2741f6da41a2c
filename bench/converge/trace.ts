/**
 * Reads the convergence trace (src/log/trace.ts) back from the controllers' text logs: every `trace` line with its
 * time, phase and object key, and per run the offset of each phase from the moment `kubectl apply` started.
 */
import { TRACE_PHASES, type TracePhase } from "../../src/log/trace.ts";
import { percentile } from "../stats.ts";

/** One trace line. */
export interface TraceEvent {
  /** Wall-clock time, ms since the epoch. */
  at: number;
  phase: TracePhase;
  key: string;
}

const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) ([+-]\d\d)(?::?(\d\d))? \[\w+\] [^:]+: trace( .*)$/;
const PAIR = / (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g;

/** Parses one log line; undefined when it is not a trace line. */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const props = new Map<string, string>();
  for (const [, k, v] of m[5].matchAll(PAIR)) props.set(k, v.startsWith('"') ? JSON.parse(v) : v);
  const phase = props.get("phase") as TracePhase | undefined;
  const key = props.get("key");
  if (!phase || !key || !TRACE_PHASES.includes(phase)) return undefined;
  const at = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4] ?? "00"}`);
  return Number.isNaN(at) ? undefined : { at, phase, key };
}

/** Every trace line of `text` (a log file), in file order. */
export function parseTrace(text: string): TraceEvent[] {
  return text.split("\n").map(parseTraceLine).filter((e): e is TraceEvent => e !== undefined);
}

/**
 * Offsets (ms from `t0`) at which each phase was first reached by each of `keys`, counting only events at or after
 * `t0`. The result maps "phase key" labels, in phase order, to offsets; phases a key never reached are absent.
 */
export function phaseOffsets(events: readonly TraceEvent[], t0: number, keys: readonly string[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const e of events) {
    if (e.at < t0 || !keys.includes(e.key)) continue;
    const label = `${e.phase} ${e.key}`;
    const seen = first.get(label);
    if (seen === undefined || e.at < seen) first.set(label, e.at);
  }
  const out = new Map<string, number>();
  for (const phase of TRACE_PHASES) {
    for (const key of keys) {
      const at = first.get(`${phase} ${key}`);
      if (at !== undefined) out.set(`${phase} ${key}`, at - t0);
    }
  }
  return out;
}

/** Per-label medians (ms) over the runs' traces, sorted by median. */
export function medianTrace(traces: Map<string, number>[]): Map<string, number> {
  const labels = [...new Set(traces.flatMap((t) => [...t.keys()]))];
  const out = new Map<string, number>();
  for (const l of labels) {
    const xs = traces.map((t) => t.get(l)).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    out.set(l, Math.round(percentile(xs, 50)));
  }
  return new Map([...out].sort((a, b) => a[1] - b[1]));
}

/**
 * One run of ours in two parts (seconds): from `kubectl apply` until the plan controller's first pass (the client's own
 * run, the API server's write, the watch), and from there to the first ping (what the operator does). Undefined when
 * the run's trace lacks either phase.
 */
export function splitRun(trace: ReadonlyMap<string, number>): { toPlan: number; operator: number } | undefined {
  const plan = [...trace].find(([label]) => label.startsWith("plan-reconcile "))?.[1];
  const ping = trace.get("first-ping");
  if (plan === undefined || ping === undefined) return undefined;
  return { toPlan: plan / 1000, operator: (ping - plan) / 1000 };
}

/** How the objects of one run reached one phase: how many, and the median and last offset from `t0` (ms). */
export interface PhaseSpread {
  phase: TracePhase;
  objects: number;
  p50_ms: number;
  max_ms: number;
}

/**
 * Per phase, in phase order, the spread over all objects of their first arrival at or after `t0` (a many-object run
 * such as a mesh: which phase the last object reached late). Phases no object reached are left out.
 */
export function phaseSpread(events: readonly TraceEvent[], t0: number): PhaseSpread[] {
  const first = new Map<TracePhase, Map<string, number>>();
  for (const e of events) {
    if (e.at < t0) continue;
    const byKey = first.get(e.phase) ?? first.set(e.phase, new Map()).get(e.phase)!;
    const seen = byKey.get(e.key);
    if (seen === undefined || e.at < seen) byKey.set(e.key, e.at);
  }
  return TRACE_PHASES.filter((p) => first.has(p)).map((phase) => {
    const offsets = [...first.get(phase)!.values()].map((at) => at - t0).sort((a, b) => a - b);
    return { phase, objects: offsets.length, p50_ms: percentile(offsets, 50), max_ms: offsets.at(-1)! };
  });
}
