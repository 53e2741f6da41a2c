/**
 * bench:converge:kernel — from `kubectl apply` of wgp1 to the first successful `ping 10.4.0.2` from agent1 through a
 * KERNEL WireGuard tunnel: the kernel lab's node side (lab/kernel/: wg-controller and nl-controller for lax1 and lax2
 * in a qemu guest booting Debian's kernel, agent1/agent2 named namespaces there) against the control plane on the
 * host, with the wgplan-controller and kubectl on the host. Each run is followed by `kubectl delete` and a wait until
 * both links are gone; one warm-up run is shown but not counted. The first ping is awaited inside the guest (one
 * request to its agent, answered when a ping got through), so each figure includes one control round trip.
 *
 * Peer (same guest, same run): the same two tunnel ends by hand with `ip` and `wg` (create in agentx, keys, ports,
 * peer, move into agent1/agent2, addresses, MTU, up) from the first command to the first ping, timed in the guest.
 *
 * Each of our runs is traced (src/log/trace.ts, the controllers run at -v 4): the `trace` lines of the guest's
 * controllers and the host's wgplan-controller give each phase's offset from the start of `kubectl apply`; guest
 * times are moved onto the host's clock by the offset measured once (one round trip through the agent, its middle;
 * under emulation that is good to some 100 ms).
 * (No first-handshake phase: the kernel reports handshake times in whole seconds only.)
 *
 * Also in the same run, before the guest boots: bench:converge's userspace figure (wireguard-go, podman containers;
 * bench/converge/main.ts run as it is, its JSON line read) on this host, so the two backends are compared on one
 * machine at one load. Emulation (TCG, no KVM) makes the guest ~20x slower: compare ratios, not absolute times.
 *
 *   deno task bench:converge:kernel [--runs 10] [--skip-userspace]
 *
 * Last line: {"kernel": {runs, p50_s, p90_s, p50_after_apply_s, peer_p50_s, peer_p90_s, ratio_p50,
 * kubectl_to_plan_p50_s, operator_p50_s, operator_ratio_p50 (as bench:converge), phases_p50_ms},
 * "userspace": {bench:converge's JSON line, or null}, "kernel_vs_userspace_p50", "guest_boot_s", "emulation": "tcg",
 * "loadavg_before", "loadavg_after"}.
 */
import { parseArgs } from "node:util";
import { withNamespace } from "../../kit/cluster.ts";
import { stream } from "../../kit/proc.ts";
import { until } from "../../kit/wait.ts";
import { supervisorDirs } from "../../lab/controllers.ts";
import {
  type KernelInstance,
  kernelInstance,
  kernelInstanceDown,
  kernelInstanceUp,
  sweepKernelInstances,
} from "../../lab/kernel/instance.ts";
import { applyExamples, deleteExamples } from "../../lab/scenario.ts";
import { percentile } from "../stats.ts";
import { medianTrace, parseTrace, phaseOffsets, splitRun, type TraceEvent } from "./trace.ts";

const PREFIX = "dn42op-kl-bc-";
const PLAN = ["example/wgp/wgp1.yaml"];
/** Bound on one convergence under emulation. */
const TIMEOUT_MS = 300_000;
/** Bound on the warm-up run, which includes the node programs' start in the guest. */
const WARM_UP_TIMEOUT_MS = 900_000;

async function loadavg(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
}

async function linkGone(inst: KernelInstance, where: "agent1" | "agent2", dev: string): Promise<boolean> {
  return (await inst.inNetns(where, ["ip", "link", "show", "dev", dev])).code !== 0;
}

/** Milliseconds the guest's clock is ahead of the host's: one `date` in the guest, against the round trip's middle. */
async function guestClockOffset(inst: KernelInstance): Promise<number> {
  const t0 = Date.now();
  const r = await inst.node.exec(["date", "+%s%N"]);
  const t1 = Date.now();
  if (r.code !== 0) throw new Error(`date in the guest: ${r.stderr.trim()}`);
  return Number(BigInt(r.stdout.trim()) / 1_000_000n) - (t0 + t1) / 2;
}

/** The plan, its two children (lax1's, lax2's): the objects a run traces. */
function tracedKeys(namespace: string): string[] {
  return [`${namespace}/wgp1`, `${namespace}/wg-lax1-lax2-0`, `${namespace}/wg-lax2-lax1-0`];
}

/**
 * Trace lines of the guest's controllers (their times moved onto the host's clock by `offsetMs`) and of the host's
 * wgplan-controller.
 */
async function traceEvents(inst: KernelInstance, offsetMs: number): Promise<TraceEvent[]> {
  const guestLogs = supervisorDirs(inst.options.guest.stateDir).logDir;
  const r = await inst.node.exec(["sh", "-c", `cat "$1"/*.log | grep ': trace '`, "sh", guestLogs]);
  const guest = parseTrace(r.stdout).map((e) => ({ ...e, at: e.at - offsetMs }));
  const host = await Deno.readTextFile(`${supervisorDirs(inst.options.stateDir).logDir}/wgplan-controller.log`);
  return [...guest, ...parseTrace(host)];
}

