/**
 * The userspace read path from bytes: the socket reader at every chunk boundary, the end-of-reply check, the byte
 * parsers of uapi_fields.ts against the text parsers, and decodeUapiGet on bytes (round trips, errors, fallbacks).
 */
import assert from "node:assert/strict";
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { ProtocolError, UapiError, WireGuardError } from "../../src/wireguard/errors.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceState, PeerState } from "../../src/wireguard/model.ts";
import { decodeUapiGet } from "../../src/wireguard/uapi.ts";
import { decimal, endpointAt, hexKey, isZeroHexKey, KeySlab, prefixAt } from "../../src/wireguard/uapi_fields.ts";
import { type ChunkReader, readUapiReply, replyComplete } from "../../src/wireguard/uapi_socket.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (n: number) => n.toString(16).padStart(2, "0").repeat(32);

/** A reader that hands out `data` in the given chunk sizes (the last repeated), counting reads. */
function chunked(data: Uint8Array, sizes: number[]): ChunkReader & { reads: number } {
  let off = 0;
  const r = {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      const size = sizes[Math.min(r.reads, sizes.length - 1)];
      r.reads++;
      if (off >= data.length) return Promise.resolve(null);
      const n = Math.min(size, p.length, data.length - off);
      p.set(data.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
  };
  return r;
}

const SMALL_GET = [
  `private_key=${hex(0x48)}`,
  "listen_port=51820",
  `public_key=${hex(4)}`,
  "endpoint=10.98.0.2:51821",
  "allowed_ip=10.201.1.2/32",
  "errno=0",
  "",
  "",
].join("\n");

Deno.test("uapi reader: a reply split at every byte position is read whole, and nothing is read after its end", async () => {
  for (const reply of [SMALL_GET, "errno=0\n\n", "errno=-22\n\n"]) {
    const bytes = enc(reply);
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = chunked(bytes, [cut, bytes.length]);
      assert.deepEqual(await readUapiReply(r), bytes, `cut at ${cut}`);
      assert.equal(r.reads, 2, `cut at ${cut}`);
    }
    const oneByOne = chunked(bytes, [1]);
    assert.deepEqual(await readUapiReply(oneByOne), bytes);
    assert.equal(oneByOne.reads, bytes.length);
  }
});

Deno.test("uapi reader: replies larger than the buffer, in odd chunk sizes, come back byte for byte", async () => {
  const lines = [];
  for (let i = 0; i < 3000; i++) lines.push(`public_key=${hex(i & 0xff)}`, `allowed_ip=10.0.${i >> 8}.${i & 0xff}/32`);
  const bytes = enc(`${lines.join("\n")}\nerrno=0\n\n`);
  assert.ok(bytes.length > 3 * 64 * 1024);
  for (const sizes of [[7], [65536], [1, 100_000, 3], [bytes.length]]) {
    assert.deepEqual(await readUapiReply(chunked(bytes, sizes)), bytes, `chunks ${sizes}`);
    // A buffer sized from the previous reply: too small (regrown), exact, larger.
    for (const size of [0, 1, bytes.length, bytes.length + 4096]) {
      assert.deepEqual(await readUapiReply(chunked(bytes, sizes), size), bytes, `chunks ${sizes}, buffer ${size}`);
    }
  }
  // The size hint spares the regrowing: one read when the buffer and the chunk hold the whole reply.
  const one = chunked(bytes, [bytes.length]);
  await readUapiReply(one, bytes.length);
  assert.equal(one.reads, 1);
});

Deno.test("uapi reader: a connection closed before the errno line is a ProtocolError", async () => {
  for (const partial of ["", "errno=0\n", `public_key=${hex(4)}\n\n`, SMALL_GET.slice(0, -1)]) {
    await assert.rejects(readUapiReply(chunked(enc(partial), [5])), ProtocolError, JSON.stringify(partial));
  }
});

Deno.test("uapi reader: end of reply is a blank line after an errno= line within the last 32 bytes", () => {
  const table: [string, boolean][] = [
    ["errno=0\n\n", true],
    ["errno=-98\n\n", true],
    ["listen_port=1\nerrno=0\n\n", true],
    ["errno=0\n", false],
    ["listen_port=1\n\n", false],
    ["\n\n", false],
    ["x\nerrno\n\n", false],
    ["", false],
    [`${"x".repeat(40)}\nerrno=0\n\n`, true],
    [`errno=${"0".repeat(40)}\n\n`, false], // longer than the tail that is looked at, as before
  ];
  for (const [text, want] of table) {
    const b = enc(text);
    assert.equal(replyComplete(b, b.length), want, JSON.stringify(text));
    // Only the first `len` bytes count.
    const padded = new Uint8Array(b.length + 8);
    padded.set(b);
    assert.equal(replyComplete(padded, b.length), want, `padded ${JSON.stringify(text)}`);
  }
});

