/**
 * Where one WireGuard device read spends its time, read after read in one process: the genetlink dump (send, the
 * receives — FFI recv + copy + message split — and the waits for the kernel) and the decode into the model, next
 * to `wg show dump` and a bare process start (`true`) in the same namespace. The first read of the process is the
 * cold one (module code not yet compiled by the JIT); later ones are warm.
 *
 * Standalone (kernel tier: `deno task kernel:run -- run --no-check -A --cached-only bench/wireguard/read_profile.ts`):
 * sets up a device with --peers peers and prints the table and one JSON line.
 */
import { parseArgs } from "node:util";
import { type Message, type NetlinkSocket, Netns } from "../../src/netlink/mod.ts";
import { decodeGetDevice, encodeGetDevice, WG_GENL_NAME } from "../../src/wireguard/genl_codec.ts";
import type { TestNetns } from "../../kit/netns.ts";

/** Figures of one read. */
export interface ReadSample {
  totalMs: number;
  dumpMs: number;
  decodeMs: number;
  recvCalls: number;
  recvMs: number;
  waits: number;
  waitMs: number;
  messages: number;
}

/** Counts and times `receiveNow` and `waitReadable` of `sock` (instance overrides; `reset()` zeroes them). */
function instrument(sock: NetlinkSocket) {
  const c = { recvCalls: 0, recvMs: 0, waits: 0, waitMs: 0 };
  const recv = sock.receiveNow.bind(sock);
  const wait = sock.waitReadable.bind(sock);
  sock.receiveNow = (op?: string) => {
    const t = performance.now();
    try {
      return recv(op);
    } finally {
      c.recvMs += performance.now() - t;
      c.recvCalls++;
    }
  };
  sock.waitReadable = async (ms: number) => {
    const t = performance.now();
    try {
      return await wait(ms);
    } finally {
      c.waitMs += performance.now() - t;
      c.waits++;
    }
  };
  return { counters: c, reset: () => Object.assign(c, { recvCalls: 0, recvMs: 0, waits: 0, waitMs: 0 }) };
}

/** `n` reads of `dev` through `handle`'s genl socket, each split into dump and decode. */
export async function profileReads(handle: Netns, dev: string, n: number): Promise<ReadSample[]> {
  const family = await handle.families.get(WG_GENL_NAME);
  const probe = instrument(handle.generic);
  const out: ReadSample[] = [];
  for (let i = 0; i < n; i++) {
    probe.reset();
    const t0 = performance.now();
    const messages: Message[] = await handle.generic.dump(encodeGetDevice(family.id, { name: dev }), "profile read");
    const t1 = performance.now();
    const device = decodeGetDevice(messages);
    const t2 = performance.now();
    if (device.peers.length === 0) throw new Error("profile read: no peers");
    out.push({ totalMs: t2 - t0, dumpMs: t1 - t0, decodeMs: t2 - t1, messages: messages.length, ...probe.counters });
  }
  return out;
}

/** Wall ms of `n` runs of `argv` in `ns`. */
export async function timeCommand(ns: TestNetns, argv: string[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await ns.run(...argv);
    out.push(performance.now() - t);
  }
  return out;
}

const r1 = (x: number) => +x.toFixed(1);

/** Human table lines of {@link profileReads} samples. */
export function formatSamples(samples: ReadSample[]): string[] {
  return samples.map((s, i) =>
    `read ${i + 1}${i === 0 ? " (cold)" : ""}: ${r1(s.totalMs)} ms = dump ${r1(s.dumpMs)} ms (${s.messages} msgs; ` +
    `${s.recvCalls} recv ${r1(s.recvMs)} ms, ${s.waits} waits ${r1(s.waitMs)} ms) + decode ${r1(s.decodeMs)} ms`
  );
}

if (import.meta.main) {
  const { openWireGuard } = await import("../../src/wireguard/client.ts");
  const { generatePrivateKey } = await import("../../src/wireguard/key.ts");
  const { createNetns, deleteNetns } = await import("../../kit/netns.ts");
  const { benchPeers } = await import("./peers.ts");
  const { values } = parseArgs({
    args: Deno.args,
    options: { peers: { type: "string", default: "10000" }, reads: { type: "string", default: "8" } },
  });
  const ns = await createNetns("nk");
  const handle = Netns.byPath(ns.path, ns.name);
  try {
    await ns.ip("link", "add", "wgr0", "type", "wireguard");
    const client = openWireGuard(handle, { backend: "kernel" });
    const tSet = performance.now();
    await client.apply("wgr0", {
      privateKey: await generatePrivateKey(),
      listenPort: 51820,
      peers: benchPeers(Number(values.peers)),
    });
    console.log(`set ${values.peers} peers: ${r1(performance.now() - tSet)} ms`);
    const samples = await profileReads(handle, "wgr0", Number(values.reads));
    for (const l of formatSamples(samples)) console.log(l);
    const wg = await timeCommand(ns, ["wg", "show", "wgr0", "dump"], 5);
    const bare = await timeCommand(ns, ["true"], 5);
    console.log(`wg show dump: ${wg.map(r1).join(", ")} ms; bare process start (true): ${bare.map(r1).join(", ")} ms`);
    const warm = samples.slice(1);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    console.log(JSON.stringify({
      read_cold_ms: r1(samples[0].totalMs),
      read_warm_ms: r1(med(warm.map((s) => s.totalMs))),
      dump_warm_ms: r1(med(warm.map((s) => s.dumpMs))),
      decode_cold_ms: r1(samples[0].decodeMs),
      decode_warm_ms: r1(med(warm.map((s) => s.decodeMs))),
      wg_read_cold_ms: r1(wg[0]),
      wg_read_warm_ms: r1(med(wg.slice(1))),
      process_start_ms: r1(med(bare)),
    }));
  } finally {
    handle.close();
    await deleteNetns(ns);
  }
}
