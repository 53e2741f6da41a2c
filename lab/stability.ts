/**
 * The lab's checks held over time: over a window of at least two resync periods of the controllers, no managed link
 * is recreated (its ifindex stays), no wireguard-go is restarted (its PID stays), no Warning Event is emitted, and the
 * README's pings through the tunnels and links are answered in every sample taken during the window. Two agents
 * share the containers (agent2 holds lax1's wg2 and lax2's wg-lax2-lax1-0), so this is what catches agents that
 * undo each other's work every resync period.
 */
import { type CheckContext, type CheckResult, tunnelPings } from "./checks.ts";
import { exec, type ExecResult } from "../kit/proc.ts";
import { kubectl } from "./scenario.ts";

/** Where the instance's controllers and objects are. */
export interface StabilityTarget {
  /** Network namespace of the controllers (their host namespace, holding their wireguard-go daemons). */
  agentxNetns: string;
  kubeconfig: string;
  /** Kubernetes namespace of the scenario's objects. */
  namespace: string;
  /** Runs a command where the controllers run (default: here; the kernel lab's guest through its agent). */
  exec?: (argv: string[]) => Promise<ExecResult>;
  /**
   * Whether the node side runs wireguard-go (default). False on the kernel backend: then no daemon may appear in
   * agentx at all (one would mean a fallback to userspace).
   */
  wireguardGo?: boolean;
}

/** What is compared across the window. */
export interface Snapshot {
  /** `<where> <ifname>` → ifindex, for every link with an ownership mark (agentx, agent1, agent2). */
  links: Map<string, number>;
  /** wireguard-go device name → PIDs (sorted) of the daemons in agentx. */
  daemons: Map<string, number[]>;
  /** Warning Events: uid → `reason: message (count N, last T)` of the involved object. */
  warnings: Map<string, string>;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  ifalias?: string;
}

function marked(json: string, where: string, into: Map<string, number>): void {
  for (const l of JSON.parse(json || "[]") as IpLink[]) {
    if (l.ifalias?.startsWith("dn42op:")) into.set(`${where} ${l.ifname}`, l.ifindex);
  }
}

/** `PID argv…` of every process in `netns`, one line each (one command, so it also works through the agent). */
const PROCESSES = 'for p in $(ip netns pids "$1"); do printf "%s " "$p"; tr "\\0" " " <"/proc/$p/cmdline"; echo; done';

async function daemonsIn(run: (argv: string[]) => Promise<ExecResult>, netns: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const line of (await run(["sh", "-c", PROCESSES, "sh", netns])).stdout.split("\n")) {
    const [pid, ...argv] = line.trim().split(" ");
    if (!argv[0]?.endsWith("wireguard-go")) continue;
    const name = argv[argv.length - 1];
    out.set(name, [...out.get(name) ?? [], Number(pid)].sort((a, b) => a - b));
  }
  return out;
}

interface CoreEvent {
  metadata: { uid: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string };
}

async function warningsIn(t: StabilityTarget): Promise<Map<string, string>> {
  const r = await kubectl(t.kubeconfig, ["get", "events", "-n", t.namespace, "-o", "json"]);
  if (r.code !== 0) throw new Error(`kubectl get events: ${r.stderr.trim()}`);
  const out = new Map<string, string>();
  for (const e of (JSON.parse(r.stdout).items ?? []) as CoreEvent[]) {
    if (e.type !== "Warning") continue;
    const what = `${e.involvedObject?.kind}/${e.involvedObject?.name} ${e.reason}: ${e.message}`;
    out.set(e.metadata.uid, `${what} (count ${e.count ?? 1}, last ${e.lastTimestamp ?? e.eventTime})`);
  }
  return out;
}

/** Takes a snapshot of the instance. */
export async function snapshot(ctx: CheckContext, t: StabilityTarget): Promise<Snapshot> {
  const run = t.exec ?? ((argv: string[]) => exec(argv));
  const links = new Map<string, number>();
  marked((await run(["ip", "-n", t.agentxNetns, "-j", "-d", "link", "show"])).stdout, "agentx", links);
  for (const c of ["agent1", "agent2"] as const) {
    marked((await ctx.inContainer(c, ["ip", "-j", "-d", "link", "show"])).stdout, c, links);
  }
  return { links, daemons: await daemonsIn(run, t.agentxNetns), warnings: await warningsIn(t) };
}

