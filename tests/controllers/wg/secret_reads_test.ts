/** wg-controller's Secret reads (src/controllers/wg/keys.ts) against the in-memory API server. */
import assert from "node:assert/strict";
import { readKeys, SharedSecretReads } from "../../../src/controllers/wg/keys.ts";
import type { WireGuardInterfaceSpec } from "../../../src/api/wireguard_interface.ts";
import { generatePrivateKey } from "../../../src/wireguard/key.ts";
import { FakeApiServer } from "../../doubles/apiserver.ts";

const SECRETS = { group: "", version: "v1", plural: "secrets" };

Deno.test("Secret reads: concurrent reads of one Secret share one GET; nothing is kept after the answer", async () => {
  const api = new FakeApiServer();
  const client = api.client();
  const key = (await generatePrivateKey()).toBase64();
  await client.create(SECRETS, "ns", {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "node-keys", namespace: "ns" },
    data: { n1: btoa(key) },
  });
  let gets = 0;
  const reads = new SharedSecretReads(client, () => gets++);
  const secretGets = () => api.requests.filter((r) => r.method === "GET" && r.path.endsWith("/secrets/node-keys"));
  const spec = (name: string) =>
    ({
      interfaceName: name,
      privateKeySecretRef: { name: "node-keys", key: "n1" },
    }) as unknown as WireGuardInterfaceSpec;
  const aborted = new AbortController();
  aborted.abort(new Error("this pass was stopped"));

  const passes = ["wg-a", "wg-b", "wg-c"].map((n) =>
    readKeys(reads.get, { metadata: { namespace: "ns" }, spec: spec(n) })
  );
  const stopped = readKeys(reads.get, { metadata: { namespace: "ns" }, spec: spec("wg-d") }, aborted.signal);
  await assert.rejects(stopped, /this pass was stopped/);
  for (const k of await Promise.all(passes)) assert.equal(k.privateKey.toBase64(), key);
  assert.equal(secretGets().length, 1, "three passes at once: one GET");
  assert.equal(gets, 1, "onGet counts the requests sent");

  await readKeys(reads.get, { metadata: { namespace: "ns" }, spec: spec("wg-a") });
  assert.equal(secretGets().length, 2, "a later pass reads again");
});
