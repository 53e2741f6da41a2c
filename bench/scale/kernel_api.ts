/**
 * bench:scale:kernel through the API server: N WireGuardInterfaces shaped like bench:scale's (bench/scale/spec.ts)
 * applied with kubectl on the host, then a wg-controller for node `bench` started in the kernel lab's qemu guest
 * (lab/kernel/: Debian's kernel with the WireGuard module, the API server reached through QEMU's forward to the
 * host); cold_start_s runs from that start to every object Ready with observedGeneration = generation, observed on
 * the host through a watch (bench/scale/ready.ts). Then the guest's container namespace must hold N WireGuard links.
 *
 * Peer (same guest run, same N, names, ports, keys and end state, in a pair of namespaces of its own): one shell per
 * device with ip and wg(8) (bench/scale/peer.ts), as many in parallel as the controller's workers, timed in the
 * guest; one device of each side is compared (kind, MTU, flags, addresses, `wg showconf`).
 *
 * Under emulation (TCG) everything in the guest is ~20x slower than on a host: compare ours with the peer's.
 */
import { stringify } from "yaml";
import { GUEST_NETNS_PREFIX, kernelInstance } from "../../lab/kernel/instance.ts";
import { KernelNode } from "../../lab/kernel/node.ts";
import { kubectl } from "../../lab/scenario.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/kube/informer.ts";
import type { NamespaceContext } from "../../kit/cluster.ts";
import { peerDeviceScript, peerLines } from "./peer.ts";
import { allReady, dropFinalizers, WGI, type Wgi } from "./ready.ts";
import { type ScaleKey, scaleName, scaleSpec } from "./spec.ts";

/** What the API run measured. */
export interface KernelApiFigures {
  backend: "kernel";
  count: number;
  workers: number;
  kernel_cold_start_s: number;
  peer_cold_start_s: number | null;
  ratio: number | null;
  checked_equal: boolean;
  guest_boot_s: number;
  apply_s: number;
}

const CONTAINER = "bench";

/** The N objects as one YAML stream for `kubectl apply`. */
function objects(kk: readonly ScaleKey[], namespace: string, ctrNetns: string): string {
  return kk.map((_, x) =>
    stringify({
      apiVersion: "networking.dn42.io/v1alpha1",
      kind: "WireGuardInterface",
      metadata: { name: `w${x}`, namespace },
      spec: scaleSpec(x, kk, ctrNetns, scaleName(x)),
    })
  ).join("---\n");
}

const PEER_HOST = `${GUEST_NETNS_PREFIX}peer-h`;
const PEER_CONTAINER = `${GUEST_NETNS_PREFIX}peer-c`;

/** The peer in the guest: its namespaces, then all devices by xargs; microseconds on stdout. */
function peerRun(workers: number): string {
  const [ph, pc] = [PEER_HOST, PEER_CONTAINER];
  return `set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
ip netns add ${ph}; ip netns add ${pc}
cat > "$d/one.sh" <<'ONE'
${peerDeviceScript(ph, pc, '"$D"')}
ONE
export D="$d"
t0=$(date +%s%N)
xargs -P ${workers} -L 1 sh "$d/one.sh"
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000 ))
`;
}

/** Link facts and `wg showconf` of `dev` in a guest namespace; equal between ours and the peer's but for the mark. */
async function facts(node: KernelNode, netns: string, dev: string) {
  const link = JSON.parse((await node.exec(["ip", "-j", "-d", "link", "show", "dev", dev], netns)).stdout)[0];
  const addr = JSON.parse((await node.exec(["ip", "-j", "addr", "show", "dev", dev], netns)).stdout)[0];
  return {
    link: {
      kind: link.linkinfo?.info_kind,
      mtu: link.mtu,
      flags: [...link.flags].sort(),
      addresses: (addr.addr_info as Record<string, unknown>[]).map((a) => `${a.local} ${a.address} /${a.prefixlen}`),
    },
    showconf: (await node.exec(["wg", "showconf", dev], netns)).stdout,
  };
}

async function wireguardLinks(node: KernelNode, netns: string): Promise<number> {
  const r = await node.exec(["ip", "-o", "link", "show", "type", "wireguard"], netns);
  return r.stdout.split("\n").filter(Boolean).length;
}