/** A failed ping sample: seconds into the window, which check, what was seen. */
export interface PingMiss {
  atSeconds: number;
  check: string;
  observed: string;
}

/** The rows of the stability check (pure): what changed between `before` and `after`, and the ping samples. */
export function stabilityRows(
  before: Snapshot,
  after: Snapshot,
  ping: { samples: number; perSample: number; misses: PingMiss[] },
  seconds: number,
  wireguardGo = true,
): CheckResult[] {
  const span = `over ${seconds.toFixed(0)} s`;
  const changed = (a: Map<string, unknown>, b: Map<string, unknown>) =>
    [...new Set([...a.keys(), ...b.keys()])].sort().filter((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)))
      .map((k) => `${k}: ${JSON.stringify(a.get(k) ?? null)} → ${JSON.stringify(b.get(k) ?? null)}`);
  const linkChanges = changed(before.links, after.links);
  const daemonChanges = changed(before.daemons, after.daemons);
  const fresh = [...after.warnings].filter(([uid, text]) => before.warnings.get(uid) !== text).map(([, t]) => t);
  const row = (check: string, expected: string, bad: string[], good: string): CheckResult => ({
    check,
    expected,
    observed: bad.length ? bad.join("; ") : good,
    status: bad.length ? "FAIL" : "ok",
  });
  return [
    row(
      "stable: managed links (ifindex)",
      `${before.links.size} marked links, none recreated ${span}`,
      before.links.size ? linkChanges : ["no marked links found"],
      "unchanged",
    ),
    wireguardGo
      ? row(
        "stable: wireguard-go daemons (pid)",
        `${before.daemons.size} daemons, none restarted ${span}`,
        before.daemons.size ? daemonChanges : ["no wireguard-go found"],
        "unchanged",
      )
      : row(
        "stable: kernel WireGuard only",
        `no wireguard-go in agentx ${span}`,
        [...new Set([...before.daemons.keys(), ...after.daemons.keys()])].map((n) => `wireguard-go ${n}`),
        "none",
      ),
    row("stable: no Warning Event", `no new Warning Event ${span}`, fresh, "none"),
    row(
      "stable: pings answered throughout",
      `${ping.samples} samples × ${ping.perSample} pings ${span}, all answered`,
      ping.samples ? ping.misses.map((m) => `at ${m.atSeconds.toFixed(0)} s ${m.check}: ${m.observed}`) : ["no sample"],
      `${ping.samples}/${ping.samples} samples answered`,
    ),
  ];
}

/**
 * Watches the instance for `windowMs` (at least two resync periods), sampling the README's pings every `sampleMs`
 * (three echo requests per ping, so one lost packet on a loaded machine is not a failure), and reports the rows of
 * {@link stabilityRows}. With `during` (a disturbance the state should survive, e.g. restarts of the controllers),
 * that runs from the window's start and the window lasts until `windowMs` after it has finished; its failure fails
 * the call.
 */
export async function stabilityChecks(
  ctx: CheckContext,
  t: StabilityTarget,
  windowMs: number,
  sampleMs = 5000,
  during?: () => Promise<unknown>,
): Promise<CheckResult[]> {
  const pings = tunnelPings(3);
  const before = await snapshot(ctx, t);
  const t0 = performance.now();
  let end = during ? Infinity : t0 + windowMs;
  const disturbed = during?.().finally(() => end = performance.now() + windowMs);
  disturbed?.catch(() => end = 0); // stop sampling; the error is thrown below
  const misses: PingMiss[] = [];
  let samples = 0;
  for (let next = t0; next <= end; next += sampleMs) {
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now()))); // the sampling cadence
    samples++;
    for (const p of pings) {
      const r = await p(ctx);
      if (r.status !== "ok") {
        misses.push({ atSeconds: (performance.now() - t0) / 1000, check: r.check, observed: r.observed });
      }
    }
  }
  await disturbed;
  const after = await snapshot(ctx, t);
  const seconds = (performance.now() - t0) / 1000;
  return stabilityRows(before, after, { samples, perSample: pings.length, misses }, seconds, t.wireguardGo ?? true);
}
