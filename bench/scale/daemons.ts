/**
 * bench/scale/daemons.ts — what one wireguard-go device costs on this machine, and whether daemon environment
 * variables (GOMAXPROCS, GOGC, …) lower it. Answers whether a cold start of N userspace devices can fit a time budget
 * with one process per device.
 *
 * Per variant, in a throwaway host namespace and a throwaway "container" namespace: `--count` devices are started one
 * after the other the way the wg-controller does it — startWireGuardGo in the host namespace (sh → setsid → nsenter →
 * wireguard-go, one PID), a UAPI set (private key, listen port, one peer with an allowed IP), the TUN moved into the
 * container and set up there. Measured per device: wall time, CPU time of the daemon (utime+stime from
 * /proc/PID/stat, which includes the exec chain before it) and of this process (the driving side). Then, after a
 * settling pause, the idle cost over `--window` seconds: CPU time and context switches (all threads) of every daemon.
 * Last, each daemon is stopped (SIGTERM) and the namespaces removed.
 *
 * The "go-default" variant (Go's own GOMAXPROCS, one P per CPU) is the peer of every other variant; "current" is
 * what startWireGuardGo sets today. The JSON line holds each variant's figures and its ratio to the peer. Other work on the machine inflates wall times, not
 * the per-process CPU figures.
 *
 *   deno run -A bench/scale/daemons.ts [--count 300] [--window 10] [--settle 5] [--variants go-default,current]
 *                                     [--tag sc]
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { setLink } from "../../src/netlink/link.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { checkUapiReply } from "../../src/wireguard/uapi.ts";
import { uapiCall } from "../../src/wireguard/uapi_socket.ts";
import { startWireGuardGo, stopWireGuardGo, type WireGuardGoDaemon } from "../../src/wireguard/wggo.ts";
import { createNetns, deleteNetns } from "../../tests/helpers/netns.ts";
import { raiseInotifyInstances } from "./inotify.ts";

const NCPU = String(navigator.hardwareConcurrency);
/**
 * Environment variants for the daemons, set in this process's environment, which the daemons inherit.
 * startWireGuardGo sets GOMAXPROCS=1 unless our environment names one; "go-default" restores Go's own default (one P
 * per CPU) and is the peer the others are compared with.
 */
const VARIANTS: Record<string, Record<string, string>> = {
  "go-default": { GOMAXPROCS: NCPU },
  current: {},
  gomaxprocs1: { GOMAXPROCS: "1" },
  "gomaxprocs1-gogc-off": { GOMAXPROCS: "1", GOGC: "off" },
  "gogc-off": { GOMAXPROCS: NCPU, GOGC: "off" },
};
const BASE = "go-default";

const args = parseArgs({
  options: {
    count: { type: "string", default: "300" },
    window: { type: "string", default: "10" },
    settle: { type: "string", default: "5" },
    variants: { type: "string", default: "go-default,current" },
    tag: { type: "string", default: "sc" },
  },
});
const COUNT = Number(args.values.count);
const WINDOW_S = Number(args.values.window);
const SETTLE_S = Number(args.values.settle);
const CHOSEN = args.values.variants.split(",");
for (const v of CHOSEN) if (!(v in VARIANTS)) throw new Error(`--variants: unknown ${v} (${Object.keys(VARIANTS)})`);
/** Clock ticks per second of /proc/PID/stat times. */
const TICK = Number(
  new TextDecoder().decode((await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output()).stdout),
);
const RUN = crypto.getRandomValues(new Uint8Array(1)).toHex();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** utime+stime of a process in ms (all threads, including what its exec chain spent before). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
}