/**
 * One run of ours: apply, first ping (awaited in the guest, up to `timeoutMs`), trace, delete, wait clean (the same
 * bound).
 */
async function oursOnce(
  inst: KernelInstance,
  offsetMs: number,
  timeoutMs = TIMEOUT_MS,
): Promise<{ total: number; apply: number; trace: Map<string, number> }> {
  const { kubeconfig, names } = inst.options;
  const wallT0 = Date.now();
  const t0 = performance.now();
  await applyExamples(kubeconfig, PLAN, names);
  const apply = (performance.now() - t0) / 1000;
  const ping = { netns: names.containers.agent1, target: "10.4.0.2", timeoutMs };
  await inst.node.call("pingUntil", ping, timeoutMs + 10_000);
  const total = (performance.now() - t0) / 1000;
  const trace = phaseOffsets(await traceEvents(inst, offsetMs), wallT0, tracedKeys(names.namespace));
  trace.set("kubectl-apply-returned", apply * 1000);
  trace.set("first-ping", total * 1000);
  await deleteExamples(kubeconfig, PLAN, names);
  await until(
    "the plan's links gone after delete",
    async () => await linkGone(inst, "agent1", "wg-lax1-lax2-0") && await linkGone(inst, "agent2", "wg-lax2-lax1-0"),
    timeoutMs,
  );
  return { total, apply, trace };
}

/**
 * The peer by hand in the guest: the same tunnel (ports, addresses, MTU, keepalive, allowed IPs) with ip and wg,
 * timed from the first command to the first ping inside the guest; the links are removed afterwards.
 */
export function peerScript(ax: string, a1: string, a2: string): string {
  return `set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
wg genkey > "$d/1"; wg genkey > "$d/2"
p1=$(wg pubkey < "$d/1"); p2=$(wg pubkey < "$d/2")
t0=$(date +%s%N)
ip -n ${ax} link add klp1 type wireguard
ip -n ${ax} link add klp2 type wireguard
ip netns exec ${ax} wg set klp1 listen-port 52820 private-key "$d/1" peer "$p2" allowed-ips 0.0.0.0/0,::/0
ip netns exec ${ax} wg set klp2 listen-port 51800 private-key "$d/2" peer "$p1" allowed-ips 0.0.0.0/0,::/0 \\
  endpoint 192.168.65.3:52820 persistent-keepalive 25
ip -n ${ax} link set klp1 netns ${a1}
ip -n ${ax} link set klp2 netns ${a2}
ip -n ${a1} addr add 10.4.0.1 peer 10.4.0.2/32 dev klp1
ip -n ${a2} addr add 10.4.0.2 peer 10.4.0.1/32 dev klp2
ip -n ${a1} link set klp1 mtu 1420 up
ip -n ${a2} link set klp2 mtu 1420 up
until ip netns exec ${a1} ping -n -c 1 -W 0.2 10.4.0.2 >/dev/null; do :; done
t1=$(date +%s%N)
ip -n ${a1} link del klp1
ip -n ${a2} link del klp2
echo $(( (t1 - t0) / 1000 ))
`;
}

async function peerOnce(inst: KernelInstance): Promise<number> {
  const { guest, names } = inst.options;
  const script = peerScript(guest.agentxNetns, names.containers.agent1, names.containers.agent2);
  const r = await inst.node.exec(["timeout", String(TIMEOUT_MS / 1000), "bash", "-c", script]);
  if (r.code !== 0) throw new Error(`peer script: exit ${r.code}: ${r.stderr.trim()}`);
  return Number(r.stdout.trim()) / 1e6;
}

/** Seconds per run of the kernel lab: ours (apply to first ping), ours without kubectl's own time, the peer's. */
interface KernelRuns {
  ours: number[];
  afterApply: number[];
  peer: number[];
  traces: Map<string, number>[];
  bootS: number;
}

/** Boots the kernel lab node, then one warm-up and `runs` of ours and of the peer. */
async function measureKernel(kubeconfig: string, namespace: string, server: string, runs: number): Promise<KernelRuns> {
  await sweepKernelInstances(PREFIX);
  const o = kernelInstance(`/run/dn42op/${namespace}`, namespace, kubeconfig, server);
  try {
    const t0 = performance.now();
    const inst = await kernelInstanceUp(o, { lifetimeS: 3600 });
    const bootS = (performance.now() - t0) / 1000;
    console.log(
      `kernel: guest up with controllers started in ${bootS.toFixed(1)} s (Linux ${inst.node.hello.release})`,
    );
    const offsetMs = await guestClockOffset(inst);
    console.log(`kernel: guest clock ${offsetMs.toFixed(0)} ms ahead of the host's`);
    const warm = await oursOnce(inst, offsetMs, WARM_UP_TIMEOUT_MS);
    console.log(`kernel warm-up: ${warm.total.toFixed(2)} s (not counted; the controllers were still starting)`);
    const r: KernelRuns = { ours: [], afterApply: [], peer: [], traces: [], bootS };
    for (let i = 1; i <= runs; i++) {
      const one = await oursOnce(inst, offsetMs);
      r.ours.push(one.total);
      r.afterApply.push(one.total - one.apply);
      r.traces.push(one.trace);
      console.log(
        `kernel ours run ${i}: ${one.total.toFixed(2)} s to the first ping (kubectl apply ${one.apply.toFixed(2)} s)`,
      );
    }
    for (let i = 1; i <= runs; i++) {
      r.peer.push(await peerOnce(inst));
      console.log(`kernel peer run ${i}: ${r.peer[i - 1].toFixed(2)} s to the first ping (by hand: ip, wg)`);
    }
    return r;
  } finally {
    await deleteExamples(kubeconfig, PLAN, o.names).catch(() => {});
    await kernelInstanceDown(o);
  }
}

