import assert from "node:assert/strict";
import {
  AttrDecoder,
  attrsAfter,
  GENL_HDRLEN,
  genlMessage,
  type Message,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  parseMessages,
} from "../../src/netlink/mod.ts";
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { InvalidConfigError, ProtocolError } from "../../src/wireguard/errors.ts";
import {
  decodeGetDevice,
  decodeSockaddr,
  encodeGetDevice,
  encodeSetDevice,
  encodeSockaddr,
  WG_CMD_GET_DEVICE,
  WG_GENL_VERSION,
  WGDEVICE_A_FLAGS,
  WGDEVICE_A_IFNAME,
  WGDEVICE_A_LISTEN_PORT,
  WGDEVICE_A_PEERS,
  WGDEVICE_A_PRIVATE_KEY,
  WGDEVICE_F_REPLACE_PEERS,
  WGPEER_A_ALLOWEDIPS,
  WGPEER_A_FLAGS,
  WGPEER_A_PUBLIC_KEY,
  WGPEER_F_REPLACE_ALLOWEDIPS,
  WGPEER_F_UPDATE_ONLY,
} from "../../src/wireguard/genl_codec.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceUpdate, PeerUpdate } from "../../src/wireguard/model.ts";
import { ep, ips, key } from "./fixtures.ts";

const FAMILY = 0x15;
const fromHex = (s: string) => Uint8Array.fromHex(s.replace(/\s+|\|/g, ""));

Deno.test("genl: GET request bytes (hand-derived from wireguard.h)", () => {
  const bytes = encodeGetDevice(FAMILY, { name: "wg0" }).finish(1, 0, NLM_F_REQUEST | NLM_F_DUMP);
  assert.equal(
    bytes.toHex(),
    fromHex(`
      1c000000 1500 0103 01000000 00000000 | 00 01 0000 | 0800 0200 77673000
    `).toHex(), // nlmsghdr(len 28, family 0x15, REQUEST|DUMP, seq 1) | genl(GET_DEVICE, v1) | IFNAME "wg0\\0"
  );
  const byIndex = encodeGetDevice(FAMILY, { ifindex: 7 }).finish(2, 0, NLM_F_REQUEST | NLM_F_DUMP);
  assert.equal(
    byIndex.toHex(),
    fromHex("1c000000 1500 0103 02000000 00000000 | 00010000 | 0800 0100 07000000").toHex(),
  );
});

Deno.test("genl: SET request bytes (hand-derived from wireguard.h)", () => {
  const update: DeviceUpdate = {
    listenPort: 51820,
    peers: [{
      publicKey: key(1),
      replaceAllowedIps: true,
      endpoint: ep("192.0.2.1:51820"),
      persistentKeepalive: 25,
      allowedIps: ips("10.0.0.0/8"),
    }],
  };
  const msgs = encodeSetDevice(FAMILY, { name: "wg0" }, update);
  assert.equal(msgs.length, 1);
  assert.equal(
    msgs[0].finish(1, 0, NLM_F_REQUEST | NLM_F_ACK).toHex(),
    fromHex(`
      94000000 1500 0500 01000000 00000000
      01 01 0000
      0800 0200 77673000
      0600 0600 6cca 0000
      7000 0880
        6c00 0180
          2400 0100 ${"01".repeat(32)}
          0800 0300 02000000
          1400 0400 0200 ca6c c0000201 0000000000000000
          0600 0500 1900 0000
          2000 0980
            1c00 0180
              0600 0100 0200 0000
              0800 0200 0a000000
              0500 0300 08 000000
    `).toHex(),
  );
});

