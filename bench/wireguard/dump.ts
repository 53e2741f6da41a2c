/**
 * The host-only decode micro-benchmark of bench:wireguard (`decode_10k_ms`): decodes saved WG_CMD_GET_DEVICE dump
 * messages in-process, no kernel involved, so the figure is only our codec's time.
 *
 * The dump is either one captured from a real kernel (the kernel-tier benchmark writes it: every reply message,
 * header included, back to back, the way they came off the socket) or a synthetic one laid out as the kernel's
 * `wg_get_device_dump` lays it out (device attributes repeated in every message, then the peers nest; peer
 * attributes in the kernel's order; messages of about 32 KiB, the kernel's dump skb size for a large receive
 * buffer).
 *
 * Standalone: `deno run -A bench/wireguard/dump.ts [--peers N] [--file DUMP]` prints the figure and a JSON line.
 */
import { parseArgs } from "node:util";
import { genlMessage, type Message, type MessageEncoder, parseMessages } from "../../src/netlink/mod.ts";
import * as wg from "../../src/wireguard/genl_codec.ts";

const FAMILY = 0x20;
const MESSAGE_BYTES = 32 * 1024 - 320; // SKB_WITH_OVERHEAD(32768) on x86-64

/** Bytes of peer `i`'s public key: like bench.ts's peers, index in the first four bytes. */
function peerKey(i: number): Uint8Array {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, i + 1);
  k[31] = 0x42;
  return k;
}

function deviceHead(m: MessageEncoder, privateKey: Uint8Array, publicKey: Uint8Array): void {
  m.u16(wg.WGDEVICE_A_LISTEN_PORT, 51820);
  m.u32(wg.WGDEVICE_A_FWMARK, 0);
  m.u32(wg.WGDEVICE_A_IFINDEX, 3);
  m.string(wg.WGDEVICE_A_IFNAME, "wgb0");
  m.bytes(wg.WGDEVICE_A_PRIVATE_KEY, privateKey);
  m.bytes(wg.WGDEVICE_A_PUBLIC_KEY, publicKey);
}

function peerAttrs(m: MessageEncoder, i: number): void {
  m.bytes(wg.WGPEER_A_PUBLIC_KEY, peerKey(i));
  m.bytes(wg.WGPEER_A_PRESHARED_KEY, new Uint8Array(32));
  m.bytes(wg.WGPEER_A_LAST_HANDSHAKE_TIME, new Uint8Array(16));
  m.u16(wg.WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 0);
  m.u64(wg.WGPEER_A_TX_BYTES, 0);
  m.u64(wg.WGPEER_A_RX_BYTES, 0);
  m.u32(wg.WGPEER_A_PROTOCOL_VERSION, 1);
  const ep = new Uint8Array(16);
  const v = new DataView(ep.buffer);
  v.setUint16(0, wg.AF_INET, true);
  v.setUint16(2, 1024 + (i % 60000), false);
  ep.set([192, 0, 2, (i % 250) + 1], 4);
  m.bytes(wg.WGPEER_A_ENDPOINT, ep);
  m.nested(wg.WGPEER_A_ALLOWEDIPS, () => {
    m.nested(0, () => {
      m.u16(wg.WGALLOWEDIP_A_FAMILY, wg.AF_INET);
      m.bytes(wg.WGALLOWEDIP_A_IPADDR, Uint8Array.of(10, (i >> 8) & 255, i & 255, 1));
      m.u8(wg.WGALLOWEDIP_A_CIDR_MASK, 32);
    });
    m.nested(0, () => {
      const a = new Uint8Array(16);
      a[0] = 0xfd;
      a[14] = (i >> 8) & 255;
      a[15] = i & 255;
      m.u16(wg.WGALLOWEDIP_A_FAMILY, wg.AF_INET6);
      m.bytes(wg.WGALLOWEDIP_A_IPADDR, a);
      m.u8(wg.WGALLOWEDIP_A_CIDR_MASK, 128);
    });
  });
}

/** A synthetic kernel-layout dump of `peers` peers (one IPv4 /32 and one IPv6 /128 each), as netlink messages. */
export function syntheticDump(peers: number): Message[] {
  const privateKey = new Uint8Array(32).fill(7);
  const publicKey = new Uint8Array(32).fill(8);
  const out: Message[] = [];
  let next = 0;
  do {
    const m = genlMessage(FAMILY, wg.WG_CMD_GET_DEVICE, wg.WG_GENL_VERSION);
    deviceHead(m, privateKey, publicKey);
    m.nested(wg.WGDEVICE_A_PEERS, () => {
      while (next < peers) {
        const mark = m.mark();
        m.nested(0, () => peerAttrs(m, next));
        if (m.length > MESSAGE_BYTES) {
          m.rollback(mark);
          return;
        }
        next++;
      }
    });
    out.push(...parseMessages(m.finish(out.length + 1, 0, 2).slice()));
  } while (next < peers);
  return out;
}

/** Messages back to back, headers included (the capture format). */
export function serializeDump(messages: Message[]): Uint8Array {
  const size = messages.reduce((n, m) => n + ((16 + m.payload.length + 3) & ~3), 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const m of messages) {
    v.setUint32(at, 16 + m.payload.length, true);
    v.setUint16(at + 4, m.type, true);
    v.setUint16(at + 6, m.flags, true);
    v.setUint32(at + 8, m.seq, true);
    v.setUint32(at + 12, m.pid, true);
    out.set(m.payload, at + 16);
    at += (16 + m.payload.length + 3) & ~3;
  }
  return out;
}

/** Result of {@link benchDecode}. */
export interface DecodeFigure {
  peers: number;
  messages: number;
  bytes: number;
  /** Median decode time of the whole dump in ms. */
  ms: number;
}

/** Decodes `messages` `runs` times (after warm-up runs) and returns the median time. */
export function benchDecode(messages: Message[], runs = 15, warmup = 5): DecodeFigure {
  let peers = 0;
  for (let i = 0; i < warmup; i++) peers = wg.decodeGetDevice(messages).peers.length;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    wg.decodeGetDevice(messages);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const bytes = messages.reduce((n, m) => n + 16 + m.payload.length, 0);
  return { peers, messages: messages.length, bytes, ms: +times[runs >> 1].toFixed(2) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { peers: { type: "string", default: "10000" }, file: { type: "string" }, runs: { type: "string" } },
  });
  const messages = values.file
    ? parseMessages(await Deno.readFile(values.file), "captured dump")
    : syntheticDump(Number(values.peers));
  const fig = benchDecode(messages, values.runs ? Number(values.runs) : undefined);
  const source = values.file ? `captured ${values.file}` : "synthetic";
  console.log(`decode: ${fig.peers} peers, ${fig.messages} messages, ${fig.bytes} bytes (${source}): ${fig.ms} ms`);
  console.log(
    JSON.stringify({ decode_10k_ms: fig.ms, peers: fig.peers, source: values.file ? "captured" : "synthetic" }),
  );
}
