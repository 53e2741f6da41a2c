/**
 * The reference README's checks (docs/reference.md#the-examples) against a running scenario: each one looks at kernel
 * state inside the containers (`ip -j`, through nsenter into the container's network namespace) or pings through
 * the links, and yields (check, expected, observed, status). `waitForChecks` repeats until all pass or a deadline.
 */
import { exec, type ExecResult } from "../kit/proc.ts";

/** How a check ended: passed, failed, or not applicable on this kernel (neither a pass nor a failure). */
export type CheckStatus = "ok" | "FAIL" | "n/a";

/** One row of the results table. */
export interface CheckResult {
  check: string;
  expected: string;
  observed: string;
  status: CheckStatus;
}

/** What the checks need from the scenario instance. */
export interface CheckContext {
  /** Runs a command in the network namespace of the examples' container `agent1` or `agent2`. */
  inContainer(container: "agent1" | "agent2", cmd: string[]): Promise<ExecResult>;
  /** Whether this kernel has dummy links (else the dummy example belongs to the kernel tier). */
  dummyKernel: boolean;
}

interface IpAddrInfo {
  family: string;
  local: string;
  address?: string;
  prefixlen: number;
  scope?: string;
}
interface IpLink {
  ifname: string;
  flags: string[];
  mtu: number;
  operstate?: string;
  master?: string;
  addr_info?: IpAddrInfo[];
}

/** `ip -j addr show dev <dev>` inside a container; a string is the reason it could not be read. */
async function link(ctx: CheckContext, c: "agent1" | "agent2", dev: string): Promise<IpLink | string> {
  const r = await ctx.inContainer(c, ["ip", "-j", "addr", "show", "dev", dev]);
  if (r.code !== 0) return `${dev} absent in ${c}`;
  return (JSON.parse(r.stdout) as IpLink[])[0] ?? `${dev} absent in ${c}`;
}

/** An address as the README prints it: `10.4.0.1 peer 10.4.0.2/32` or `fe80::eeee:1/64`. */
export function formatAddress(a: IpAddrInfo): string {
  return a.address && a.address !== a.local
    ? `${a.local} peer ${a.address}/${a.prefixlen}`
    : `${a.local}/${a.prefixlen}`;
}

/** A link summary: `UP mtu 1420 10.4.0.1 peer 10.4.0.2/32` (addresses sorted, link-local extras kept). */
function describe(l: IpLink): string {
  const addrs = (l.addr_info ?? []).map(formatAddress).sort();
  return [l.flags.includes("UP") ? "UP" : "DOWN", `mtu ${l.mtu}`, ...addrs].join(" ");
}

/** Checks that `dev` in `c` is UP with `mtu` and carries every address in `addrs` (and, for `exact`, only those). */
async function linkCheck(
  ctx: CheckContext,
  name: string,
  c: "agent1" | "agent2",
  dev: string,
  want: { mtu?: number; addrs: string[]; flags?: string[] },
): Promise<CheckResult> {
  const expected = [`${dev} in ${c}: UP`, ...(want.mtu ? [`mtu ${want.mtu}`] : []), ...want.addrs].join(" ");
  const l = await link(ctx, c, dev);
  if (typeof l === "string") return { check: name, expected, observed: l, status: "FAIL" };
  const have = new Set((l.addr_info ?? []).map(formatAddress));
  const ok = l.flags.includes("UP") && (want.mtu === undefined || l.mtu === want.mtu) &&
    want.addrs.every((a) => have.has(a)) && (want.flags ?? []).every((f) => l.flags.includes(f));
  return { check: name, expected, observed: `${dev} in ${c}: ${describe(l)}`, status: ok ? "ok" : "FAIL" };
}

/** Source addresses of the echo replies `ping` printed (scope suffix removed), deduplicated and sorted. */
export function replySources(pingOutput: string): string[] {
  const found = new Set<string>();
  for (const m of pingOutput.matchAll(/bytes from ([0-9a-fA-F.:]+)(?:%[^:\s]+)?:/g)) found.add(m[1]);
  return [...found].sort();
}

/**
 * ping's options for `target` (pure). A multicast target is pinged for the whole 2 s deadline without a count: the
 * host answers its own multicast echo at once, and `-c` counts only the first reply per sequence number, so with a
 * count ping would stop after the local replies, before a peer that is still resolving our address has answered.
 */
export function pingArgs(target: string, count: number): string[] {
  if (target.startsWith("ff")) return ["-i", "0.2", "-w", "2"];
  return count > 1 ? ["-c", String(count), "-i", "0.2", "-w", "2"] : ["-c", "1", "-W", "1"];
}

