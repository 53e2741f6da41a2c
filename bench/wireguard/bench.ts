/**
 * `deno task bench:wireguard`: set 10,000 peers with 2 allowed IPs each on one device and read them back, ours vs
 * `wg setconf` / `wg show dump` (wireguard-tools) in the same run, inside a throwaway network namespace.
 *
 * Backend: the kernel one if this kernel has WireGuard (qemu kernel tier), else wireguard-go (this host); the
 * output says which. "set" is our full apply (read device, diff, send). "read" is one device read decoded into the
 * model: five in a row for both tools, the first reported as cold and the median of the others as warm
 * (`read_10k_ms`); on the kernel backend three more reads are split into the genetlink dump and the decode
 * (read_profile.ts). Sets run `--rounds` times each on fresh devices, alternating who goes first, and the best of
 * each counts (this machine is shared and noisy); the CPU split (user = our code, sys = the kernel's work in our
 * syscalls) says where the time went. `decode_10k_ms` is the host-side decode of a 10k-peer dump alone (dump.ts):
 * the kernel's dump of our device on the kernel backend, a synthetic one in the kernel's layout on the userspace
 * backend. With `--capture FILE` (kernel backend; kernel.ts runs this in the qemu tier) the dump is written to FILE
 * as base64 instead of being decoded here. The last line is one JSON object.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type Message, Netns } from "../../src/netlink/mod.ts";
import type { BackendKind } from "../../src/wireguard/backend.ts";
import { openWireGuard } from "../../src/wireguard/client.ts";
import { encodeGetDevice, WG_GENL_NAME } from "../../src/wireguard/genl_codec.ts";
import { generatePrivateKey } from "../../src/wireguard/key.ts";
import type { DeviceConfig } from "../../src/wireguard/model.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../kit/netns.ts";
import { benchDecode, serializeDump, syntheticDump } from "./dump.ts";
import { benchPeers } from "./peers.ts";
import { formatSamples, profileReads } from "./read_profile.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    peers: { type: "string", default: "10000" },
    capture: { type: "string" },
    rounds: { type: "string", default: "2" },
  },
});
const PEERS = Number(values.peers);

function devName(): string {
  return `wgb${crypto.getRandomValues(new Uint8Array(2)).toHex()}`;
}

/** The same configuration in wg(8) setconf format. */
function wgConf(cfg: DeviceConfig, port: number): string {
  const lines = ["[Interface]", `PrivateKey = ${cfg.privateKey!.toBase64()}`, `ListenPort = ${port}`];
  for (const p of cfg.peers) {
    lines.push(
      "[Peer]",
      `PublicKey = ${p.publicKey}`,
      `Endpoint = ${p.endpoint}`,
      `AllowedIPs = ${p.allowedIps.join(", ")}`,
    );
  }
  return lines.join("\n") + "\n";
}

