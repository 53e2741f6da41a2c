import assert from "node:assert/strict";
import { WireGuardError } from "../../src/wireguard/errors.ts";
import { ProtocolError, UapiError } from "../../src/wireguard/errors.ts";
import { checkUapiReply, decodeUapiGet, encodeUapiSet } from "../../src/wireguard/uapi.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import { ep, ips, key } from "./fixtures.ts";

const hex = (n: number) => n.toString(16).padStart(2, "0").repeat(32);

Deno.test("uapi: set request encoding (device fields, peers, removal, psk removal)", () => {
  const text = encodeUapiSet({
    privateKey: key(0x11, "private"),
    listenPort: 51820,
    fwmark: 0,
    peers: [
      { publicKey: key(1), remove: true },
      {
        publicKey: key(2),
        updateOnly: true,
        presharedKey: WireGuardKey.zero("preshared"),
        endpoint: ep("[fd00::1]:51821"),
        persistentKeepalive: 25,
        replaceAllowedIps: true,
        removeAllowedIps: ips("10.9.0.0/16"),
        allowedIps: ips("10.0.0.2/32", "fd00::2/128"),
      },
    ],
  });
  assert.equal(
    text,
    [
      "set=1",
      `private_key=10${"11".repeat(30)}51`, // clamped: 0x11 & 248 = 0x10, (0x11 & 127) | 64 = 0x51
      "listen_port=51820",
      "fwmark=0",
      `public_key=${hex(1)}`,
      "remove=true",
      `public_key=${hex(2)}`,
      "update_only=true",
      `preshared_key=${"0".repeat(64)}`,
      "endpoint=[fd00::1]:51821",
      "persistent_keepalive_interval=25",
      "replace_allowed_ips=true",
      "allowed_ip=-10.9.0.0/16",
      "allowed_ip=10.0.0.2/32",
      "allowed_ip=fd00::2/128",
      "",
      "",
    ].join("\n"),
  );
});

// The reply measured from wireguard-go 0.0.20220316 (docs/testbed.md), with a second peer added.
const GET_REPLY = [
  `private_key=${hex(0x48)}`,
  "listen_port=51820",
  `public_key=${hex(4)}`,
  `preshared_key=${"0".repeat(64)}`,
  "protocol_version=1",
  "endpoint=10.98.0.2:51821",
  "last_handshake_time_sec=1795618808",
  "last_handshake_time_nsec=476556868",
  "tx_bytes=532",
  "rx_bytes=476",
  "persistent_keepalive_interval=0",
  "allowed_ip=10.201.1.2/32",
  `public_key=${hex(5)}`,
  `preshared_key=${hex(6)}`,
  "protocol_version=1",
  "last_handshake_time_sec=0",
  "last_handshake_time_nsec=0",
  "tx_bytes=0",
  "rx_bytes=18446744073709551615",
  "persistent_keepalive_interval=25",
  "allowed_ip=fd00::/64",
  "allowed_ip=10.0.0.0/8",
  "errno=0",
  "",
  "",
].join("\n");

Deno.test("uapi: get reply decoding", () => {
  const d = decodeUapiGet("wgt0", GET_REPLY);
  assert.equal(d.name, "wgt0");
  assert.equal(d.privateKey?.toHex(), hex(0x48));
  assert.equal(d.listenPort, 51820);
  assert.equal(d.fwmark, 0);
  assert.equal(d.peers.length, 2);
  const [a, b] = d.peers;
  assert.equal(a.publicKey.toHex(), hex(4));
  assert.equal(a.presharedKey, undefined, "zero psk = none");
  assert.equal(a.endpoint?.text, "10.98.0.2:51821");
  assert.equal(a.lastHandshake?.getTime(), 1795618808476);
  assert.equal(a.txBytes, 532n);
  assert.equal(a.rxBytes, 476n);
  assert.equal(a.persistentKeepalive, undefined, "keepalive 0 = off");
  assert.deepEqual(a.allowedIps.map(String), ["10.201.1.2/32"]);
  assert.equal(b.presharedKey?.toHex(), hex(6));
  assert.equal(b.endpoint, undefined);
  assert.equal(b.lastHandshake, null);
  assert.equal(b.rxBytes, 2n ** 64n - 1n);
  assert.equal(b.persistentKeepalive, 25);
  assert.deepEqual(b.allowedIps.map(String), ["fd00::/64", "10.0.0.0/8"]);
});

Deno.test("uapi: errno replies", () => {
  checkUapiReply("errno=0\n\n", "set");
  assert.throws(() => checkUapiReply("errno=-22\n\n", "uapi set wgt0"), (e: unknown) => {
    assert.ok(e instanceof UapiError);
    assert.equal(e.errno, 22);
    assert.equal(e.message, "uapi set wgt0: wireguard-go replied errno 22 (EINVAL)");
    return true;
  });
  assert.throws(() => checkUapiReply("garbage", "set"), ProtocolError);
  assert.throws(() => decodeUapiGet("x", "errno=-98\n\n"), UapiError);
});

Deno.test("uapi: decoder fuzzing yields only typed errors and never leaks key material", () => {
  let seed = 1;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const alphabet = "=\n0123456789abcdef_-:/.[]xyz";
  const mutate = (s: string) => {
    const chars = [...s];
    for (let k = 1 + rnd(6); k > 0; k--) {
      const op = rnd(3);
      const at = rnd(chars.length + 1);
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]);
      else chars[at] = alphabet[rnd(alphabet.length)];
    }
    return chars.join("");
  };
  let ok = 0;
  for (let i = 0; i < 5000; i++) {
    const input = i % 10 === 0
      ? Array.from({ length: rnd(200) }, () => alphabet[rnd(alphabet.length)]).join("")
      : mutate(GET_REPLY);
    try {
      decodeUapiGet("wgt0", input);
      ok++;
    } catch (e) {
      assert.ok(e instanceof WireGuardError, `untyped ${e} for ${JSON.stringify(input)}`);
      assert.ok(!e.message.includes(hex(0x48)), "private key in an error message");
    }
  }
  assert.ok(ok > 0 && ok < 5000, `some mutations must decode and some must fail (${ok})`);
});
