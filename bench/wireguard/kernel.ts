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
import { benchInGuest } from "../guest_bench.ts";
import { benchDecode } from "./dump.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { timeout: { type: "string", default: "1800" }, peers: { type: "string", default: "10000" } },
});
const CAPTURE = "dump.b64";

const { run, figures: guest } = await benchInGuest(
  "bench:wireguard:kernel",
  "bench/wireguard/bench.ts",
  [`--peers=${values.peers}`, `--capture=/run/out/${CAPTURE}`],
  Number(values.timeout) * 1000,
);
const capture = run.files.get(CAPTURE);
if (capture === undefined) throw new Error(`bench:wireguard:kernel: the guest left no ${CAPTURE}`);

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