/** p50/p90 of ours and the peer's (s, rounded to 10 ms), the p50 ratio (ours / peer), each phase's median (ms). */
function kernelFigures(r: KernelRuns, namespace: string) {
  const r2 = (x: number) => Number(x.toFixed(2));
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const [ours, afterApply, peer] = [sorted(r.ours), sorted(r.afterApply), sorted(r.peer)];
  const phases = medianTrace(r.traces);
  const split = r.traces.map(splitRun).filter((x) => x !== undefined);
  const p50 = (xs: number[]) => percentile(sorted(xs), 50);
  return {
    runs: ours.length,
    p50_s: r2(percentile(ours, 50)),
    p90_s: r2(percentile(ours, 90)),
    p50_after_apply_s: r2(percentile(afterApply, 50)),
    peer_p50_s: r2(percentile(peer, 50)),
    peer_p90_s: r2(percentile(peer, 90)),
    ratio_p50: r2(percentile(ours, 50) / percentile(peer, 50)),
    kubectl_to_plan_p50_s: Number(p50(split.map((x) => x.toPlan)).toFixed(3)),
    operator_p50_s: Number(p50(split.map((x) => x.operator)).toFixed(3)),
    operator_ratio_p50: r2(p50(split.map((x) => x.operator)) / percentile(peer, 50)),
    phases_p50_ms: Object.fromEntries([...phases].map(([l, ms]) => [l.replace(`${namespace}/`, ""), ms])),
  };
}

/** bench:converge (userspace) as it is, its output shown as it comes; the figures of its JSON line. */
async function userspaceFigures(runs: number): Promise<Record<string, unknown>> {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const r = await stream([Deno.execPath(), "run", "-A", main, "--runs", String(runs)]);
  // its JSON line, the last one of its figures (a note on where its logs went may follow)
  const json = r.output.split("\n").findLast((l) => l.startsWith("{"));
  if (r.code !== 0 || !json) throw new Error(`bench:converge (userspace) failed: exit ${r.code}`);
  return JSON.parse(json);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "10" }, "skip-userspace": { type: "boolean", default: false } },
  });
  const runs = Number(values.runs);
  if (!(runs >= 1)) throw new TypeError(`--runs ${values.runs}: expected a positive integer`);
  const loadBefore = await loadavg();
  const userspace = values["skip-userspace"] ? null : await userspaceFigures(runs);
  await withNamespace(async (k) => {
    const kr = await measureKernel(k.kubeconfigPath, k.namespace, k.server, runs);
    const kernel = kernelFigures(kr, k.namespace);
    const loadAfter = await loadavg();
    console.log("\nkernel convergence trace: each phase's median, ms after kubectl apply started");
    for (const [label, ms] of Object.entries(kernel.phases_p50_ms)) {
      console.log(`  ${String(ms).padStart(7)}  ${label}`);
    }
    console.log(
      `kernel WireGuard, qemu TCG guest: ours p50 ${kernel.p50_s} s p90 ${kernel.p90_s} s; peer p50 ` +
        `${kernel.peer_p50_s} s p90 ${kernel.peer_p90_s} s; ratio (ours/peer) p50 ${kernel.ratio_p50}; kubectl apply ` +
        `until the plan controller has the plan p50 ${kernel.kubectl_to_plan_p50_s} s, from there to the first ping ` +
        `p50 ${kernel.operator_p50_s} s = ${kernel.operator_ratio_p50}x the peer's whole run`,
    );
    if (userspace) {
      console.log(
        `userspace WireGuard (wireguard-go), this host: ours p50 ${userspace.p50_s} s p90 ${userspace.p90_s} s; ` +
          `peer p50 ${userspace.peer_p50_s} s p90 ${userspace.peer_p90_s} s; ratio (ours/peer) p50 ${userspace.ratio_p50}`,
      );
    }
    console.log(`host load ${loadBefore} → ${loadAfter}`);
    console.log(JSON.stringify({
      kernel,
      userspace,
      kernel_vs_userspace_p50: userspace ? Number((kernel.p50_s / Number(userspace.p50_s)).toFixed(2)) : null,
      guest_boot_s: Number(kr.bootS.toFixed(1)),
      emulation: "tcg",
      loadavg_before: loadBefore,
      loadavg_after: loadAfter,
    }));
  }, { prefix: PREFIX });
}
