/**
 * The reference's example manifests are kept byte for byte: the SHA-256 of each file as published in
 * hsiaofongw/go-controllers at commit afab4232cf5b3e60621f20beacaa29949ad86b7b (full keys, quoting, comments, the
 * trailing empty documents). An edit of one of these files fails here; new examples go into other files.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { publicKeyOf, WireGuardKey } from "../../src/wireguard/key.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Repository path → SHA-256 of the reference's file at afab4232. */
const REFERENCE: Record<string, string> = {
  "example/wgp/wgp1.yaml": "6afd1ee5ef3cc79a448682f8fff938c185d23f23e3009812ffd19c0e6bde7e94",
  "example/wgi/lax1-wg1.yaml": "254c954931b5f7e1c0f777448d7f15035466fbb1b512cf39f61d2634c47ac6bb",
  "example/wgi/lax1-wg2.yaml": "c3a1bb5d566e47cca5f4ed944b7fc25bf065410554c8a61a7cbc2a40576542e1",
  "example/nl/nl1-dummy.yaml": "bbb1102ce76589c4c248fb00b1fcf9580da036ee988cbfa349e7ffbae21f793d",
  "example/nl/nl2-bridge.yaml": "57a7e19f7df4def05de90e554c3e5c22a3a07deefc26c057dfbb12eefcbb5f31",
  "example/nl/veth.yaml": "81be745b0d40ce38858b3fc562cdd8841f2a407811b57fdcfc4856a29f0292a2",
  "example/nl/vxlan.yaml": "904ea62d6ebce8b4e42881064109d2d8ca4ba23e1036ce66467fddf0004532f1",
};

Deno.test("reference examples: every file is byte for byte the reference's (afab4232)", async () => {
  for (const [path, sha] of Object.entries(REFERENCE)) {
    const bytes = await Deno.readFile(`${ROOT}${path}`);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), sha, `${path} differs from the reference's`);
  }
});

type Doc = { kind?: string; data?: Record<string, string>; spec?: { peers?: { publicKey: string }[] } };

Deno.test("reference examples: wg1 and wg2 name each other's public keys (the tunnel can come up)", async () => {
  const load = async (path: string) =>
    parseAllDocuments(await Deno.readTextFile(`${ROOT}${path}`)).map((d) => d.toJS() as Doc | null).filter((d) => !!d);
  const [wg1, wg2] = [await load("example/wgi/lax1-wg1.yaml"), await load("example/wgi/lax1-wg2.yaml")];
  const pub = async (docs: Doc[]) => {
    const secret = docs.find((d) => d?.kind === "Secret")!;
    return (await publicKeyOf(WireGuardKey.parse("private", secret.data!.privatekey))).toBase64();
  };
  const peer = (docs: Doc[]) => docs.find((d) => d?.kind === "WireGuardInterface")!.spec!.peers![0].publicKey;
  assert.equal(peer(wg1), await pub(wg2));
  assert.equal(peer(wg2), await pub(wg1));
});
