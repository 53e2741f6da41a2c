/**
 * bench/scale/daemons.ts — what one wireguard-go device costs on this machine, and whether daemon environment
 * variables (GOMAXPROCS, GOGC, …) lower it. Answers whether a cold start of N userspace devices can fit a time budget
 * with one process per device.
 *
 * Per variant, in a throwaway host namespace and a throwaway "container" namespace: `--count` devices are started one
 * after the other the way the wg-controller does it — startWireGuardGo in the host namespace (sh → setsid → nsenter →
 * unshare → sh → wireguard-go, one PID), a UAPI set (private key, listen port, one peer with an allowed IP), the TUN moved into the
 * container and set up there. Measured per device: wall time, CPU time of the daemon (utime+stime from
 * /proc/PID/stat, which includes the exec chain before it) and of this process (the driving side). Then, after a
 * settling pause, the idle cost over `--window` seconds: CPU time (each thread's schedstat, exact to the ns) and
 * context switches (all threads) of every daemon.
 *
 * Then the fan-out cost (bench/scale/fanout.ts): every daemon holds two rtnetlink multicast sockets in the host
 * namespace (link + IPv4/IPv6 address groups; IPv4 routes), so each change there wakes every daemon. A veth pair is
 * made in the host namespace and `--events` MTU changes (our setLink), then `--events` IPv4 /32 additions (our
 * addAddress) are made on it in bursts of `--burst`; after each burst the bench waits until every daemon socket's
 * receive queue is empty (/proc/PID/net/netlink). Reported per change per daemon, minus the idle rate over the
 * phase: daemon CPU µs (`fanout_link_us`, `fanout_addr_us`) and context switches; also the notifications one
 * change sends (counted with our own listener: an address brings its local route) and any the daemons dropped.
 * Last, each daemon is stopped (SIGTERM) and the namespaces removed.
 *
 * The "go-default" variant (Go's own GOMAXPROCS, one P per CPU) is the peer of every other variant; "current" is
 * what startWireGuardGo sets today. The JSON line holds each variant's figures and its ratio to the peer. Other work
 * on the machine inflates wall times, not the per-process CPU figures.
 *
 *   deno run -A bench/scale/daemons.ts [--count 300] [--window 10] [--settle 5] [--variants go-default,current]
 *                                     [--events 100] [--burst 10] [--tag sc]
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { setLink } from "../../src/netlink/link.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { checkUapiReply } from "../../src/wireguard/uapi.ts";
import { uapiCall } from "../../src/wireguard/uapi_socket.ts";
import {
  daemonSocketDir,
  startWireGuardGo,
  stopWireGuardGo,
  type WireGuardGoDaemon,
} from "../../src/wireguard/wggo.ts";
import { createNetns, deleteNetns } from "../../kit/netns.ts";
import { cpuMs, fanOut, fanOutVeth, sample } from "./fanout.ts";
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
    events: { type: "string", default: "100" },
    burst: { type: "string", default: "10" },
  },
});
const COUNT = Number(args.values.count);
const WINDOW_S = Number(args.values.window);
const SETTLE_S = Number(args.values.settle);
const EVENTS = Number(args.values.events);
const BURST = Number(args.values.burst);
const CHOSEN = args.values.variants.split(",");
for (const v of CHOSEN) if (!(v in VARIANTS)) throw new Error(`--variants: unknown ${v} (${Object.keys(VARIANTS)})`);
const RUN = crypto.getRandomValues(new Uint8Array(1)).toHex();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

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
  /** Fan-out: daemon CPU µs per MTU change of a veth in the daemons' namespace, per daemon (idle-corrected). */
  fanout_link_us: number;
  /** Fan-out: the same per IPv4 address added to that veth. */
  fanout_addr_us: number;
  /** Context switches per change per daemon (idle-corrected). */
  fanout_link_ctxsw: number;
  fanout_addr_ctxsw: number;
  /** rtnetlink notifications of wireguard-go's groups per change (an address brings its local route). */
  fanout_link_notifications: number;
  fanout_addr_notifications: number;
  /** Notifications the daemons' sockets dropped during the fan-out phases (receive queue full). */
  fanout_drops: number;
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
      checkUapiReply(await uapiCall(name, set, daemonSocketDir({ stateDir }), 10_000), `uapi set ${name}`);
      await setLink(hostNs, name, { netns: ctrNs });
      await setLink(ctrNs, name, { up: true });
      wall.push(performance.now() - t0);
      driverCpu.push(ourCpuMs() - c0);
      daemonCpu.push(cpuMs(d.pid));
      if ((i + 1) % 100 === 0) console.log(`  ${variant}: ${i + 1}/${COUNT} started`);
    }
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const pids = daemons.map((d) => d.pid);
    const i0 = sample(pids);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const i1 = sample(pids);
    const s = (i1.at - i0.at) / 1000;
    const idle = { cpuMsPerS: (i1.cpuMs - i0.cpuMs) / s, ctxswPerS: (i1.ctxsw - i0.ctxsw) / s };
    await fanOutVeth(hostNs, "fanout0");
    const link = await fanOut(hostNs, "fanout0", pids, { kind: "link", events: EVENTS, burst: BURST, idle });
    const addr = await fanOut(hostNs, "fanout0", pids, { kind: "address", events: EVENTS, burst: BURST, idle });
    const r: VariantResult = {
      gomaxprocs: environ(daemons[0].pid, "GOMAXPROCS"),
      start_wall_ms: round3(median(wall)),
      start_daemon_cpu_ms: round3(sum(daemonCpu) / COUNT),
      start_driver_cpu_ms: round3(sum(driverCpu) / COUNT),
      idle_cpu_ms_per_s: round3(idle.cpuMsPerS / COUNT),
      idle_ctxsw_per_s: round3(idle.ctxswPerS / COUNT),
      rss_mib: round3(sum(daemons.map((d) => rssKib(d.pid))) / COUNT / 1024),
      threads: round3(sum(daemons.map((d) => threads(d.pid))) / COUNT),
      fanout_link_us: round3(link.us),
      fanout_addr_us: round3(addr.us),
      fanout_link_ctxsw: round3(link.ctxsw),
      fanout_addr_ctxsw: round3(addr.ctxsw),
      fanout_link_notifications: round3(link.notifications),
      fanout_addr_notifications: round3(addr.notifications),
      fanout_drops: link.drops + addr.drops,
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
const summary: Record<string, unknown> = {
  count: COUNT,
  window_s: WINDOW_S,
  events: EVENTS,
  cpus: navigator.hardwareConcurrency,
};
for (const [v, r] of Object.entries(results)) {
  summary[v] = {
    ...r,
    ...(base && v !== BASE
      ? {
        start_cpu_ratio_vs_go_default: round3(
          (r.start_daemon_cpu_ms + r.start_driver_cpu_ms) / (base.start_daemon_cpu_ms + base.start_driver_cpu_ms),
        ),
        idle_cpu_ratio_vs_go_default: round3(r.idle_cpu_ms_per_s / base.idle_cpu_ms_per_s),
        fanout_link_ratio_vs_go_default: round3(r.fanout_link_us / base.fanout_link_us),
        fanout_addr_ratio_vs_go_default: round3(r.fanout_addr_us / base.fanout_addr_us),
      }
      : {}),
  };
}
console.log(`load average: ${(await Deno.readTextFile("/proc/loadavg")).trim()}`);
console.log(JSON.stringify(summary));