/** Runs a byte parser on the text `s` placed inside other bytes (parsers must stay within their range). */
function at<T>(s: string, parse: (b: Uint8Array, start: number, end: number) => T): T {
  const b = enc(`=\n${s}\n:/`);
  return parse(b, 2, 2 + b.length - 5);
}

Deno.test("uapi fields: hex keys (either case) into fresh bytes or slab slots; anything else is left to the text parser", () => {
  const mixed = "00ff".repeat(8) + "A0b1".repeat(8);
  assert.deepEqual(at(mixed, hexKey), Uint8Array.fromHex(mixed));
  for (const bad of ["", "0".repeat(63), "0".repeat(65), "g" + "0".repeat(63), "0".repeat(62) + " 0"]) {
    assert.equal(at(bad, hexKey), undefined, bad);
  }
  assert.equal(at("0".repeat(64), isZeroHexKey), true);
  assert.equal(at("0".repeat(63) + "1", isZeroHexKey), false);
  assert.equal(at("0".repeat(62), isZeroHexKey), false);

  // 130 keys from one slab: distinct bytes, each right; a failed parse takes no slot.
  const slab = new KeySlab();
  const keys = [];
  for (let i = 0; i < 130; i++) {
    assert.equal(at("x".repeat(64), (b, s, e) => hexKey(b, s, e, slab)), undefined);
    keys.push(at(hex(i), (b, s, e) => hexKey(b, s, e, slab))!);
  }
  keys.forEach((k, i) => assert.deepEqual(k, Uint8Array.fromHex(hex(i)), `key ${i}`));
  assert.equal(keys[0].buffer, keys[63].buffer);
  assert.notEqual(keys[0].buffer, keys[64].buffer);
});

Deno.test("uapi fields: decimals are 1 to maxDigits digits, else -1", () => {
  const table: [string, number, number][] = [
    ["0", 15, 0],
    ["007", 15, 7],
    ["65535", 5, 65535],
    ["123456", 5, -1],
    ["999999999999999", 15, 999999999999999],
    ["1000000000000000", 15, -1],
    ["", 15, -1],
    ["-1", 15, -1],
    ["1a", 15, -1],
    [" 1", 15, -1],
  ];
  for (const [text, max, want] of table) assert.equal(at(text, (b, s, e) => decimal(b, s, e, max)), want, text);
});

Deno.test("uapi fields: prefixes and endpoints parse like the text parsers, or are left to them", () => {
  // [text, parsed on the byte path]; the others must come back undefined (the text parser decides).
  const prefixes: [string, boolean][] = [
    ["10.201.1.2/32", true],
    ["10.1.2.3/8", true],
    ["0.0.0.0/0", true],
    ["255.255.255.255/32", true],
    ["1.2.3.4/008", true],
    ["fd00::/64", true],
    ["FD00::AB/120", true],
    ["::/0", true],
    ["::1/128", true],
    ["1::/16", true],
    ["1:2:3:4:5:6:7::/128", true],
    ["::2:3:4:5:6:7:8/128", true],
    ["1:2:3:4:5:6:7:8/128", true],
    ["2001:db8:ffff::/33", true],
    ["1::2:3/48", true],
    ["01.2.3.4/8", false],
    ["1.2.3/8", false],
    ["256.1.1.1/8", false],
    ["1.2.3.4/33", false],
    ["1.2.3.4/", false],
    ["1.2.3.4", false],
    ["/8", false],
    ["1.2.3.4//8", false],
    ["::/129", false],
    ["1::2::3/64", false],
    ["1:::2/64", false],
    [":1::/64", false],
    ["1:/64", false],
    ["12345::/64", false],
    ["1:2:3:4:5:6:7:8::/128", false],
    ["1:2:3:4:5:6:7/128", false],
    ["::ffff:1.2.3.4/128", false],
    ["fe80::1%eth0/64", false],
  ];
  for (const [text, byBytes] of prefixes) {
    const got = at(text, (b, s, e) => prefixAt(b, s, e, "value"));
    assert.equal(got !== undefined, byBytes, text);
    if (!got) continue;
    const want = IpPrefix.parse(text);
    assert.deepEqual(
      [got.version, got.words, got.bits, got.text],
      [want.version, want.words, want.bits, want.text],
      text,
    );
  }

  const endpoints: [string, boolean][] = [
    ["10.98.0.2:51821", true],
    ["1.2.3.4:65535", true],
    ["1.2.3.4:00080", true],
    ["[fd00::1]:51820", true],
    ["[::]:1", true],
    ["[FD00:0::1]:1", true],
    ["1.2.3.4:0", false],
    ["1.2.3.4:65536", false],
    ["1.2.3.4:123456", false],
    ["[1.2.3.4]:5", false],
    ["fd00::1:5", false],
    ["[fd00::1:5", false],
    ["fd00::1]:5", false],
    [":5", false],
    ["1.2.3.4:", false],
    ["[]:5", false],
    ["[::ffff:10.0.0.1]:5", false],
  ];
  for (const [text, byBytes] of endpoints) {
    const got = at(text, (b, s, e) => endpointAt(b, s, e, "value"));
    assert.equal(got !== undefined, byBytes, text);
    if (!got) continue;
    const want = Endpoint.parse(text);
    assert.deepEqual(
      [got.version, got.words, got.port, got.text],
      [want.version, want.words, want.port, want.text],
      text,
    );
    assert.ok(got.equals(want) && want.equals(got), text);
  }
});

