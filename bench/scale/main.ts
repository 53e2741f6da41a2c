/**
 * bench:scale — N WireGuardInterfaces (default 1000) on one node: cold start of wg-controller to all Ready.
 *
 * The objects (inline keys, one point-to-point address each, one peer, moved into one "container" namespace) are
 * created first; then wg-controller starts as a real process confined to a throwaway network namespace, against the
 * real API server. cold_start_s runs from the spawn to the moment every object reports Ready with
 * observedGeneration = generation. rss_mib is the controller process's peak RSS (VmHWM) at that moment. Readiness
 * is followed through one list + watch of the namespace's WireGuardInterfaces (the project's informer), so the
 * measuring costs the API server a watch stream, not a LIST of every object several times a second.
 *
 * Limits: each wireguard-go daemon holds an inotify instance, so fs.inotify.max_user_instances (128 by default)
 * caps N for the userspace backend. For a larger N the bench raises that host sysctl for its own run and says so
 * (bench/scale/inotify.ts); the previous value is restored when it ends.
 *
 * Backend honesty: this host has no WireGuard kernel module, so every device here is a wireguard-go daemon (one
 * process per device). Their memory is NOT in rss_mib (it is reported separately as daemons_rss_mib), and starting
 * 1000 daemons is most of the cold-start time. The kernel backend is not measured here: the qemu tier has no
 * network path to an API server.
 *
 * Fan-out (bench/scale/fanout.ts): every wireguard-go holds two rtnetlink multicast sockets in the namespace it
 * started in (the controller's host namespace, where each daemon stays while its TUN is moved away), so every link,
 * address or IPv4-route notification there reaches every daemon alive at that moment. A listener of our own netlink
 * layer counts those notifications during the cold start (`netlink_events`, by message type, per device; those in
 * the container namespace reach no daemon and are reported apart) and sums the daemons alive at each one
 * (`daemon_wakeups` = Σ notifications × live daemons, the quadratic term: ≈ k·N²/2 for k notifications per device).
 * After all are Ready (so cold_start_s is not affected), the same run measures what one link notification costs each
 * daemon (`fanout_link_us`: `--probe-events` MTU changes of a veth there, idle-corrected) and prints the product
 * (`fanout_cpu_s`, and `fanout_floor_s` = that divided by the CPUs): the CPU the fan-out alone needs, next to
 * `daemons_cpu_s` (all the daemons' CPU at Ready), `controller_cpu_s` and the notifications the daemons' sockets
 * dropped. Last, the steady state: the controller's CPU over three poll periods with all converged
 * (`controller_idle_ms_per_s`).
 *
 * Peer figure (same run, same N, same namespaces): a shell loop per interface with the standard tools — start
 * wireguard-go in the host namespace, `wg set` key/port/peer, `ip link set netns`, `ip addr add`, `ip link set up`
 * — run 8-way parallel.
 *
 * Usage: deno task bench:scale [--count N] [--workers W (default: the controller's default)] [--skip-peer] [--log FILE]
 *                              [--tag T (network namespace and temp-file sub-prefix, default "ap")] [--probe-events 20]
 */
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { exec } from "../../kit/proc.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/kube/informer.ts";
import { DeviceNotFoundError } from "../../src/wireguard/errors.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { UAPI_GET } from "../../src/wireguard/uapi.ts";
import { uapiCall, uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { customApi, startAgent } from "../../kit/agent.ts";
import { cluster } from "../../kit/cluster.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../kit/netns.ts";
import { cpuMs, daemonSockets, fanOut, fanOutVeth, sample, WakeupTally } from "./fanout.ts";
import { raiseInotifyInstances } from "./inotify.ts";
import { allReady, dropFinalizers, WGI, type Wgi } from "./ready.ts";
import { type ScaleKey, scaleSpec } from "./spec.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "1000" },
    workers: { type: "string" },
    "skip-peer": { type: "boolean", default: false },
    log: { type: "string" },
    tag: { type: "string", default: "ap" },
    "probe-events": { type: "string", default: "20" },
  },
});
const TAG = args.values.tag;
const N = Number(args.values.count);
/** Reconcile workers; by default the controller's own default. */
const WORKERS = args.values.workers;
const PREFIX = `wa${crypto.getRandomValues(new Uint8Array(1)).toHex()}`; // wa + 2 hex + 4 hex index = 8 chars