// A GET_DEVICE dump of two messages: the second continues peer 0202… with one more allowed IP (hand-derived).
const DUMP = [
  `e0000000 1500 0200 01000000 00000000 | 00010000
   0800 0100 05000000 | 0800 0200 77673000 | 0600 0600 6cca 0000 | 0800 0700 2a000000
   ac00 0880
     a800 0180
       2400 0100 ${"02".repeat(32)}
       2000 0400 0a00 ca6c 00000000 fd000000000000000000000000000001 00000000
       1400 0600 f8f7066b00000000 44ae671c00000000
       0c00 0700 dc01000000000000
       0c00 0800 1402000000000000
       2c00 0980
         2800 0180 | 0600 0100 0a00 0000 | 1400 0200 fd000000000000000000000000000000 | 0500 0300 40 000000
       0800 0a00 01000000`,
  `68000000 1500 0200 01000000 00000000 | 00010000
   0800 0200 77673000
   4c00 0880
     4800 0180
       2400 0100 ${"02".repeat(32)}
       2000 0980
         1c00 0180 | 0600 0100 0200 0000 | 0800 0200 0a000000 | 0500 0300 08 000000`,
].map((h) => parseMessages(fromHex(h))[0]);

Deno.test("genl: GET dump decoding coalesces a peer split across messages", () => {
  const d = decodeGetDevice(DUMP);
  assert.equal(d.name, "wg0");
  assert.equal(d.ifindex, 5);
  assert.equal(d.listenPort, 51820);
  assert.equal(d.fwmark, 42);
  assert.equal(d.privateKey, undefined);
  assert.equal(d.peers.length, 1);
  const p = d.peers[0];
  assert.equal(p.publicKey.toHex(), "02".repeat(32));
  assert.equal(p.endpoint?.text, "[fd00::1]:51820");
  assert.equal(p.lastHandshake?.getTime(), 1795618808476);
  assert.equal(p.rxBytes, 476n);
  assert.equal(p.txBytes, 532n);
  assert.equal(p.protocolVersion, 1);
  assert.deepEqual(p.allowedIps.map(String), ["fd00::/64", "10.0.0.0/8"]);
});

/** A GET dump of the given messages, each a list of peer fragments (key bytes, IPv4 allowed IPs as text). */
function dumpOf(messages: [Uint8Array, string[]][][]): Message[] {
  return messages.map((peers, i) => {
    const m = genlMessage(FAMILY, WG_CMD_GET_DEVICE, WG_GENL_VERSION).string(WGDEVICE_A_IFNAME, "wg0");
    m.nested(WGDEVICE_A_PEERS, () => {
      for (const [k, allowed] of peers) {
        m.nested(0, () => {
          m.bytes(WGPEER_A_PUBLIC_KEY, k);
          m.nested(WGPEER_A_ALLOWEDIPS, () => {
            for (const text of allowed) {
              const p = IpPrefix.parse(text);
              m.nested(0, () => m.u16(1, 2).bytes(2, p.address).u8(3, p.bits));
            }
          });
        });
      }
    });
    return parseMessages(m.finish(i + 1, 0, 2).slice())[0];
  });
}

Deno.test("genl: coalescing by public key: any earlier fragment, not just the previous one; shared prefixes stay apart", () => {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  const a2 = a.slice(); // same first 8 bytes as `a`, different key
  a2[31] = 9;
  const d = decodeGetDevice(dumpOf([
    [[a, ["10.0.0.1/32"]], [b, ["10.0.1.1/32"]]],
    [[a2, ["10.0.2.1/32"]], [b, ["10.0.1.2/32"]]],
    [[a, ["10.0.0.2/32"]], [a2, ["10.0.2.2/32"]], [a, ["10.0.0.3/32"]]],
  ]));
  assert.deepEqual(
    d.peers.map((p) => [p.publicKey.toHex().slice(-2), p.allowedIps.map(String)]),
    [
      ["01", ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]],
      ["02", ["10.0.1.1/32", "10.0.1.2/32"]],
      ["09", ["10.0.2.1/32", "10.0.2.2/32"]],
    ],
  );
  // decoded keys own their bytes: changing the dump afterwards changes nothing
  const msgs = dumpOf([[[a, []]]]);
  const peer = decodeGetDevice(msgs).peers[0];
  msgs[0].payload.fill(0);
  assert.equal(peer.publicKey.toHex(), "01".repeat(32));
});

