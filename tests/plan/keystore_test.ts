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

  // A plan that recorded keys before (here n1's) reads its own Secret, at the same time as the user's.
  const keys = await loadPlanKeys(client, plan, spec, "test", new Map([["n1", (await publicKeyOf(n1)).toBase64()]]));
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

Deno.test("plan keys: a new plan's Secret is created without a read; one that exists after all is read, not overwritten", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const spec = { nodes: [{ nodeName: "n1" }, { nodeName: "n2" }] } as unknown as WireGuardNetworkPlanSpec;
  const requests = () => api.requests.filter((r) => r.path.includes("/secrets")).map((r) => r.method);

  const fresh = await loadPlanKeys(client, { name: "new", namespace: "ns", uid: "uid-new", generation: 1 }, spec, "t");
  assert.deepEqual(requests(), ["POST"], "created without a GET before");
  assert.deepEqual(fresh.problems, []);
  assert.equal(fresh.nodes.filter((n) => n.publicKey).length, 2);

  // Someone else's Secret already has the name the next new plan's Secret would get.
  await client.create(SECRETS, "ns", {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: planKeySecretName("taken"), namespace: "ns" },
    data: { theirs: btoa("x") },
  });
  api.requests.length = 0;
  const taken = await loadPlanKeys(client, { name: "taken", namespace: "ns", uid: "uid-t", generation: 1 }, spec, "t");
  assert.deepEqual(requests(), ["POST", "GET"], "the refused creation is followed by a read");
  assert.deepEqual(taken.problems.map((p) => p.reason), ["NameConflict"]);
  const theirs = api.object<{ data?: Record<string, string> } & { metadata: object }>(
    "/secrets",
    "ns",
    planKeySecretName("taken"),
  );
  assert.deepEqual(Object.keys(theirs?.data ?? {}), ["theirs"], "their Secret is left as it was");
});