/**
 * Pings `target` from `c` with `count` echo requests (one for the README's checks; more when a single loss must not
 * count): the sources that answered, or why nothing did.
 */
async function pingSources(
  ctx: CheckContext,
  c: "agent1" | "agent2",
  target: string,
  count: number,
): Promise<{ sources: string[]; silence: string }> {
  const r = await ctx.inContainer(c, ["ping", ...pingArgs(target, count), target]);
  return { sources: replySources(r.stdout), silence: (r.stderr.trim() || "no answer").split("\n")[0] };
}

/** Pings `target` from `c` and checks that each of `from` answered at least once. */
async function pingCheck(
  ctx: CheckContext,
  name: string,
  c: "agent1" | "agent2",
  target: string,
  from: string[],
  count = 1,
): Promise<CheckResult> {
  const { sources, silence } = await pingSources(ctx, c, target, count);
  const ok = from.every((a) => sources.includes(a));
  const observed = sources.length ? `answered by ${sources.join(", ")}` : silence;
  return { check: name, expected: `answered by ${from.join(", ")}`, observed, status: ok ? "ok" : "FAIL" };
}

/**
 * The README's `ping ff02::1%<dev>` claim — both ends answer — checked without depending on which source address a
 * host puts on its multicast reply (the kernel's choice: after addresses were re-added it may be the kernel-made
 * link-local instead of the configured one): ff02::1 must be answered by as many hosts as `addrs` has, and each of
 * `addrs` must answer unicast on `dev`.
 */
async function neighboursCheck(
  ctx: CheckContext,
  name: string,
  c: "agent1" | "agent2",
  dev: string,
  addrs: string[],
  count = 1,
): Promise<CheckResult> {
  const expected = `ff02::1%${dev} answered by ${addrs.length} hosts; ${addrs.join(", ")} answer`;
  const multi = await pingSources(ctx, c, `ff02::1%${dev}`, count);
  const silent: string[] = [];
  for (const a of addrs) if (!(await pingSources(ctx, c, `${a}%${dev}`, count)).sources.includes(a)) silent.push(a);
  const ok = multi.sources.length >= addrs.length && silent.length === 0;
  const heard = multi.sources.length ? `answered by ${multi.sources.join(", ")}` : multi.silence;
  const observed = `ff02::1%${dev} ${heard}; ${silent.length ? `no answer from ${silent.join(", ")}` : "each answers"}`;
  return { check: name, expected, observed, status: ok ? "ok" : "FAIL" };
}

/** The bridge and the names of the links enslaved to it. */
async function bridgeCheck(ctx: CheckContext): Promise<CheckResult> {
  const name = "nl2-bridge: bridge with slaves";
  const expected = "nl2-bridge in agent1: UP mtu 1420, slaves v1 v2";
  const l = await link(ctx, "agent1", "nl2-bridge");
  if (typeof l === "string") return { check: name, expected, observed: l, status: "FAIL" };
  const r = await ctx.inContainer("agent1", ["ip", "-j", "link", "show", "master", "nl2-bridge"]);
  const slaves = r.code === 0 ? (JSON.parse(r.stdout) as IpLink[]).map((s) => s.ifname).sort() : [];
  const ok = l.flags.includes("UP") && l.mtu === 1420 && ["v1", "v2"].every((s) => slaves.includes(s));
  const observed = `nl2-bridge in agent1: ${l.flags.includes("UP") ? "UP" : "DOWN"} mtu ${l.mtu}, slaves ${
    slaves.join(" ") || "none"
  }`;
  return { check: name, expected, observed, status: ok ? "ok" : "FAIL" };
}

async function dummyCheck(ctx: CheckContext): Promise<CheckResult> {
  const name = "nl1-dummy: dummy link";
  if (!ctx.dummyKernel) {
    const l = await link(ctx, "agent1", "nl1-dummy");
    return {
      check: name,
      expected: "kernel tier only (this kernel has no dummy links)",
      observed: typeof l === "string" ? l : describe(l),
      status: "n/a",
    };
  }
  return await linkCheck(ctx, name, "agent1", "nl1-dummy", {
    mtu: 1420,
    addrs: ["10.2.3.0/24", "10.99.3.1 peer 10.99.4.1/32"],
  });
}