async function kernelHasWireGuard(ns: TestNetns): Promise<boolean> {
  try {
    await ns.ip("link", "add", "wgprobe0", "type", "wireguard");
    await ns.ip("link", "del", "wgprobe0");
    return true;
  } catch {
    return false;
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

/**
 * `n` timed runs: the first (cold: for our read, the first decode of a large dump in this process, before the JIT
 * has optimised the decoder) and the median of the others (warm).
 */
async function coldWarm<T>(fn: () => Promise<T>, n = 5): Promise<{ last: T; cold: number; warm: number }> {
  const runs: [T, number][] = [];
  for (let i = 0; i < n; i++) runs.push(await timed(fn));
  const warm = runs.slice(1).map((r) => r[1]).sort((a, b) => a - b);
  return { last: runs[n - 1][0], cold: runs[0][1], warm: warm[warm.length >> 1] };
}

/** The raw WG_CMD_GET_DEVICE dump of `dev`, as the kernel sent it. */
async function rawDump(handle: Netns, dev: string): Promise<Message[]> {
  const family = await handle.families.get(WG_GENL_NAME);
  return await handle.generic.dump(encodeGetDevice(family.id, { name: dev }), `wireguard get ${dev}`);
}

/** Runs `fn` and returns its wall time and this process's user and system CPU time (all in seconds). */
/** Wall and CPU seconds of one set. */
interface Timing {
  wall: number;
  user: number;
  sys: number;
}

async function cpuTimed(fn: () => Promise<unknown>): Promise<Timing> {
  const c = process.cpuUsage();
  const t = performance.now();
  await fn();
  const wall = (performance.now() - t) / 1000;
  const d = process.cpuUsage(c);
  return { wall, user: d.user / 1e6, sys: d.system / 1e6 };
}

/** `wg setconf` under bash's `time`: its wall time and its user and system CPU time (the kernel's work included). */
async function wgSetconf(
  ns: TestNetns,
  dev: string,
  conf: string,
): Promise<{ wall: number; user: number; sys: number }> {
  const t = performance.now();
  const out = await ns.run("bash", "-c", 'TIMEFORMAT="%3U %3S"; { time wg setconf "$1" "$2" ; } 2>&1', "-", dev, conf);
  const wall = (performance.now() - t) / 1000;
  const m = /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(out);
  if (!m) throw new Error(`wg setconf: unexpected output ${JSON.stringify(out.slice(-200))}`);
  return { wall, user: Number(m[1]), sys: Number(m[2]) };
}

const ROUNDS = Number(values.rounds);
const ns = await createNetns("wgp");
const handle = Netns.byPath(ns.path, ns.name);
const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wgp-bench-" });
const client = openWireGuard(handle, { userspace: { stateDir } });
const devices: string[] = [];
let backend: BackendKind = "userspace";
const confPath = `${stateDir}/wg.conf`;
try {
  if (await kernelHasWireGuard(ns)) backend = "kernel";
  const device = async () => {
    const name = devName();
    devices.push(name);
    if (backend === "kernel") await ns.ip("link", "add", name, "type", "wireguard");
    else await client.userspace.createDevice(name);
    return name;
  };
  console.log(
    `backend: ${backend}${backend === "userspace" ? " (wireguard-go; this kernel has no WireGuard module)" : ""}`,
  );
  console.log(`peers: ${PEERS} with 2 allowed IPs each; set ${ROUNDS} times each, alternating who goes first`);

  const desired: DeviceConfig = { privateKey: await generatePrivateKey(), listenPort: 51820, peers: benchPeers(PEERS) };
  const oursSets: Timing[] = [];
  const wgSets: Timing[] = [];
  const [ours, theirs] = [await device(), await device()];
  for (let r = 0; r < ROUNDS; r++) {
    const [o, t] = r === 0 ? [ours, theirs] : [await device(), await device()];
    const runOurs = async () => {
      let chose: BackendKind | undefined;
      const want = { ...desired, listenPort: desired.listenPort! + 2 * r }; // one UDP port per device
      oursSets.push(await cpuTimed(async () => chose = (await client.apply(o, want)).backend));
      if (chose !== backend) throw new Error(`client chose ${chose}, expected ${backend}`);
    };
    const runWg = async () => {
      await Deno.writeTextFile(confPath, wgConf(desired, desired.listenPort! + 2 * r + 1), { mode: 0o600 });
      wgSets.push(await wgSetconf(ns, t, confPath));
    };
    if (r % 2 === 0) {
      await runOurs();
      await runWg();
    } else {
      await runWg();
      await runOurs();
    }
    console.log(
      `set round ${r + 1}: ours ${oursSets[r].wall.toFixed(2)} s (cpu user ${oursSets[r].user.toFixed(2)} s, sys ` +
        `${oursSets[r].sys.toFixed(2)} s), wg setconf ${wgSets[r].wall.toFixed(2)} s (user ${wgSets[r].user} s, ` +
        `sys ${wgSets[r].sys} s)`,
    );
  }
  const best = (xs: Timing[]) => xs.reduce((a, b) => (b.wall < a.wall ? b : a));
  const [setBest, wgSetBest] = [best(oursSets), best(wgSets)];

  const read = await coldWarm(() => client.device(ours));
  if (read.last.peers.length !== PEERS) throw new Error(`read back ${read.last.peers.length} peers`);
  const split = backend === "kernel" ? await profileReads(handle, ours, 3) : [];
  for (const l of formatSamples(split)) console.log(`split ${l.replace(" (cold)", "")}`);
  const [again] = await timed(() => client.apply(ours, desired));
  if (again.updates.length !== 0) throw new Error("drift right after apply");
  const wgRead = await coldWarm(() => ns.run("wg", "show", theirs, "dump"));
  const wgPeers = wgRead.last.trim().split("\n").length - 1;
  if (wgPeers !== PEERS) throw new Error(`wg show dump listed ${wgPeers} peers`);

  let decode: Record<string, number | string> = {};
  if (backend === "kernel" && values.capture) {
    const dump = await rawDump(handle, ours);
    await Deno.writeTextFile(values.capture, serializeDump(dump).toBase64());
    console.log(`captured the dump (${dump.length} messages) to ${values.capture}`);
  } else {
    const dump = backend === "kernel" ? await rawDump(handle, ours) : syntheticDump(PEERS);
    const fig = benchDecode(dump);
    if (fig.peers !== PEERS) throw new Error(`decoded ${fig.peers} peers from the dump`);
    decode = { decode_10k_ms: fig.ms, decode_source: backend === "kernel" ? "captured" : "synthetic" };
    console.log(`decode alone (${decode.decode_source} dump, ${fig.messages} messages): ${fig.ms} ms`);
  }

  const s3 = (x: number) => +x.toFixed(3);
  const result = {
    set_10k_s: s3(setBest.wall),
    wg_set_10k_s: s3(wgSetBest.wall),
    set_ratio_vs_wg: +(setBest.wall / wgSetBest.wall).toFixed(2),
    read_10k_ms: +read.warm.toFixed(1),
    wg_read_10k_ms: +wgRead.warm.toFixed(1),
    read_ratio_vs_wg: +(read.warm / wgRead.warm).toFixed(2),
    read_cold_10k_ms: +read.cold.toFixed(1),
    wg_read_cold_10k_ms: +wgRead.cold.toFixed(1),
    ...(split.length ? { read_dump_ms: +split[split.length - 1].dumpMs.toFixed(1) } : {}),
    ...(split.length ? { read_decode_ms: +split[split.length - 1].decodeMs.toFixed(1) } : {}),
    ...decode,
    set_cpu_user_s: s3(setBest.user),
    set_cpu_sys_s: s3(setBest.sys),
    wg_set_cpu_user_s: s3(wgSetBest.user),
    wg_set_cpu_sys_s: s3(wgSetBest.sys),
    set_rounds: ROUNDS,
    backend,
  };
  console.log(
    `set (best of ${ROUNDS}):  ours ${result.set_10k_s} s, wg setconf ${result.wg_set_10k_s} s, ratio ` +
      `${result.set_ratio_vs_wg}`,
  );
  console.log(
    `read (warm: median of 4 after the first): ours ${result.read_10k_ms} ms, wg show dump ${result.wg_read_10k_ms} ms`,
  );
  console.log(
    `read (cold: first in the process): ours ${result.read_cold_10k_ms} ms, wg show dump ${result.wg_read_cold_10k_ms} ms`,
  );
  console.log(JSON.stringify(result));
} finally {
  if (backend === "userspace") {
    for (const d of devices) await client.userspace.deleteDevice(d).catch(() => {});
  }
  handle.close();
  await deleteNetns(ns);
  await Deno.remove(stateDir, { recursive: true });
}