/** A reply the way wireguard-go prints it for `device`. */
function printReply(device: DeviceState): string {
  const lines: string[] = [];
  if (device.privateKey) lines.push(`private_key=${device.privateKey.toHex()}`);
  lines.push(`listen_port=${device.listenPort}`);
  if (device.fwmark) lines.push(`fwmark=${device.fwmark}`);
  for (const p of device.peers) {
    const ms = p.lastHandshake?.getTime() ?? 0;
    lines.push(
      `public_key=${p.publicKey.toHex()}`,
      `preshared_key=${p.presharedKey?.toHex() ?? "0".repeat(64)}`,
      `protocol_version=${p.protocolVersion}`,
      ...(p.endpoint ? [`endpoint=${p.endpoint.text}`] : []),
      `last_handshake_time_sec=${Math.floor(ms / 1000)}`,
      `last_handshake_time_nsec=${ms ? (ms % 1000) * 1_000_000 + 123 : 0}`,
      `tx_bytes=${p.txBytes}`,
      `rx_bytes=${p.rxBytes}`,
      `persistent_keepalive_interval=${p.persistentKeepalive ?? 0}`,
      ...p.allowedIps.map((ip) => `allowed_ip=${ip.text}`),
    );
  }
  return `${lines.join("\n")}\nerrno=0\n\n`;
}

/** `d` with its keys as hex, so that deepEqual compares their bytes (a key's bytes are a private field). */
function withKeyBytes(d: DeviceState) {
  const h = (k: WireGuardKey | undefined) => k && `${k.kind} ${k.toHex()}`;
  return {
    ...d,
    privateKey: h(d.privateKey),
    peers: d.peers.map((p) => ({ ...p, publicKey: h(p.publicKey), presharedKey: h(p.presharedKey) })),
  };
}

Deno.test("uapi get from bytes: random devices round-trip through wireguard-go's reply format", () => {
  let seed = 3;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => rnd(256));
  for (let round = 0; round < 20; round++) {
    const peers: PeerState[] = [];
    for (let i = 0, n = rnd(150); i < n; i++) {
      const v6 = Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(0x10000)));
      const peer: PeerState = {
        publicKey: WireGuardKey.fromBytes("public", bytes(32)),
        allowedIps: Array.from(
          { length: rnd(4) },
          (_, k) => k % 2 ? IpPrefix.fromWords(6, v6.slice(), rnd(129)) : IpPrefix.fromBytes(4, bytes(4), rnd(33)),
        ),
        lastHandshake: rnd(2) ? new Date(1_700_000_000_000 + rnd(1e9)) : null,
        rxBytes: BigInt(rnd(2 ** 31)) * BigInt(rnd(2 ** 31)),
        txBytes: BigInt(rnd(1000)),
        protocolVersion: 1,
      };
      if (rnd(2)) peer.presharedKey = WireGuardKey.fromBytes("preshared", bytes(32));
      if (rnd(3)) {
        peer.endpoint = rnd(2) ? Endpoint.fromBytes(4, bytes(4), 1 + rnd(65535)) : Endpoint.fromWords(6, v6, 1);
      }
      if (rnd(2)) peer.persistentKeepalive = 1 + rnd(65535);
      peers.push(peer);
    }
    const device: DeviceState = {
      name: "wrt0",
      privateKey: WireGuardKey.fromBytes("private", bytes(32)),
      listenPort: rnd(65536),
      fwmark: rnd(2) ? rnd(2 ** 32) : 0,
      peers,
    };
    const reply = printReply(device);
    const got = decodeUapiGet("wrt0", enc(reply));
    assert.deepEqual(withKeyBytes(got), withKeyBytes(device), `round ${round}`);
    assert.deepEqual(withKeyBytes(decodeUapiGet("wrt0", reply)), withKeyBytes(got), "text and bytes decode alike");
  }
});