/** Context switches (voluntary + involuntary) of all threads of a process. */
function ctxSwitches(pid: number): number {
  let n = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const s = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/status`);
    for (const m of s.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
  }
  return n;
}

function rssKib(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? 0);
}

function threads(pid: number): number {
  return Number(/Threads:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? 0);
}

const ourCpuMs = () => {
  const u = cpuUsage();
  return (u.user + u.system) / 1000;
};

/** The value of `key` in a process's environment, or null. */
function environ(pid: number, key: string): string | null {
  const entry = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0").find((e) => e.startsWith(`${key}=`));
  return entry === undefined ? null : entry.slice(key.length + 1);
}

interface VariantResult {
  /** GOMAXPROCS as the daemons saw it (read from /proc/PID/environ). */
  gomaxprocs: string | null;
  start_wall_ms: number;
  start_daemon_cpu_ms: number;
  start_driver_cpu_ms: number;
  idle_cpu_ms_per_s: number;
  idle_ctxsw_per_s: number;
  rss_mib: number;
  threads: number;
}

async function measure(variant: string, index: number): Promise<VariantResult> {
  const env = VARIANTS[variant];
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  const host = await createNetns(`${args.values.tag}-wgh`);
  const ctr = await createNetns(`${args.values.tag}-wgc`);
  const hostNs = Netns.byName(host.name), ctrNs = Netns.byName(ctr.name);
  const stateDir = await Deno.makeTempDir({ prefix: `dn42op-${args.values.tag}-wgd-` });
  const daemons: WireGuardGoDaemon[] = [];
  try {
    const keys = await Promise.all(Array.from({ length: 2 }, async () => {
      const k = await generatePrivateKey();
      return { priv: k.toHex(), pub: (await publicKeyOf(k)).toHex() };
    }));
    const wall: number[] = [], daemonCpu: number[] = [], driverCpu: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const name = `sc${RUN}${index}${i.toString(16).padStart(4, "0")}`;
      const t0 = performance.now(), c0 = ourCpuMs();
      const d = await startWireGuardGo(name, { netnsPath: host.path, stateDir });
      daemons.push(d);
      const set = `set=1\nprivate_key=${keys[0].priv}\nlisten_port=${40000 + i}\npublic_key=${keys[1].pub}\n` +
        `allowed_ip=10.200.${i >> 8}.${i & 255}/32\n\n`;
      checkUapiReply(await uapiCall(name, set, undefined, 10_000), `uapi set ${name}`);
      await setLink(hostNs, name, { netns: ctrNs });
      await setLink(ctrNs, name, { up: true });
      wall.push(performance.now() - t0);
      driverCpu.push(ourCpuMs() - c0);
      daemonCpu.push(cpuMs(d.pid));
      if ((i + 1) % 100 === 0) console.log(`  ${variant}: ${i + 1}/${COUNT} started`);
    }
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const cpu0 = daemons.map((d) => cpuMs(d.pid)), cs0 = daemons.map((d) => ctxSwitches(d.pid));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const cpu1 = daemons.map((d) => cpuMs(d.pid)), cs1 = daemons.map((d) => ctxSwitches(d.pid));
    const s = (performance.now() - t0) / 1000;
    const r: VariantResult = {
      gomaxprocs: environ(daemons[0].pid, "GOMAXPROCS"),
      start_wall_ms: round3(median(wall)),
      start_daemon_cpu_ms: round3(sum(daemonCpu) / COUNT),
      start_driver_cpu_ms: round3(sum(driverCpu) / COUNT),
      idle_cpu_ms_per_s: round3((sum(cpu1) - sum(cpu0)) / s / COUNT),
      idle_ctxsw_per_s: round3((sum(cs1) - sum(cs0)) / s / COUNT),
      rss_mib: round3(sum(daemons.map((d) => rssKib(d.pid))) / COUNT / 1024),
      threads: round3(sum(daemons.map((d) => threads(d.pid))) / COUNT),
    };
    console.log(`${variant} ${JSON.stringify(env)}: ${JSON.stringify(r)}`);
    return r;
  } finally {
    for (let i = 0; i < daemons.length; i += 50) {
      await Promise.all(daemons.slice(i, i + 50).map((d) => stopWireGuardGo(d, { stateDir }).catch(() => {})));
    }
    hostNs.close();
    ctrNs.close();
    await deleteNetns(ctr);
    await deleteNetns(host);
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    for (const k of Object.keys(env)) Deno.env.delete(k);
  }
}

const room = await raiseInotifyInstances(COUNT, "bench/scale/daemons");
const results: Record<string, VariantResult> = {};
try {
  for (const [i, v] of CHOSEN.entries()) results[v] = await measure(v, i);
} finally {
  room.restore();
}
const base = results[BASE];
const summary: Record<string, unknown> = { count: COUNT, window_s: WINDOW_S, cpus: navigator.hardwareConcurrency };
for (const [v, r] of Object.entries(results)) {
  summary[v] = {
    ...r,
    ...(base && v !== BASE
      ? {
        start_cpu_ratio_vs_go_default: round3(
          (r.start_daemon_cpu_ms + r.start_driver_cpu_ms) / (base.start_daemon_cpu_ms + base.start_driver_cpu_ms),
        ),
        idle_cpu_ratio_vs_go_default: round3(r.idle_cpu_ms_per_s / base.idle_cpu_ms_per_s),
      }
      : {}),
  };
}
console.log(`load average: ${(await Deno.readTextFile("/proc/loadavg")).trim()}`);
console.log(JSON.stringify(summary));
