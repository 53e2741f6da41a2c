/** The plan controller's key I/O (src/controllers/wgplan/keystore.ts) against the in-memory API server. */
import assert from "node:assert/strict";
import { loadPlanKeys } from "../../src/controllers/wgplan/keystore.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { planKeySecretName } from "../../src/plan/keys.ts";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { FakeApiServer } from "../doubles/apiserver.ts";

const SECRETS = { group: "", version: "v1", plural: "secrets" };

Deno.test("plan keys: the plan's Secret and the referenced ones are read at once; a generated key is stored", async () => {
  const api = new FakeApiServer();
  const real = api.client();
  const n1 = await generatePrivateKey();
  await real.create(SECRETS, "ns", {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "user-keys", namespace: "ns" },
    data: { n1: btoa(n1.toBase64()) },
  });
  let inFlight = 0;
  let most = 0;
  // Every GET waits for the next timer turn: GETs sent one after the other never overlap, GETs sent at once do.
  const client = new Proxy(real, {
    get: (target, prop) => {
      if (prop === "get") {
        return async (...args: Parameters<KubeClient["get"]>) => {
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 0));
          try {
            return await target.get(...args);
          } finally {
            inFlight--;
          }
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const spec = {
    nodes: [{ nodeName: "n1", privateKeyRef: { name: "user-keys", key: "n1" } }, { nodeName: "n2" }],
  } as unknown as WireGuardNetworkPlanSpec;
  const plan = { name: "mesh", namespace: "ns", uid: "uid-1", generation: 1 };

  const keys = await loadPlanKeys(client, plan, spec, "test");
  assert.equal(most, 2, "the plan's own Secret and the user's Secret were read at the same time");
  assert.deepEqual(keys.problems, []);
  assert.equal(keys.keys.get("n1")?.publicKey, (await publicKeyOf(n1)).toBase64());
  assert.deepEqual(keys.keys.get("n1")?.secretRef, { name: "user-keys", key: "n1", namespace: "ns" });
  const stored = api.object<{ data?: Record<string, string> } & { metadata: object }>(
    "/secrets",
    "ns",
    planKeySecretName("mesh"),
  );
  assert.equal(Object.keys(stored?.data ?? {}).length, 1, "n2's generated key is stored in the plan's Secret");
});
