import assert from "node:assert/strict";
import { inspect } from "node:util";
import { InvalidConfigError } from "../../src/wireguard/errors.ts";
import { generatePresharedKey, generatePrivateKey, publicKeyOf, WireGuardKey } from "../../src/wireguard/key.ts";

// RFC 7748 §6.1 (Curve25519 Diffie-Hellman test vectors).
const RFC7748 = [
  {
    priv: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    pub: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  },
  {
    priv: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    pub: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  },
];

Deno.test("public key derivation matches the RFC 7748 vectors", async () => {
  for (const v of RFC7748) {
    const pub = await publicKeyOf(WireGuardKey.fromHex("private", v.priv));
    assert.equal(pub.toHex(), v.pub);
    assert.equal(pub.kind, "public");
  }
});

Deno.test("private keys are clamped like the kernel does, which keeps the public key", () => {
  const k = WireGuardKey.fromHex("private", RFC7748[0].priv);
  const b = k.toBytes();
  assert.equal(b[0] & 7, 0);
  assert.equal(b[31] & 0x80, 0);
  assert.equal(b[31] & 0x40, 0x40);
  assert.equal(k.toHex(), "70076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c6a");
});

async function wg(args: string[], input: string): Promise<string> {
  const child = new Deno.Command("wg", { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

const hasWg = new Deno.Command("sh", { args: ["-c", "command -v wg"], stdout: "null" }).outputSync().success;

Deno.test({
  name: "generated keys agree with `wg pubkey`, and `wg genkey` keys parse and derive the same public key",
  ignore: !hasWg,
  fn: async () => {
    for (let i = 0; i < 5; i++) {
      const priv = await generatePrivateKey();
      assert.equal((await publicKeyOf(priv)).toBase64(), await wg(["pubkey"], priv.toBase64() + "\n"));
      const theirs = await wg(["genkey"], "");
      const parsed = WireGuardKey.parse("private", theirs);
      assert.equal(parsed.toBase64(), theirs, "wg genkey output is already clamped");
      assert.equal((await publicKeyOf(parsed)).toBase64(), await wg(["pubkey"], theirs + "\n"));
    }
  },
});

Deno.test("keys parse from base64 text and from raw 32-byte Secret data", () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const b64 = raw.toBase64();
  const fromText = WireGuardKey.parse("public", b64);
  const fromRaw = WireGuardKey.parse("public", raw);
  const fromTextBytes = WireGuardKey.parse("public", new TextEncoder().encode(b64 + "\n"));
  assert.ok(fromText.equals(fromRaw));
  assert.ok(fromText.equals(fromTextBytes));
  assert.equal(fromRaw.toBase64(), b64);
  assert.equal(fromRaw.toHex(), raw.toHex());
});

Deno.test("bad key input gives a typed error naming the field, without the input", () => {
  const bad: (string | Uint8Array)[] = [
    "",
    "abc",
    "not base64 at all, not base64 at all, not b=",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", // non-zero padding bits
    "A".repeat(43) + "==",
    new Uint8Array(31),
    new Uint8Array(33),
  ];
  for (const input of bad) {
    assert.throws(() => WireGuardKey.parse("private", input, "spec.privateKeySecret"), (e: unknown) => {
      assert.ok(e instanceof InvalidConfigError);
      assert.match(e.message, /^spec\.privateKeySecret: /);
      if (typeof input === "string" && input.length > 3) assert.ok(!e.message.includes(input));
      return true;
    });
  }
  assert.throws(() => WireGuardKey.fromHex("public", "zz"), InvalidConfigError);
});

Deno.test("secret keys never show in toString, JSON, template strings, inspect or errors", async () => {
  const priv = await generatePrivateKey();
  const psk = generatePresharedKey();
  const pub = await publicKeyOf(priv);
  for (const k of [priv, psk]) {
    const forms = [
      String(k),
      `${k}`,
      JSON.stringify({ k }),
      inspect(k),
      Deno.inspect(k),
      Deno.inspect({ nested: [k] }),
      new Error(`oops ${k}`).message,
    ];
    for (const f of forms) {
      assert.ok(!f.includes(k.toBase64()), f);
      assert.ok(!f.includes(k.toHex()), f);
    }
    assert.equal(String(k), `(${k.kind} key)`);
  }
  assert.equal(String(pub), pub.toBase64());
  assert.equal(JSON.stringify(pub), JSON.stringify(pub.toBase64()));
  assert.match(Deno.inspect(pub), new RegExp(pub.toBase64().replace(/[+/]/g, "\\$&")));
});

Deno.test("zero keys, equality by kind and bytes", () => {
  assert.ok(WireGuardKey.zero("preshared").isZero());
  const raw = crypto.getRandomValues(new Uint8Array(32));
  assert.ok(!WireGuardKey.fromBytes("public", raw).equals(WireGuardKey.fromBytes("preshared", raw)));
  assert.ok(WireGuardKey.fromBytes("public", raw).equals(WireGuardKey.fromBytes("public", raw.slice())));
  const before = WireGuardKey.fromBytes("public", raw);
  raw[31] ^= 1;
  assert.ok(!before.equals(WireGuardKey.fromBytes("public", raw)), "fromBytes copies its input");
  assert.ok(!before.equals(undefined));
});