Deno.test("uapi get from bytes: forms outside the byte path decode through the text parsers", () => {
  const reply = [
    `private_key=${hex(0x48).toUpperCase()}`,
    "listen_port=0000051820",
    `public_key=${hex(4).toUpperCase()}`,
    "endpoint=[::ffff:10.0.0.1]:5",
    "rx_bytes=18446744073709551615",
    "last_handshake_time_sec=1795618808",
    "last_handshake_time_nsec=0000476556868",
    "allowed_ip=::ffff:1.2.3.4/128",
    "allowed_ip=10.1.2.3",
    "errno=0",
    "",
    "",
  ].join("\n");
  const d = decodeUapiGet("wrt0", enc(reply));
  assert.equal(d.privateKey?.toHex(), WireGuardKey.fromHex("private", hex(0x48)).toHex());
  assert.equal(d.listenPort, 51820);
  const [p] = d.peers;
  assert.equal(p.publicKey.toHex(), hex(4));
  assert.equal(p.endpoint?.text, Endpoint.parse("[::ffff:10.0.0.1]:5").text);
  assert.equal(p.rxBytes, 2n ** 64n - 1n);
  assert.equal(p.lastHandshake?.getTime(), 1795618808476);
  assert.deepEqual(p.allowedIps.map(String), [IpPrefix.parse("::ffff:1.2.3.4/128").text, "10.1.2.3/32"]);
});

Deno.test("uapi get from bytes: errno replies, unknown keys and malformed lines are typed errors without key material", () => {
  assert.throws(
    () => decodeUapiGet("wrt0", enc("errno=-98\n\n")),
    (e: unknown) => e instanceof UapiError && e.errno === 98,
  );
  const secret = hex(0x48);
  const table: [string, RegExp][] = [
    [`private_key=${secret}\nfoo=1\nerrno=0\n\n`, /^uapi get wrt0 line 2 \(foo\): unknown device key$/],
    [`public_key=${hex(4)}\nbar=1\nerrno=0\n\n`, /^uapi get wrt0 line 2 \(bar\): unknown peer key$/],
    [`private_key=${secret}\nallowed_ip=10.0.0.0/8\nerrno=0\n\n`, /line 2 \(allowed_ip\): unknown device key$/],
    [
      `private_key=${secret.slice(0, 63)}\nerrno=0\n\n`,
      /^uapi get wrt0 line 1 \(private_key\): must be 64 hex digits$/,
    ],
    [`private_key=${secret}\nno equals sign\nerrno=0\n\n`, /^uapi get wrt0: line 2 is not key=value$/],
    [`private_key=${secret}\n=x\nerrno=0\n\n`, /^uapi get wrt0: line 2 is not key=value$/],
    [`private_key=${secret}\n\nerrno=0\n\n`, /^uapi get wrt0: line 2 is not key=value$/],
    [`public_key=${hex(4)}\nlisten_port=1\nerrno=0\n\n`, /line 2 \(listen_port\): unknown peer key$/],
    [`listen_port=65536\nerrno=0\n\n`, /line 1 \(listen_port\): not an integer 0–65535$/],
    [`public_key=${hex(4)}\nendpoint=10.0.0.1:0\nerrno=0\n\n`, /line 2 \(endpoint\): port must be 1–65535, got 0$/],
    [`public_key=${hex(4)}\nallowed_ip=10.0.0.1/33\nerrno=0\n\n`, /line 2 \(allowed_ip\): prefix length must be 0–32/],
    [`public_key=${hex(4)}\nrx_bytes=-1\nerrno=0\n\n`, /line 2 \(rx_bytes\): not an unsigned integer$/],
    [`private_key=${secret}\nerrno=0\n`, /^uapi get wrt0: reply is not terminated by a blank line$/],
    [`private_key=${secret}\n\n`, /^uapi get wrt0: unexpected reply of \d+ bytes$/],
  ];
  for (const [reply, want] of table) {
    assert.throws(() => decodeUapiGet("wrt0", enc(reply)), (e: unknown) => {
      assert.ok(e instanceof WireGuardError && !(e instanceof UapiError), String(e));
      assert.match(e.message, want);
      assert.ok(!e.message.includes(secret) && !e.message.includes(secret.slice(0, 63)), "key material in the message");
      return true;
    }, JSON.stringify(reply));
  }
});
