/**
 * Pure parts of the plan key trust: which children carry the recorded public key, how a changed choice is patched,
 * what a rotation announcement says, and the node agent's check of a key against it.
 */
import assert from "node:assert/strict";
import { PLAN_PUBLIC_KEY_ANNOTATION, PLAN_ROTATED_KEYS_ANNOTATION } from "../../src/api/constants.ts";
import { childObject, childPatch, type ExistingChild } from "../../src/plan/child.ts";
import { expandPlan } from "../../src/plan/expand.ts";
import { announcedKeys } from "../../src/plan/keys.ts";
import { checkPlanKey, KeyMaterialError } from "../../src/controllers/wg/keys.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { keysFor, LAX1_PUB, LAX2_PUB, wgp1Spec } from "../../kit/plan_fixtures.ts";

const plan = { name: "wgp1", namespace: "default", uid: "uid-1", generation: 3 };

Deno.test("plan children carry the public key only when the plan keeps the key; a changed choice is patched", () => {
  const keys = keysFor(["lax1", "lax2"], { lax1: LAX1_PUB, lax2: LAX2_PUB });
  keys.set("lax1", { ...keys.get("lax1")!, inPlanSecret: true });
  const [lax1, lax2] = expandPlan(wgp1Spec(), keys).interfaces;
  const own = childObject(plan, lax1);
  assert.equal(own.metadata.annotations[PLAN_PUBLIC_KEY_ANNOTATION], LAX1_PUB);
  assert.equal(childObject(plan, lax2).metadata.annotations[PLAN_PUBLIC_KEY_ANNOTATION], undefined, "user's Secret");

  const existing: ExistingChild = {
    metadata: { ...structuredClone(own.metadata), resourceVersion: "7" },
    spec: own.spec,
  };
  assert.equal(childPatch(existing, own), undefined, "nothing to change");
  const [userKey] = expandPlan(wgp1Spec(), keysFor(["lax1", "lax2"], { lax1: LAX1_PUB, lax2: LAX2_PUB })).interfaces;
  assert.deepEqual(childPatch(existing, childObject(plan, userKey)), [
    { op: "test", path: "/metadata/resourceVersion", value: "7" },
    { op: "remove", path: "/metadata/annotations/networkplan.networking.dn42.io~1public-key" },
  ]);
});

Deno.test("announcedKeys: a JSON object of node → public key; anything else announces nothing", () => {
  const cases: [string | undefined, [string, string][]][] = [
    [undefined, []],
    ['{"lax1":"K1","lax2":"K2"}', [["lax1", "K1"], ["lax2", "K2"]]],
    ['{"lax1":"K1","bad":3}', [["lax1", "K1"]]],
    ["[1,2]", []],
    ["null", []],
    ["{not json", []],
  ];
  for (const [value, want] of cases) {
    const annotations = value === undefined ? undefined : { [PLAN_ROTATED_KEYS_ANNOTATION]: value };
    assert.deepEqual([...announcedKeys(annotations)], want, String(value));
  }
});

Deno.test("checkPlanKey: a key whose public key is not the recorded one is refused, naming both public keys", async () => {
  const key = await generatePrivateKey();
  const pub = (await publicKeyOf(key)).toBase64();
  const other = (await publicKeyOf(await generatePrivateKey())).toBase64();
  const spec = { node: "lax1", interfaceName: "wg0", privateKeySecretRef: { name: "p-wgplan-keys", key: "lax1" } };
  await checkPlanKey(undefined, spec, key);
  await checkPlanKey({ [PLAN_PUBLIC_KEY_ANNOTATION]: pub }, spec, key);
  await assert.rejects(checkPlanKey({ [PLAN_PUBLIC_KEY_ANNOTATION]: other }, spec, key), (e: unknown) => {
    assert.ok(e instanceof KeyMaterialError);
    assert.equal(e.reason, "KeySecretNotTrusted");
    assert.ok(e.message.includes(pub) && e.message.includes(other), e.message);
    assert.ok(!e.message.includes(key.toBase64()), "never the private key");
    return true;
  });
});
