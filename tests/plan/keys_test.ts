import assert from "node:assert/strict";
import { keySources, planKeySecretName, resolveKeys, type SecretData } from "../../src/plan/keys.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";

const spec = (nodes: NonNullable<WireGuardNetworkPlanSpec["nodes"]>): WireGuardNetworkPlanSpec => ({
  defaultPortRange: { start: 1, end: 2 },
  nodes,
});

Deno.test("key sources: inline, secret in the plan's namespace, generated; other namespaces refused", async () => {
  const inline = (await generatePrivateKey()).toBase64();
  const { sources, problems } = keySources(
    spec([
      { nodeName: "a", privateKey: inline },
      { nodeName: "b", privateKeyRef: { name: "s", key: "k" } },
      { nodeName: "c" },
      { nodeName: "d", privateKeyRef: { name: "s", key: "k", namespace: "kube-system" } },
    ]),
    "ns1",
  );
  assert.deepEqual(sources.map((s) => [s.node, s.kind]), [["a", "inline"], ["b", "secret"], ["c", "generated"]]);
  assert.deepEqual(sources[1], {
    node: "b",
    field: "spec.nodes[1].privateKeyRef",
    kind: "secret",
    ref: { name: "s", key: "k", namespace: "ns1" },
  });
  assert.deepEqual(problems.map((p) => p.reason), ["SecretNamespaceForbidden"]);
  assert.match(problems[0].message, /spec\.nodes\[3\]\.privateKeyRef\.namespace: Secret kube-system\/s is outside/);
});

Deno.test("resolveKeys: generated keys persist, inline keys are copied, refs are used in place", async () => {
  const inline = await generatePrivateKey();
  const user = await generatePrivateKey();
  const { sources } = keySources(
    spec([
      { nodeName: "a", privateKey: inline.toBase64() },
      { nodeName: "b", privateKeyRef: { name: "s", key: "k" } },
      { nodeName: "c" },
    ]),
    "ns1",
  );
  const secrets = new Map<string, SecretData>([["s", { k: user.toBytes() }]]);
  const first = await resolveKeys(sources, "ns1", planKeySecretName("p"), undefined, secrets);
  assert.deepEqual(first.problems, []);
  assert.equal(first.planSecretChanged, true);
  assert.deepEqual(Object.keys(first.planSecretData).sort(), ["a", "c"]);
  assert.equal(first.keys.get("a")!.publicKey, (await publicKeyOf(inline)).toBase64());
  assert.deepEqual(first.keys.get("a")!.secretRef, { name: "p-wgplan-keys", key: "a", namespace: "ns1" });
  assert.equal(first.keys.get("b")!.publicKey, (await publicKeyOf(user)).toBase64());
  assert.deepEqual(first.keys.get("b")!.secretRef, { name: "s", key: "k", namespace: "ns1" });
  // Second pass with the Secret written: the generated key is reused and nothing needs writing.
  const second = await resolveKeys(sources, "ns1", "p-wgplan-keys", first.planSecretData, secrets);
  assert.equal(second.planSecretChanged, false);
  assert.equal(second.keys.get("c")!.publicKey, first.keys.get("c")!.publicKey);
});

Deno.test("resolveKeys: missing Secret, missing key and invalid key are reported without key material", async () => {
  const bad = "not-a-key-but-secret-looking-text-1234567890=";
  const { sources } = keySources(
    spec([
      { nodeName: "a", privateKeyRef: { name: "gone", key: "k" } },
      { nodeName: "b", privateKeyRef: { name: "s", key: "other" } },
      { nodeName: "c", privateKey: bad },
      { nodeName: "d", privateKeyRef: { name: "s", key: "k" } },
    ]),
    "ns1",
  );
  const secrets = new Map<string, SecretData>([["s", { k: new TextEncoder().encode(bad) }]]);
  const out = await resolveKeys(sources, "ns1", "p", undefined, secrets);
  assert.deepEqual(out.problems.map((p) => p.reason), ["SecretNotFound", "SecretNotFound", "InvalidKey", "InvalidKey"]);
  assert.match(out.problems[0].message, /spec\.nodes\[0\]\.privateKeyRef: no Secret ns1\/gone/);
  assert.match(out.problems[1].message, /key other not found in Secret ns1\/s/);
  assert.match(out.problems[2].message, /spec\.nodes\[2\]\.privateKey/);
  for (const p of out.problems) assert.ok(!p.message.includes(bad.slice(0, 12)), p.message);
  assert.equal(out.keys.size, 0);
});
