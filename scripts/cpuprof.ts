/**
 * Summarises V8 CPU profiles (`.cpuprofile`, written by `deno run --cpu-prof`; the lab and the benches add that flag
 * when DN42OP_CPU_PROF_DIR is set, scripts/programs.ts): the functions with the most self time and the most total
 * time (a function counted once per sample however deep it recurses), each as milliseconds and share of the
 * profile's busy time (all but `(idle)`; `(program)` is native work outside JavaScript, e.g. the event loop, I/O
 * and TLS), summed over all files given.
 *
 *   deno run -A scripts/cpuprof.ts [--top 30] [--match TEXT] [--under TEXT] [--after S] FILE.cpuprofile…
 *
 * `--match` keeps only the functions whose name or location contains TEXT; `--under` counts only the samples taken
 * inside a function whose name or location contains TEXT (what it spends its time on); `--after` counts only the samples taken
 * S seconds or more after the process started (leaving out its start-up).
 */
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The `.cpuprofile` format (Chrome DevTools protocol `Profiler.Profile`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Milliseconds of self and total time per function label, and the profile's busy milliseconds. */
export interface ProfileSummary {
  self: Map<string, number>;
  total: Map<string, number>;
  busyMs: number;
}

/** `name file:line`, the file relative to the repository when it is one of ours. */
function label(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\/.*?\/(src|lab|bench|scripts|ffi)\//, "$1/").replace(/^.*\/node_modules\//, "");
  return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
}

/** Which samples count: those `afterMs` or later after the start, inside a function labelled with `under`. */
export interface SampleFilter {
  afterMs?: number;
  under?: string;
}

/** Adds the times of the samples `filter` keeps into `into` (pure apart from that). */
export function summarise(p: CpuProfile, into: ProfileSummary, filter: SampleFilter = {}): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const add = (m: Map<string, number>, k: string, ms: number) => m.set(k, (m.get(k) ?? 0) + ms);
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] / 1000;
    if (at < (filter.afterMs ?? 0)) continue;
    // a sample lasts until the next one
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const leaf = byId.get(p.samples[i])!;
    if (leaf.callFrame.functionName === "(idle)") continue;
    const stack: string[] = [];
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      stack.push(label(byId.get(id)!.callFrame));
    }
    if (filter.under && !stack.some((l) => l.includes(filter.under!))) continue;
    into.busyMs += ms;
    add(into.self, stack[0], ms);
    for (const l of new Set(stack)) add(into.total, l, ms);
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "30" },
      match: { type: "string", default: "" },
      after: { type: "string", default: "0" },
      under: { type: "string", default: "" },
    },
  });
  const s: ProfileSummary = { self: new Map(), total: new Map(), busyMs: 0 };
  const filter = { afterMs: Number(values.after) * 1000, under: values.under };
  for (const f of positionals) summarise(JSON.parse(await Deno.readTextFile(f)), s, filter);
  const top = Number(values.top);
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n${title}`);
    const rows = [...m].filter(([l]) => l.includes(values.match)).sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [l, ms] of rows) {
      console.log(`${ms.toFixed(0).padStart(8)} ms ${(100 * ms / s.busyMs).toFixed(1).padStart(5)} %  ${l}`);
    }
  };
  console.log(`${positionals.length} profile(s), busy ${s.busyMs.toFixed(0)} ms`);
  show("self time", s.self);
  show("total time", s.total);
}
