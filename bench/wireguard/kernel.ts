/**
 * `deno task bench:wireguard:kernel`: bench:wireguard on the kernel backend. Boots the qemu kernel tier (a real
 * Debian kernel with the WireGuard module, under TCG emulation), runs bench.ts there, and adds the host-side decode
 * time of the 10k-peer dump the guest's kernel produced (`decode_10k_ms`, captured in the guest, decoded here: the
 * part of the read that is our code, without the emulation's slowdown).
 *
 * TCG makes absolute kernel figures pessimistic; compare ours with wg(8)'s from the same run (the ratios). The last
 * line is one JSON object: the guest's figures plus `decode_10k_ms`, `decode_source` and `guest_boot_s`.
 *
 * Usage: deno run -A bench/wireguard/kernel.ts [--timeout SECONDS] [--peers N]
 */
import { parseArgs } from "node:util";
import { parseMessages } from "../../src/netlink/mod.ts";
import { guestDeno, prepareGuest, runInGuest, writeAll } from "../../scripts/kernel/guest.ts";
import { sh } from "../../scripts/kernel/sh.ts";
import { kernelCacheDir, REPO } from "../../scripts/kernel/tier.ts";
import { benchDecode } from "./dump.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { timeout: { type: "string", default: "1800" }, peers: { type: "string", default: "10000" } },
});
const CAPTURE = "dump.b64";

// The guest type-checks about 20x slower than the host: check here, run there with --no-check.
await sh([guestDeno(REPO), "check", "bench/wireguard/bench.ts"], { cwd: REPO });
const abort = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => abort.abort());
await Deno.mkdir(`${REPO}/.out/kernel-tier`, { recursive: true });
let output = "";
const dec = new TextDecoder();
const run = await runInGuest({
  repo: REPO,
  denoArgs: [
    "run",
    "--no-check",
    "-A",
    "--cached-only",
    "bench/wireguard/bench.ts",
    `--peers=${values.peers}`,
    `--capture=/run/out/${CAPTURE}`,
  ],
  env: { NO_COLOR: "1" },
  timeoutMs: Number(values.timeout) * 1000,
  guest: await prepareGuest(kernelCacheDir()),
  consoleLog: `${REPO}/.out/kernel-tier/bench-wireguard-console.log`,
  output: (chunk) => {
    writeAll(Deno.stdout, chunk);
    output += dec.decode(chunk, { stream: true });
  },
  signal: abort.signal,
});
const line = output.split(/\r?\n/).map((l) => l.trim()).findLast((l) => l.startsWith("{") && l.endsWith("}"));
const capture = run.files.get(CAPTURE);
if (run.exitCode !== 0 || !line || capture === undefined) {
  console.error(`bench:wireguard:kernel: the guest run failed (exit ${run.exitCode}; see the console above)`);
  Deno.exit(1);
}
const guest = JSON.parse(line) as Record<string, unknown>;
if (guest.backend !== "kernel") throw new Error(`the guest measured the ${guest.backend} backend`);

const messages = parseMessages(Uint8Array.fromBase64(capture.trim()), "captured dump");
const fig = benchDecode(messages);
if (fig.peers !== Number(values.peers)) throw new Error(`decoded ${fig.peers} peers from the captured dump`);
console.log(`decode alone on the host (captured dump, ${fig.messages} messages, ${fig.bytes} bytes): ${fig.ms} ms`);
console.log(JSON.stringify({
  ...guest,
  decode_10k_ms: fig.ms,
  decode_source: "captured",
  guest_boot_s: run.timings.boot,
}));
