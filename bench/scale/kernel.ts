/**
 * `deno task bench:scale:kernel`: what the NODE LAYER of a bench:scale cold start costs per device on the KERNEL
 * WireGuard backend, without Kubernetes. This host has no WireGuard module (bench:scale runs one wireguard-go per
 * device); the qemu kernel tier has it but runs no API server. So this boots the tier (a real Debian kernel under
 * QEMU TCG emulation: no KVM, absolute figures are pessimistic) and runs kernel_guest.ts there: N devices shaped like
 * bench:scale's objects created from scratch through WgNode.ensure with the wg-controller's default worker count,
 * one steady ensure pass, and a peer from the same guest run (ip + wg(8) shells) building the same N devices, with
 * one device of each compared for equality. Compare ours with the peer's (the ratio), not with host figures.
 *
 * The keys are made here (X25519 under TCG is slow and not what is measured) and handed over in a file under the
 * repository's .out/ (the guest sees the repository read-only), removed afterwards.
 *
 * The last line is one JSON object: the guest's figures plus `guest_boot_s`, `guest_run_s`, `emulation: "tcg"` and
 * the host's 1-minute load average before and after (`host_load_before`, `host_load_after`).
 *
 * Usage: deno task bench:scale:kernel [--count N (1000)] [--workers W (the wg-controller's default)] [--skip-peer]
 *                                     [--timeout SECONDS]
 */
import { parseArgs } from "node:util";
import { REPO } from "../../scripts/kernel/tier.ts";
import { WG_CONTROLLER_FLAGS } from "../../src/cmd/wg-controller.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { benchInGuest } from "../guest_bench.ts";
import type { ScaleKey } from "./spec.ts";

const GUEST = "bench/scale/kernel_guest.ts";
const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "1000" },
    workers: { type: "string", default: String(WG_CONTROLLER_FLAGS["num-workers"].default) },
    "skip-peer": { type: "boolean", default: false },
    timeout: { type: "string" },
  },
});
const N = Number(values.count);
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

await Deno.mkdir(`${REPO}/.out/kernel-tier`, { recursive: true });
const keyFile = await Deno.makeTempFile({ dir: `${REPO}/.out/kernel-tier`, prefix: "scale-keys-", suffix: ".json" });
const loadBefore = await load1();
let bench;
try {
  await Deno.writeTextFile(keyFile, JSON.stringify(keys));
  const args = [`--keys=${keyFile}`, `--count=${N}`, `--workers=${values.workers}`];
  if (values["skip-peer"]) args.push("--skip-peer");
  bench = await benchInGuest("bench:scale:kernel", GUEST, args, timeoutS * 1000);
} finally {
  await Deno.remove(keyFile).catch(() => {});
}
const loadAfter = await load1();
const { run, figures: guest } = bench;
const vsPeer = guest.peer_cold_start_s === null
  ? "no peer run"
  : `peer ${guest.peer_cold_start_s} s, ratio ${guest.ratio}`;
console.log(
  `node layer only (no Kubernetes), kernel WireGuard under QEMU TCG, ${N} devices: ours ${guest.kernel_cold_start_s} ` +
    `s, ${vsPeer}; guest boot ${run.timings.boot} s; host load ${loadBefore} → ${loadAfter}`,
);
console.log(JSON.stringify({
  ...guest,
  guest_boot_s: run.timings.boot,
  guest_run_s: run.timings.run,
  emulation: "tcg",
  host_load_before: loadBefore,
  host_load_after: loadAfter,
}));