Deno.test("genl: sockaddr_in/in6 round trip, family 0 means no endpoint", () => {
  for (const t of ["192.0.2.1:1", "[2001:db8::1]:65535"]) {
    const b = encodeSockaddr(Endpoint.parse(t));
    assert.equal(b.length, t.startsWith("[") ? 28 : 16);
    assert.equal(decodeSockaddr(b, "t")?.text, t);
  }
  assert.equal(decodeSockaddr(new Uint8Array(16), "t"), undefined);
  assert.throws(() => decodeSockaddr(new Uint8Array([2, 0, 0, 1]), "t"), ProtocolError);
});

/** Walks SET messages: per message, the device-level attrs present and each peer fragment's flags and IP count. */
function walk(msgs: Uint8Array[]) {
  return msgs.map((bytes) => {
    const m = parseMessages(bytes)[0];
    const out = {
      len: bytes.length,
      device: [] as number[],
      deviceFlags: 0,
      peers: [] as { key: string; flags: number; ips: number }[],
    };
    const d = attrsAfter(m.payload, GENL_HDRLEN);
    while (d.next()) {
      out.device.push(d.type);
      if (d.type === WGDEVICE_A_FLAGS) out.deviceFlags = d.u32();
      if (d.type !== WGDEVICE_A_PEERS) continue;
      d.array((p: AttrDecoder) => {
        const frag = { key: "", flags: 0, ips: 0 };
        while (p.next()) {
          if (p.type === WGPEER_A_PUBLIC_KEY) frag.key = p.bytes().toBase64();
          if (p.type === WGPEER_A_FLAGS) frag.flags = p.u32();
          if (p.type === WGPEER_A_ALLOWEDIPS) p.array(() => frag.ips++);
        }
        out.peers.push(frag);
      });
    }
    d.done();
    return out;
  });
}

/** SET messages re-labelled as GET replies, so the GET decoder can read them back. */
function asDump(msgs: Uint8Array[]): Message[] {
  return msgs.map((b) => {
    const copy = b.slice();
    copy[16] = 0; // genl cmd WG_CMD_SET_DEVICE → WG_CMD_GET_DEVICE
    return parseMessages(copy)[0];
  });
}

function bigUpdate(peers: number, ipsPerPeer: number): DeviceUpdate {
  const list: PeerUpdate[] = [];
  for (let i = 0; i < peers; i++) {
    const k = new Uint8Array(32);
    new DataView(k.buffer).setUint32(0, i + 1);
    const allowed: IpPrefix[] = [];
    for (let j = 0; j < ipsPerPeer; j++) {
      allowed.push(
        j % 2 === 0
          ? IpPrefix.fromBytes(4, Uint8Array.of(10, (i >> 8) & 255, i & 255, j), 32)
          : IpPrefix.fromBytes(6, Uint8Array.of(0xfd, 0, 0, 0, 0, 0, i >> 8, i & 255, 0, 0, 0, 0, 0, 0, 0, j), 128),
      );
    }
    list.push({
      publicKey: WireGuardKey.fromBytes("public", k),
      replaceAllowedIps: true,
      persistentKeepalive: 25,
      endpoint: Endpoint.fromBytes(4, Uint8Array.of(192, 0, 2, i & 255), 1000 + (i % 60000)),
      allowedIps: allowed,
    });
  }
  return { privateKey: key(9, "private"), listenPort: 51820, replacePeers: true, peers: list };
}

