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
 * Also in the same run, before the guest boots: bench:converge's userspace figure (wireguard-go, podman containers,
 * bench/converge/main.ts) on this host, so the two backends are compared on one machine at one load. Emulation
 * (TCG, no KVM) makes the guest ~20x slower: compare ratios, not absolute times.
 *
 *   deno task bench:converge:kernel [--runs 10] [--skip-userspace]
 *
 * Last line: {"kernel": {runs, p50_s, p90_s, p50_after_apply_s, peer_p50_s, peer_p90_s, ratio_p50}, "userspace":
 * {the same, or null}, "kernel_vs_userspace_p50", "guest_boot_s", "emulation": "tcg", "loadavg_before",
 * "loadavg_after"}.
 */
import { parseArgs } from "node:util";
import {
  type KernelInstance,
  kernelInstance,
  kernelInstanceDown,
  kernelInstanceUp,
  sweepKernelInstances,
} from "../../lab/kernel/instance.ts";
import { applyExamples, deleteExamples } from "../../lab/scenario.ts";
import { withNamespace } from "../../tests/helpers/cluster.ts";
import { convergeFigures, type ConvergeRuns, measureUserspace } from "./main.ts";

const PREFIX = "dn42op-kl-bc-";
const PLAN = ["example/wgp/wgp1.yaml"];
/** Bound on one convergence under emulation. */
const TIMEOUT_MS = 300_000;

async function loadavg(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
}

async function linkGone(inst: KernelInstance, where: "agent1" | "agent2", dev: string): Promise<boolean> {
  return (await inst.inNetns(where, ["ip", "link", "show", "dev", dev])).code !== 0;
}

/** One run of ours: apply, first ping (awaited in the guest), delete, wait clean. Seconds to the ping, of the apply. */
async function oursOnce(inst: KernelInstance): Promise<{ total: number; apply: number }> {
  const { kubeconfig, names } = inst.options;
  const t0 = performance.now();
  await applyExamples(kubeconfig, PLAN, names);
  const apply = (performance.now() - t0) / 1000;
  const ping = { netns: names.containers.agent1, target: "10.4.0.2", timeoutMs: TIMEOUT_MS };
  await inst.node.call("pingUntil", ping, TIMEOUT_MS + 10_000);
  const total = (performance.now() - t0) / 1000;
  await deleteExamples(kubeconfig, PLAN, names);
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await linkGone(inst, "agent1", "wg-lax1-lax2-0") && await linkGone(inst, "agent2", "wg-lax2-lax1-0"))) {
    if (Date.now() > deadline) throw new Error("the plan's links did not go away after delete");
  }
  return { total, apply };
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

/** Boots the kernel lab node, then one warm-up and `runs` of ours and of the peer. */
async function measureKernel(
  kubeconfig: string,
  namespace: string,
  server: string,
  runs: number,
): Promise<ConvergeRuns & { bootS: number }> {
  await sweepKernelInstances(PREFIX);
  const o = kernelInstance(`/run/dn42op/${namespace}`, namespace, kubeconfig, server);
  try {
    const t0 = performance.now();
    const inst = await kernelInstanceUp(o, { lifetimeS: 3600 });
    const bootS = (performance.now() - t0) / 1000;
    console.log(
      `kernel: guest up with controllers started in ${bootS.toFixed(1)} s (Linux ${inst.node.hello.release})`,
    );
    const warm = await oursOnce(inst);
    console.log(`kernel warm-up: ${warm.total.toFixed(2)} s (not counted; the controllers were still starting)`);
    const ours: number[] = [];
    const afterApply: number[] = [];
    for (let i = 1; i <= runs; i++) {
      const r = await oursOnce(inst);
      ours.push(r.total);
      afterApply.push(r.total - r.apply);
      console.log(
        `kernel ours run ${i}: ${r.total.toFixed(2)} s to the first ping (kubectl apply ${r.apply.toFixed(2)} s)`,
      );
    }
    const peer: number[] = [];
    for (let i = 1; i <= runs; i++) {
      peer.push(await peerOnce(inst));
      console.log(`kernel peer run ${i}: ${peer[i - 1].toFixed(2)} s to the first ping (by hand: ip, wg)`);
    }
    const up = (a: number[]) => a.sort((x, y) => x - y);
    return { ours: up(ours), afterApply: up(afterApply), peer: up(peer), bootS };
  } finally {
    await deleteExamples(kubeconfig, PLAN, o.names).catch(() => {});
    await kernelInstanceDown(o);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "10" }, "skip-userspace": { type: "boolean", default: false } },
  });
  const runs = Number(values.runs);
  if (!(runs >= 1)) throw new TypeError(`--runs ${values.runs}: expected a positive integer`);
  const loadBefore = await loadavg();
  await withNamespace(async (k) => {
    const userspace = values["skip-userspace"] ? null : convergeFigures(await measureUserspace(k, runs));
    const kr = await measureKernel(k.kubeconfigPath, k.namespace, k.server, runs);
    const kernel = convergeFigures(kr);
    const loadAfter = await loadavg();
    const line = (name: string, f: ReturnType<typeof convergeFigures>) =>
      `${name}: ours p50 ${f.p50_s} s p90 ${f.p90_s} s; peer p50 ${f.peer_p50_s} s p90 ${f.peer_p90_s} s; ` +
      `ratio (ours/peer) p50 ${f.ratio_p50}`;
    console.log(line("kernel WireGuard, qemu TCG guest", kernel));
    if (userspace) console.log(line("userspace WireGuard (wireguard-go), this host", userspace));
    console.log(`host load ${loadBefore} → ${loadAfter}`);
    console.log(JSON.stringify({
      kernel,
      userspace,
      kernel_vs_userspace_p50: userspace ? Number((kernel.p50_s / userspace.p50_s).toFixed(2)) : null,
      guest_boot_s: Number(kr.bootS.toFixed(1)),
      emulation: "tcg",
      loadavg_before: loadBefore,
      loadavg_after: loadAfter,
    }));
  }, { prefix: PREFIX });
}