function name(i: number): string {
  return `${PREFIX}${i.toString(16).padStart(4, "0")}`;
}

/** The peer script's device names: `wp` + this run's random part + index. */
function peerName(i: number): string {
  return name(i).replace(/^wa/, "wp");
}

async function procKib(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
}

/** PIDs of the wireguard-go daemons in `ns`. */
async function daemonPids(ns: TestNetns): Promise<number[]> {
  const out = (await exec(["ip", "netns", "pids", ns.name])).stdout;
  const pids: number[] = [];
  for (const p of out.split(/\s+/).filter(Boolean)) {
    if ((await Deno.readTextFile(`/proc/${p}/comm`).catch(() => "")).trim() === "wireguard-go") pids.push(Number(p));
  }
  return pids;
}

async function daemonsRssMib(pids: number[]): Promise<{ count: number; mib: number }> {
  let kib = 0;
  for (const p of pids) kib += await procKib(p, "VmRSS");
  return { count: pids.length, mib: kib / 1024 };
}

const METRICS_PORT = 18080;
/** Give up after this long (wireguard-go daemons start slowly on a loaded host). */
const LIMIT_S = Math.max(900, N * 1.5);
/** The steady-state window: three of the controller's 10 s device polls. */
const IDLE_WINDOW_MS = 30_000;

/** The controller's V8 heap (used/total) and external memory, from its own /metrics (prom-client). */
async function heapMib(host: TestNetns): Promise<Record<string, number>> {
  const text = await host.run("curl", "-s", `http://127.0.0.1:${METRICS_PORT}/metrics`).catch(() => "");
  const out: Record<string, number> = {};
  for (const m of ["nodejs_heap_size_used_bytes", "nodejs_heap_size_total_bytes", "nodejs_external_memory_bytes"]) {
    const v = new RegExp(`^${m} (\\S+)`, "m").exec(text)?.[1];
    if (v !== undefined) out[m.replace(/^nodejs_|_bytes$/g, "")] = +(Number(v) / 1048576).toFixed(1);
  }
  return out;
}

/** Whether process `pid` still runs (a zombie has closed its files already). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Removes the UAPI sockets of `names` that no daemon serves any more: SIGKILLed daemons (the bench's teardown)
 * cannot remove their own, and /var/run/wireguard is shared by every namespace. A socket that answers is left. The
 * killed daemons `killed` are waited for first (up to 30 s), and a socket that neither answers nor refuses (a daemon
 * still exiting on a loaded machine) is probed again, up to 5 times a second apart; what is left is reported.
 */
async function removeDeadSockets(names: string[], killed: number[]): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (killed.some(running) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  let left = names;
  for (let round = 0; round < 5 && left.length; round++) {
    if (round) await new Promise((r) => setTimeout(r, 1000));
    const again: string[] = [];
    for (const n of left) {
      try {
        await uapiCall(n, UAPI_GET, undefined, 500);
        again.push(n);
      } catch (e) {
        if (e instanceof DeviceNotFoundError) await Deno.remove(uapiSocketPath(n)).catch(() => {});
        else again.push(n);
      }
    }
    left = again;
  }
  if (left.length) console.log(`bench:scale: left ${left.length} UAPI sockets that still answer: ${left.join(" ")}`);
}

async function keys(n: number) {
  const out: { priv: string; pub: string }[] = [];
  for (let i = 0; i < n; i++) {
    const k = await generatePrivateKey();
    out.push({ priv: k.toBase64(), pub: (await publicKeyOf(k)).toBase64() });
  }
  return out;
}