for (const budget of [4096, 8192, 32768, 65535]) {
  Deno.test(`genl: 10,000 peers x 6 allowed IPs at budget ${budget}: within budget, flags on first fragments, exact round trip`, () => {
    const update = bigUpdate(10_000, 6);
    const msgs = encodeSetDevice(FAMILY, { name: "wg0" }, update, budget).map((m) => m.finish(1, 0, 5).slice());
    const walked = walk(msgs);
    for (const [i, w] of walked.entries()) {
      assert.ok(w.len <= budget, `message ${i}: ${w.len} > ${budget}`);
      const deviceLevel = w.device.filter((t) =>
        t === WGDEVICE_A_PRIVATE_KEY || t === WGDEVICE_A_LISTEN_PORT || t === WGDEVICE_A_FLAGS
      );
      assert.equal(deviceLevel.length, i === 0 ? 3 : 0, `device attributes only in the first message (${i})`);
      assert.equal(w.deviceFlags & WGDEVICE_F_REPLACE_PEERS, i === 0 ? WGDEVICE_F_REPLACE_PEERS : 0);
    }
    const seen = new Set<string>();
    for (const frag of walked.flatMap((w) => w.peers)) {
      const first = !seen.has(frag.key);
      seen.add(frag.key);
      assert.equal(frag.flags & WGPEER_F_REPLACE_ALLOWEDIPS, first ? WGPEER_F_REPLACE_ALLOWEDIPS : 0);
    }
    assert.equal(seen.size, 10_000);
    const back = decodeGetDevice(asDump(msgs));
    assert.equal(back.listenPort, 51820);
    assert.equal(back.peers.length, 10_000);
    for (const [i, p] of back.peers.entries()) {
      const want = update.peers[i];
      assert.ok(p.publicKey.equals(want.publicKey));
      assert.equal(p.endpoint?.text, want.endpoint?.text);
      assert.equal(p.persistentKeepalive, 25);
      assert.deepEqual(p.allowedIps.map(String), want.allowedIps!.map(String));
    }
  });
}

Deno.test("genl: one peer with 5,000 allowed IPs is split; REPLACE_ALLOWEDIPS only first, UPDATE_ONLY every fragment", () => {
  const update = bigUpdate(1, 5000);
  update.peers[0].updateOnly = true;
  update.peers[0].removeAllowedIps = ips("10.99.0.0/16");
  const msgs = encodeSetDevice(FAMILY, { ifindex: 3 }, update, 4096).map((m) => m.finish(1, 0, 5).slice());
  const frags = walk(msgs).flatMap((w) => w.peers);
  assert.ok(msgs.length > 10, `${msgs.length} messages`);
  assert.equal(frags.length, msgs.length);
  assert.equal(frags.reduce((n, f) => n + f.ips, 0), 5001);
  frags.forEach((f, i) => {
    assert.equal(f.flags & WGPEER_F_REPLACE_ALLOWEDIPS, i === 0 ? WGPEER_F_REPLACE_ALLOWEDIPS : 0);
    assert.equal(f.flags & WGPEER_F_UPDATE_ONLY, WGPEER_F_UPDATE_ONLY);
  });
  const back = decodeGetDevice(asDump(msgs));
  assert.deepEqual(back.peers[0].allowedIps.map(String), ["10.99.0.0/16", ...update.peers[0].allowedIps!.map(String)]);
});

Deno.test("genl: empty update is one message; bad budgets and values are typed errors", () => {
  assert.equal(encodeSetDevice(FAMILY, { name: "wg0" }, { peers: [] }).length, 1);
  assert.throws(() => encodeSetDevice(FAMILY, { name: "wg0" }, { peers: [] }, 100), InvalidConfigError);
  assert.throws(() => encodeSetDevice(FAMILY, { name: "wg0" }, { peers: [] }, 70000), InvalidConfigError);
  assert.throws(
    () => encodeSetDevice(FAMILY, { name: "wg0" }, { peers: [{ publicKey: key(1), persistentKeepalive: 70000 }] }),
    InvalidConfigError,
  );
});

Deno.test("genl: decoder fuzzing (random and mutated dumps) yields only ProtocolError", () => {
  let seed = 42;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    let msgs: Message[];
    try {
      if (i % 5 === 0) {
        const len = 16 + rnd(200);
        const b = new Uint8Array(len).map(() => rnd(256));
        new DataView(b.buffer).setUint32(0, len, true);
        msgs = parseMessages(b);
      } else {
        msgs = DUMP.map((m) => {
          const p = m.payload.slice();
          for (let k = 1 + rnd(4); k > 0; k--) p[rnd(p.length)] = rnd(4) === 0 ? 0xff : rnd(256);
          return { ...m, payload: rnd(10) === 0 ? p.subarray(0, rnd(p.length)) : p };
        });
      }
    } catch {
      continue; // the netlink layer rejected the datagram itself
    }
    try {
      decodeGetDevice(msgs);
      decoded++;
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `untyped error: ${e}`);
    }
  }
  assert.ok(decoded > 0, "some mutations still decode");
});
