import assert from "node:assert/strict";
import { REDACTED, redactKeys } from "../../src/kube/redact.ts";
import { sanitizeMessage } from "../../src/kube/events.ts";
import { addFinalizerPatch, hasFinalizer, removeFinalizerPatch } from "../../src/kube/finalizers.ts";
import { parseListenAddress } from "../../src/kube/server.ts";
import { microTime } from "../../src/kube/leaderelection.ts";
import { apiVersionOf, objectKey, resourcePath, splitKey } from "../../src/kube/client.ts";
import { diffSnapshot } from "../../src/kube/informer.ts";
import { Store } from "../../src/kube/store.ts";

// A real WireGuard key pair shape: 32 random bytes in base64.
function wgKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

Deno.test("redactKeys: 44-char base64 keys are replaced wherever they appear", () => {
  for (let i = 0; i < 50; i++) {
    const k = wgKey();
    assert.equal(redactKeys(`failed to parse private key ${k}`), `failed to parse private key ${REDACTED}`);
    assert.equal(redactKeys(`key="${k}",`), `key="${REDACTED}",`);
    const url = k.replaceAll("+", "-").replaceAll("/", "_");
    if (/[A-Z]/.test(url) && /[0-9]/.test(url)) assert.equal(redactKeys(`k=${url}`), `k=${REDACTED}`);
  }
  // not keys: names, shorter/longer base64, a 44-char token that is part of a longer word
  const keep = [
    "wg-lax1-sjc1-0 peer endpoint 192.0.2.1:51820",
    "c2hvcnQ=",
    `${"A".repeat(43)}=extra`,
    `x${wgKey()}`,
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  ];
  for (const t of keep) assert.equal(redactKeys(t), t, t);
});

Deno.test("sanitizeMessage: redacts and truncates to 1 KiB", () => {
  const k = wgKey();
  assert.equal(sanitizeMessage(`bad ${k}`), `bad ${REDACTED}`);
  const long = sanitizeMessage("x".repeat(5000));
  assert.equal(long.length, 1024);
  assert.ok(long.endsWith("..."));
});

Deno.test("finalizer patches: add/remove only ours, guarded by test ops", () => {
  const meta = (finalizers?: string[]) => ({ metadata: { name: "o", resourceVersion: "42", finalizers } });
  assert.deepEqual(addFinalizerPatch(meta(), "ours"), [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    { op: "add", path: "/metadata/finalizers", value: ["ours"] },
  ]);
  assert.deepEqual(addFinalizerPatch(meta(["theirs"]), "ours"), [
    { op: "test", path: "/metadata/finalizers", value: ["theirs"] },
    { op: "add", path: "/metadata/finalizers/-", value: "ours" },
  ]);
  assert.equal(addFinalizerPatch(meta(["ours"]), "ours"), undefined);
  assert.deepEqual(removeFinalizerPatch(meta(["a", "ours", "b"]), "ours"), [
    { op: "test", path: "/metadata/finalizers/1", value: "ours" },
    { op: "remove", path: "/metadata/finalizers/1" },
  ]);
  assert.equal(removeFinalizerPatch(meta(["a"]), "ours"), undefined);
  assert.equal(removeFinalizerPatch(meta(), "ours"), undefined);
  assert.equal(hasFinalizer(meta(["a", "ours"]), "ours"), true);
  assert.equal(hasFinalizer(meta(), "ours"), false);
});

Deno.test("parseListenAddress: Go-style host:port forms; bad input named", () => {
  assert.deepEqual(parseListenAddress(":8080"), { hostname: "0.0.0.0", port: 8080 });
  assert.deepEqual(parseListenAddress("127.0.0.1:0"), { hostname: "127.0.0.1", port: 0 });
  assert.deepEqual(parseListenAddress("[::1]:9090"), { hostname: "::1", port: 9090 });
  assert.deepEqual(parseListenAddress("localhost:1"), { hostname: "localhost", port: 1 });
  for (const bad of ["8080", "host:", ":70000", "a:b"]) {
    assert.throws(() => parseListenAddress(bad), (e: Error) => e instanceof RangeError && e.message.includes(bad));
  }
});

Deno.test("microTime: RFC 3339 with microseconds", () => {
  assert.equal(microTime(new Date(Date.UTC(2026, 10, 25, 15, 4, 5, 123))), "2026-11-25T15:04:05.123000Z");
});

Deno.test("resource paths and keys", () => {
  const crd = { group: "kr.test.dn42op.io", version: "v1", plural: "widgets" };
  const core = { group: "", version: "v1", plural: "secrets" };
  assert.equal(resourcePath(crd), "/apis/kr.test.dn42op.io/v1/widgets");
  assert.equal(
    resourcePath(crd, "ns", "w 1", "status"),
    "/apis/kr.test.dn42op.io/v1/namespaces/ns/widgets/w%201/status",
  );
  assert.equal(resourcePath(core, "ns", "s"), "/api/v1/namespaces/ns/secrets/s");
  assert.equal(resourcePath({ ...crd, namespaced: false }, "ns", "x"), "/apis/kr.test.dn42op.io/v1/widgets/x");
  assert.equal(apiVersionOf(core), "v1");
  assert.equal(apiVersionOf(crd), "kr.test.dn42op.io/v1");
  assert.equal(objectKey({ metadata: { namespace: "a", name: "b" } }), "a/b");
  assert.equal(objectKey({ metadata: { name: "b" } }), "b");
  assert.deepEqual(splitKey("a/b"), { namespace: "a", name: "b" });
  assert.deepEqual(splitKey("b"), { namespace: "", name: "b" });
});

Deno.test("diffSnapshot: relist after 410 yields adds, updates (changed RV only) and missed deletes", () => {
  const o = (name: string, rv: string) => ({ metadata: { namespace: "ns", name, resourceVersion: rv } });
  const store = new Store<ReturnType<typeof o>>();
  for (const x of [o("same", "1"), o("changed", "2"), o("vanished", "3")]) store.upsert(x);
  const d = diffSnapshot(store, [o("same", "1"), o("changed", "9"), o("new", "10")]);
  assert.deepEqual(d.added.map((x) => x.metadata.name), ["new"]);
  assert.deepEqual(d.updated.map(([a, b]) => [a.metadata.resourceVersion, b.metadata.resourceVersion]), [["2", "9"]]);
  assert.deepEqual(d.deleted.map((x) => x.metadata.name), ["vanished"]);
  const empty = diffSnapshot(new Store(), []);
  assert.deepEqual(empty, { added: [], updated: [], deleted: [] });
});