async function ours(ctr: TestNetns, kk: ScaleKey[]) {
  const c = await cluster();
  const core = c.kc.makeApiClient(k8s.CoreV1Api);
  const api = await customApi();
  const client = new KubeClient(c.kc);
  const namespace = `dn42op-${TAG}-bench-${crypto.randomUUID().slice(0, 8)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const stateDir = await Deno.makeTempDir({ prefix: `dn42op-${TAG}-bench-` });
  try {
    console.log(`creating ${N} WireGuardInterfaces in ${namespace} ...`);
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => {
        const x = i + j;
        return api.createNamespacedCustomObject({
          ...WGI,
          namespace,
          body: {
            apiVersion: "networking.dn42.io/v1alpha1",
            kind: "WireGuardInterface",
            metadata: { name: `w${x}`, namespace },
            spec: scaleSpec(x, kk, ctr.name, name(x)),
          },
        });
      }));
    }
    const t0 = performance.now();
    const agent = await startAgent({
      program: "src/cmd/wg-controller.ts",
      netnsTag: TAG,
      nodename: "bench",
      namespace,
      args: [
        ...(WORKERS ? [`-num-workers=${WORKERS}`] : []),
        "-wg-backend=userspace",
        `-wg-state-dir=${stateDir}`,
        "-v=0",
        `-metrics-bind-address=127.0.0.1:${METRICS_PORT}`,
      ],
    });
    // The controller needs far longer to start than this takes, so no notification of the run is missed (checked:
    // fan-out.daemons must come out as N).
    const hostNs = Netns.byName(agent.host.name), ctrNs = Netns.byName(ctr.name);
    const tally = new WakeupTally(hostNs, PREFIX);
    const ctrTally = new WakeupTally(ctrNs, PREFIX);
    const informer = new Informer<Wgi>(client, { resource: WGI, namespace, name: "bench readiness" });
    try {
      await allReady(informer, N, t0, LIMIT_S);
      const coldS = (performance.now() - t0) / 1000;
      await tally.counter.stop();
      await ctrTally.counter.stop();
      const hwm = await procKib(agent.pid, "VmHWM");
      const controllerCpuS = cpuMs(agent.pid) / 1000;
      const pids = await daemonPids(agent.host);
      const daemonsCpuS = pids.reduce((a, p) => a + cpuMs(p), 0) / 1000;
      const sockets = daemonSockets(pids[0]);
      const heap = await heapMib(agent.host);
      const daemons = await daemonsRssMib(pids);
      const links = (await ctr.ip("-o", "link", "show")).split("\n").filter((l) => l.includes(`: ${PREFIX}`)).length;
      if (links !== N) throw new Error(`${links} links in the container, expected ${N}`);
      const probe = await probeFanOut(hostNs, pids);
      // The steady state: the controller's CPU over three poll periods with every object converged.
      const idle0 = cpuMs(agent.pid);
      const idleT0 = performance.now();
      await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
      const controllerIdleMsPerS = (cpuMs(agent.pid) - idle0) / ((performance.now() - idleT0) / 1000);
      const fanout = {
        events: tally.counter.total,
        byType: tally.byType,
        overruns: tally.counter.overruns,
        daemons: tally.daemons,
        wakeups: tally.wakeups,
        containerEvents: ctrTally.counter.total,
        containerByType: ctrTally.byType,
        queuedAtReady: sockets.queued,
        dropsAtReady: sockets.drops,
        daemonsCpuS,
        probe,
      };
      return { coldS, rssMib: hwm / 1024, daemons, heap, fanout, controllerCpuS, controllerIdleMsPerS };
    } finally {
      await tally.counter.stop();
      await ctrTally.counter.stop();
      hostNs.close();
      ctrNs.close();
      await informer.stop();
      if (args.values.log) await Deno.copyFile(agent.logFile, args.values.log);
      const killed = await daemonPids(agent.host);
      await agent.dispose(); // kills the controller and every daemon in its host namespace
      await removeDeadSockets(Array.from({ length: N }, (_, i) => name(i)), killed);
    }
  } finally {
    await dropFinalizers(client, namespace).catch((e) => console.log(`bench:scale: cleanup: ${e}`));
    await core.deleteNamespace({ name: namespace }).catch(() => {});
    client.close();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

const PROBE_EVENTS = Number(args.values["probe-events"]);

/**
 * What one link notification costs each daemon, measured in the same run once all are Ready: after their sockets
 * drained and a 1 s pause, the daemons' idle rate over 3 s, then `--probe-events` MTU changes of a veth in their
 * namespace (bench/scale/fanout.ts; the controller there ignores links without its mark).
 */
async function probeFanOut(ns: Netns, pids: number[]) {
  const deadline = performance.now() + 120_000;
  while (daemonSockets(pids[0]).queued > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const i0 = sample(pids);
  await new Promise((r) => setTimeout(r, 3000));
  const i1 = sample(pids);
  const s = (i1.at - i0.at) / 1000;
  const idle = { cpuMsPerS: (i1.cpuMs - i0.cpuMs) / s, ctxswPerS: (i1.ctxsw - i0.ctxsw) / s };
  await fanOutVeth(ns, "fanout0");
  const link = await fanOut(ns, "fanout0", pids, { kind: "link", events: PROBE_EVENTS, burst: 10, idle });
  return { ...link, idleCpuMsPerSPerDaemon: idle.cpuMsPerS / pids.length };
}

/** The standard tools, one shell script per interface, 8-way parallel. */
async function peer(host: TestNetns, ctr: TestNetns, kk: ScaleKey[]) {
  const hostNs = Netns.byName(host.name);
  const tally = new WakeupTally(hostNs, peerName(0).slice(0, 4));
  const dir = await Deno.makeTempDir({ prefix: `dn42op-${TAG}-bench-peer-` });
  try {
    const script = `
set -e
i=$1; n=$2; key=$3; pub=$4
printf '%s' "$key" > ${dir}/$n.key
ip netns exec ${host.name} wireguard-go $n >/dev/null 2>&1
ip netns exec ${host.name} wg set $n private-key ${dir}/$n.key listen-port $((30000 + i)) \\
  peer $pub allowed-ips 10.200.$((i >> 8)).$((i & 255))/32
ip -n ${host.name} link set $n mtu 1420
ip -n ${host.name} link set $n netns ${ctr.name}
ip -n ${ctr.name} addr add 10.$((64 + (i >> 8))).$((i & 255)).1 peer 10.127.0.1/32 dev $n
ip -n ${ctr.name} link set $n up
`;
    await Deno.writeTextFile(`${dir}/one.sh`, script);
    const lines = kk.map((k, i) => `${i} ${peerName(i)} ${k.priv} ${kk[(i + 1) % N].pub}`);
    const t0 = performance.now();
    const r = await exec(["xargs", "-P", "8", "-L", "1", "sh", `${dir}/one.sh`], { stdin: lines.join("\n") + "\n" });
    const s = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`peer script failed: ${r.stderr.slice(0, 400)}`);
    await tally.counter.stop();
    return { s, events: tally.counter.total, wakeups: tally.wakeups };
  } finally {
    await tally.counter.stop();
    hostNs.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const inotify = await raiseInotifyInstances(N, "bench:scale");
let result: Record<string, unknown>;
try {
  const kk = await keys(N);
  const ctr = await createNetns(`${TAG}-benchc`);
  try {
    const o = await ours(ctr, kk);
    console.log(
      `ours: ${N} WGIs Ready ${o.coldS.toFixed(1)} s after the controller started; controller peak RSS ` +
        `${o.rssMib.toFixed(0)} MiB, CPU ${o.controllerCpuS.toFixed(1)} s (V8 heap MiB: ${JSON.stringify(o.heap)}), ` +
        `then ${o.controllerIdleMsPerS.toFixed(1)} ms CPU per s with all converged; ` +
        `${o.daemons.count} wireguard-go daemons using ${o.daemons.mib.toFixed(0)} MiB`,
    );
    const f = o.fanout;
    const fanoutCpuS = (f.wakeups * f.probe.us) / 1e6;
    const cpus = navigator.hardwareConcurrency;
    const perDaemon = `${f.probe.us.toFixed(0)} µs daemon CPU and ${f.probe.ctxsw.toFixed(1)} context switches`;
    console.log([
      `fan-out: ${f.events} rtnetlink notifications in the daemons' namespace during the cold start,`,
      `${(f.events / N).toFixed(2)} per device ${JSON.stringify(f.byType)} (${f.daemons} TUN creations seen,`,
      `listener overruns ${f.overruns}); ${f.containerEvents} more in the container namespace`,
      `${JSON.stringify(f.containerByType)} reach no daemon. Each one is delivered to every daemon alive then:`,
      `Σ notifications × live daemons = ${f.wakeups} deliveries (wake-ups unless a daemon batches),`,
      `${(f.wakeups / (N * N)).toFixed(2)}·N². Measured in this run with ${N} daemons: ${perDaemon} per link`,
      `notification per daemon (idle ${f.probe.idleCpuMsPerSPerDaemon.toFixed(2)} ms/s per daemon subtracted,`,
      `${f.probe.drops} dropped) → ≈ ${fanoutCpuS.toFixed(1)} s of daemon CPU for the fan-out alone`,
      `(${(fanoutCpuS / cpus).toFixed(1)} s on ${cpus} CPUs). All daemons together had used`,
      `${f.daemonsCpuS.toFixed(1)} s CPU at Ready; their sockets then held ${f.queuedAtReady} queued bytes and had`,
      `dropped ${f.dropsAtReady} notifications.`,
    ].join(" "));
    let peerS: number | null = null;
    let peerFan: { events: number; wakeups: number } | null = null;
    if (!args.values["skip-peer"]) {
      const host = await createNetns(`${TAG}-benchh`);
      const ctr2 = await createNetns(`${TAG}-benchc`);
      try {
        const p = await peer(host, ctr2, kk);
        peerS = p.s;
        peerFan = p;
        console.log(
          `peer (wireguard-go + wg + ip, 8-way parallel, no Kubernetes): ${peerS.toFixed(1)} s; ${p.events} ` +
            `notifications in its daemons' namespace, ${p.wakeups} daemon wake-ups`,
        );
      } finally {
        await deleteNetns(ctr2);
        const killed = await daemonPids(host);
        await deleteNetns(host); // kills the peer's daemons
        await removeDeadSockets(Array.from({ length: N }, (_, i) => peerName(i)), killed);
      }
    }
    result = {
      cold_start_s: +o.coldS.toFixed(2),
      rss_mib: +o.rssMib.toFixed(1),
      count: N,
      backend: "userspace",
      daemons_rss_mib: +o.daemons.mib.toFixed(0),
      controller_heap_used_mib: o.heap.heap_size_used ?? null,
      inotify_limit_raised: inotify.raised,
      peer_shell_s: peerS === null ? null : +peerS.toFixed(2),
      ratio_vs_peer: peerS === null ? null : +(o.coldS / peerS).toFixed(2),
      netlink_events: f.events,
      netlink_events_per_device: +(f.events / N).toFixed(2),
      netlink_events_by_type: f.byType,
      netlink_events_container: f.containerEvents,
      daemon_wakeups: f.wakeups,
      fanout_link_us: +f.probe.us.toFixed(1),
      fanout_cpu_s: +fanoutCpuS.toFixed(1),
      fanout_floor_s: +(fanoutCpuS / cpus).toFixed(1),
      daemons_cpu_s: +f.daemonsCpuS.toFixed(1),
      controller_cpu_s: +o.controllerCpuS.toFixed(1),
      controller_idle_ms_per_s: +o.controllerIdleMsPerS.toFixed(1),
      daemon_socket_drops: f.dropsAtReady,
      peer_netlink_events: peerFan?.events ?? null,
      peer_daemon_wakeups: peerFan?.wakeups ?? null,
    };
  } finally {
    await deleteNetns(ctr);
  }
} finally {
  inotify.restore();
}
console.log(JSON.stringify(result));
Deno.exit(0);
