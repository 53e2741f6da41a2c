/**
 * bench:wireguard's read split on the kernel backend: where one WireGuard device read spends its time, read after read
 * in one process — the genetlink dump (send, the receives: FFI recv + copy + message split, and the waits for the
 * kernel) and the decode into the model. The first read of the process is the cold one (module code not yet compiled
 * by the JIT); later ones are warm.
 */
import { type Message, type NetlinkSocket, Netns } from "../../src/netlink/mod.ts";
import { decodeGetDevice, encodeGetDevice, WG_GENL_NAME } from "../../src/wireguard/genl_codec.ts";

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

const r1 = (x: number) => +x.toFixed(1);

/** Human table lines of {@link profileReads} samples. */
export function formatSamples(samples: ReadSample[]): string[] {
  return samples.map((s, i) =>
    `read ${i + 1}${i === 0 ? " (cold)" : ""}: ${r1(s.totalMs)} ms = dump ${r1(s.dumpMs)} ms (${s.messages} msgs; ` +
    `${s.recvCalls} recv ${r1(s.recvMs)} ms, ${s.waits} waits ${r1(s.waitMs)} ms) + decode ${r1(s.decodeMs)} ms`
  );
}