/** Runs the measurement against namespace `k` (a fresh one) with `kk.length` devices. */
export async function kernelApiScale(
  k: NamespaceContext,
  kk: readonly ScaleKey[],
  workers: number,
  skipPeer: boolean,
  limitS: number,
): Promise<KernelApiFigures> {
  const n = kk.length;
  const o = kernelInstance(`/run/dn42op/${k.namespace}`, k.namespace, k.kubeconfigPath, k.server);
  const ctrNetns = `${GUEST_NETNS_PREFIX}${CONTAINER}`;
  const client = new KubeClient(k.kc);
  const t0 = performance.now();
  const node = await KernelNode.boot({ stateDir: `${o.stateDir}/node`, apiPort: Number(new URL(k.server).port) });
  const bootS = (performance.now() - t0) / 1000;
  try {
    await Deno.copyFile(k.kubeconfigPath, `${node.out}/kubeconfig`);
    const up = {
      topology: { ...o.guest, containers: [CONTAINER] },
      kubeconfig: node.guestPath("kubeconfig"),
      server: k.server,
      namespace: k.namespace,
      nodes: [] as string[],
      apiDial: node.apiDial,
    };
    await node.call("up", up, 600_000);
    console.log(`guest up in ${bootS.toFixed(1)} s (Linux ${node.hello.release}); applying ${n} objects ...`);
    const ta = performance.now();
    const r = await kubectl(k.kubeconfigPath, ["apply", "-f", "-"], objects(kk, k.namespace, ctrNetns));
    if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr.trim()}`);
    const applyS = (performance.now() - ta) / 1000;
    console.log(`kubectl apply of ${n} WireGuardInterfaces: ${applyS.toFixed(1)} s`);

    const informer = new Informer<Wgi>(client, { resource: WGI, namespace: k.namespace, name: "bench readiness" });
    const tc = performance.now();
    await node.call("controllers", { ...up, nodes: ["bench"], nodePrograms: ["wg-controller"], verbosity: 0 }, 600_000);
    try {
      await allReady(informer, n, tc, limitS);
    } finally {
      await informer.stop();
    }
    const coldS = (performance.now() - tc) / 1000;
    const links = await wireguardLinks(node, ctrNetns);
    if (links !== n) throw new Error(`${links} WireGuard links in ${ctrNetns}, expected ${n}`);
    console.log(`ours: ${n} WGIs Ready ${coldS.toFixed(1)} s after the wg-controller started in the guest`);

    let peerS: number | null = null;
    let equal = false;
    if (!skipPeer) {
      const probe = scaleName(n >> 1);
      const ours = await facts(node, ctrNetns, probe);
      await node.call("down", {}, 600_000); // our controller and namespaces out of the way, as in a fresh guest
      console.log(`peer: ${n} devices with ip + wg in the guest, ${workers} shells in parallel ...`);
      const p = await node.call<{ code: number; stdout: string; stderr: string }>("exec", {
        argv: ["bash", "-c", peerRun(workers)],
        stdin: peerLines(kk, scaleName),
      }, limitS * 1000);
      if (p.code !== 0) throw new Error(`peer: exit ${p.code}: ${p.stderr.slice(0, 400)}`);
      peerS = Number(p.stdout.trim()) / 1e6;
      console.log(`peer: ${peerS.toFixed(1)} s`);
      const theirs = await facts(node, PEER_CONTAINER, probe);
      if (JSON.stringify(ours.link) !== JSON.stringify(theirs.link)) {
        throw new Error(`${probe} differs: ours ${JSON.stringify(ours.link)}, peer ${JSON.stringify(theirs.link)}`);
      }
      // Key material is never printed: a difference is reported by line numbers only.
      const [a, b] = [ours.showconf.split("\n"), theirs.showconf.split("\n")];
      const diff = a.flatMap((l, i) => l === b[i] ? [] : [i + 1]);
      if (diff.length || a.length !== b.length) {
        throw new Error(`${probe}: wg showconf differs (lines ${diff.join(", ")})`);
      }
      console.log(`same end state: ${probe} ${JSON.stringify(ours.link)}; wg showconf identical`);
      equal = true;
    }
    return {
      backend: "kernel",
      count: n,
      workers,
      kernel_cold_start_s: +coldS.toFixed(2),
      peer_cold_start_s: peerS === null ? null : +peerS.toFixed(2),
      ratio: peerS === null ? null : +(coldS / peerS).toFixed(2),
      checked_equal: equal,
      guest_boot_s: +bootS.toFixed(1),
      apply_s: +applyS.toFixed(1),
    };
  } finally {
    await dropFinalizers(client, k.namespace).catch((e) => console.log(`bench:scale:kernel: cleanup: ${e}`));
    client.close();
    await node.shutdown();
    await Deno.remove(o.stateDir, { recursive: true }).catch(() => {});
  }
}