/** The README's pings through the tunnels and links; `count` echo requests each (see {@link pingCheck}). */
export function tunnelPings(count = 1): ((ctx: CheckContext) => Promise<CheckResult>)[] {
  return [
    (ctx) => pingCheck(ctx, "wgp1: ping 10.4.0.2 from agent1", "agent1", "10.4.0.2", ["10.4.0.2"], count),
    (ctx) =>
      pingCheck(ctx, "lax1-wg1/wg2: ping fe80::a:1771%wg1", "agent1", "fe80::a:1771%wg1", ["fe80::a:1771"], count),
    (ctx) =>
      neighboursCheck(ctx, "veth: ping ff02::1%veth1-a", "agent1", "veth1-a", ["fe80::eeee:1", "fe80::eeee:2"], count),
    (ctx) => neighboursCheck(ctx, "vxlan: ping ff02::1%vxlan1", "agent1", "vxlan1", ["fe80::1", "fe80::2"], count),
  ];
}

const [pingWgp1, pingWg1, pingVeth, pingVxlan] = tunnelPings();

/** One check per README claim, in the README's order. */
export const CHECKS: Check[] = [
  (ctx) =>
    linkCheck(ctx, "wgp1: wg-lax1-lax2-0", "agent1", "wg-lax1-lax2-0", {
      mtu: 1420,
      addrs: ["10.4.0.1 peer 10.4.0.2/32"],
      flags: ["POINTOPOINT", "NOARP"],
    }),
  (ctx) =>
    linkCheck(ctx, "wgp1: wg-lax2-lax1-0", "agent2", "wg-lax2-lax1-0", {
      mtu: 1420,
      addrs: ["10.4.0.2 peer 10.4.0.1/32"],
    }),
  pingWgp1,
  (ctx) => linkCheck(ctx, "lax1-wg1: wg1", "agent1", "wg1", { mtu: 1420, addrs: ["fe80::1771 peer fe80::a:1771/64"] }),
  (ctx) => linkCheck(ctx, "lax1-wg2: wg2", "agent2", "wg2", { mtu: 1420, addrs: ["fe80::a:1771 peer fe80::1771/64"] }),
  pingWg1,
  (ctx) => linkCheck(ctx, "veth: veth1-a", "agent1", "veth1-a", { addrs: ["fe80::eeee:1/64"] }),
  (ctx) => linkCheck(ctx, "veth: veth1-b", "agent2", "veth1-b", { addrs: ["fe80::eeee:2/64"] }),
  pingVeth,
  pingVxlan,
  bridgeCheck,
  dummyCheck,
];

/** One check of the table. */
export type Check = (ctx: CheckContext) => Promise<CheckResult>;

/** Runs every check once (default: {@link CHECKS}); with `stopAtFailure`, up to the first one that fails. */
export async function runChecks(
  ctx: CheckContext,
  checks: readonly Check[] = CHECKS,
  stopAtFailure = false,
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of checks) {
    try {
      out.push(await c(ctx));
    } catch (e) {
      out.push({ check: `check ${out.length + 1}`, expected: "", observed: (e as Error).message, status: "FAIL" });
    }
    if (stopAtFailure && out[out.length - 1].status === "FAIL") break;
  }
  return out;
}

/**
 * Repeats the checks every `intervalMs` until nothing fails or `timeoutMs` has passed; the last results (all of
 * them). While waiting, a round stops at its first failure: no point looking further, and on a slow node (the
 * kernel lab's emulated guest) every check costs the controllers CPU.
 */
export async function waitForChecks(
  ctx: CheckContext,
  timeoutMs: number,
  intervalMs = 500,
  checks: readonly Check[] = CHECKS,
): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const results = await runChecks(ctx, checks, true);
    if (!results.some((r) => r.status === "FAIL")) return results;
    if (Date.now() >= deadline) return await runChecks(ctx, checks);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The results as an aligned text table with a header row. */
export function formatTable(results: CheckResult[]): string {
  const rows = [
    ["check", "expected", "observed", "ok"],
    ...results.map((r) => [
      r.check,
      r.expected,
      r.observed,
      r.status,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Whether this kernel can make dummy links (probed in a throwaway namespace `<prefix>probe-…`, removed again). */
export async function kernelHasDummy(netnsPrefix: string): Promise<boolean> {
  const ns = `${netnsPrefix}probe-${crypto.randomUUID().slice(0, 8)}`;
  if ((await exec(["ip", "netns", "add", ns])).code !== 0) return false;
  try {
    return (await exec(["ip", "-n", ns, "link", "add", "probe0", "type", "dummy"])).code === 0;
  } finally {
    await exec(["ip", "netns", "del", ns]);
  }
}
