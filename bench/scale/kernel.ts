/**
 * `deno task bench:scale:kernel`: a wg-controller cold start on the KERNEL WireGuard backend, in a qemu guest
 * booting Debian's kernel (this host has no WireGuard module; TCG emulation, no KVM: compare ours with the peer's
 * from the same guest run, not with host figures).
 *
 * Default: through the API server (bench/scale/kernel_api.ts): N WireGuardInterfaces applied with kubectl on the
 * host, the wg-controller started in the kernel lab's guest, all Ready observed through the API; the peer builds the
 * same N devices with ip + wg in the same guest.
 *
 * --node-layer: the node layer alone, without Kubernetes (bench/scale/kernel_guest.ts in a kernel-tier guest):
 * WgNode.ensure per device with the controller's worker count, one steady pass, and the same peer.
 *
 * The keys are made here (X25519 under TCG is slow and not what is measured). The last line is one JSON object with
 * the host's 1-minute load average before and after (`host_load_before`, `host_load_after`) and `emulation: "tcg"`.
 *
 * Usage: deno task bench:scale:kernel [--count N (API 200, node layer 1000)] [--workers W (the wg-controller's
 *        default)] [--skip-peer] [--timeout SECONDS] [--node-layer]
 */
import { parseArgs } from "node:util";
import { REPO } from "../../scripts/kernel/paths.ts";
import { WG_CONTROLLER_FLAGS } from "../../src/cmd/wg-controller.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { benchInGuest } from "../guest_bench.ts";
import { kernelApiScale } from "./kernel_api.ts";
import type { ScaleKey } from "./spec.ts";

const GUEST = "bench/scale/kernel_guest.ts";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string" },
    workers: { type: "string", default: String(WG_CONTROLLER_FLAGS["num-workers"].default) },
    "skip-peer": { type: "boolean", default: false },
    "node-layer": { type: "boolean", default: false },
    timeout: { type: "string" },
  },
});
const nodeLayer = values["node-layer"];
const N = Number(values.count ?? (nodeLayer ? 1000 : 200));
if (!Number.isInteger(N) || N < 1) throw new Error(`--count: a positive integer, got ${values.count}`);
// TCG: about 0.1-0.5 s per device for each side on a quiet host; generous, a loaded host is several times slower.
const timeoutS = Number(values.timeout ?? 900 + 3 * N);

async function load1(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
}

const keys: ScaleKey[] = [];
for (let i = 0; i < N; i++) {
  const k = await generatePrivateKey();
  keys.push({ priv: k.toBase64(), pub: (await publicKeyOf(k)).toBase64() });
}

/** The node layer alone in a kernel-tier guest; its figures plus the guest's boot and run times. */
async function nodeLayerRun(): Promise<Record<string, unknown>> {
  await Deno.mkdir(`${REPO}/.out/kernel-tier`, { recursive: true });
  const keyFile = await Deno.makeTempFile({ dir: `${REPO}/.out/kernel-tier`, prefix: "scale-keys-", suffix: ".json" });
  try {
    await Deno.writeTextFile(keyFile, JSON.stringify(keys));
    const args = [`--keys=${keyFile}`, `--count=${N}`, `--workers=${values.workers}`];
    if (values["skip-peer"]) args.push("--skip-peer");
    const { run, figures } = await benchInGuest("bench:scale:kernel", GUEST, args, timeoutS * 1000);
    return { ...figures, guest_boot_s: run.timings.boot, guest_run_s: run.timings.run };
  } finally {
    await Deno.remove(keyFile).catch(() => {});
  }
}

const loadBefore = await load1();
const figures = nodeLayer ? await nodeLayerRun() : await withNamespace(
  (k) => kernelApiScale(k, keys, Number(values.workers), values["skip-peer"], timeoutS),
  { prefix: "dn42op-kl-scale-" },
);
const loadAfter = await load1();
const vsPeer = figures.peer_cold_start_s === null
  ? "no peer run"
  : `peer ${figures.peer_cold_start_s} s, ratio ${figures.ratio}`;
console.log(
  `${nodeLayer ? "node layer only (no Kubernetes)" : "through the API server (kubectl apply, Ready watched)"}, ` +
    `kernel WireGuard under QEMU TCG, ${N} devices: ours ${figures.kernel_cold_start_s} s, ${vsPeer}; ` +
    `guest boot ${figures.guest_boot_s} s; host load ${loadBefore} → ${loadAfter}`,
);
console.log(JSON.stringify({
  mode: nodeLayer ? "node-layer" : "api",
  ...figures,
  emulation: "tcg",
  host_load_before: loadBefore,
  host_load_after: loadAfter,
}));
