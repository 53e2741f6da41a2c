/** Pure parts of the wg-controller glue: endpoint resolution, conditions, the key cache policy. */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { conditionsFor, MAX_CONDITION_MESSAGE, problemsMessage } from "../../../src/controllers/conditions.ts";
import { resolveDns, resolveEndpoints } from "../../../src/controllers/wg/endpoints.ts";
import { KeyCache } from "../../../src/controllers/wg/keys.ts";
import { generatePrivateKey } from "../../../src/wireguard/key.ts";
import { WgSpecError } from "../../../src/node/wireguard/desired.ts";

const PUB = "SBz2J27GQ8BXGxHQ+zE7BqfpOWHqOkbTWzGr0F0DMhQ=";
const spec = (...endpoints: string[]) => ({
  node: "n",
  interfaceName: "wg0",
  peers: endpoints.map((endpoint) => ({ publicKey: PUB, endpoint })),
});

Deno.test("resolveEndpoints: literal addresses, host names (A, then AAAA); an unresolvable name affects its peer only", async () => {
  const asked: string[] = [];
  const dns = (host: string, type: "A" | "AAAA") => {
    asked.push(`${host}/${type}`);
    if (host === "v4.example") return Promise.resolve(type === "A" ? ["192.0.2.7"] : []);
    if (host === "v6.example") return Promise.resolve(type === "AAAA" ? ["2001:db8::7"] : []);
    return Promise.reject(new Error("NXDOMAIN"));
  };
  const r = await resolveEndpoints(spec("10.0.0.1:51820", "[fd00::1]:1", "v4.example:51821", "v6.example:2"), dns);
  assert.equal(r.endpoint("10.0.0.1:51820", "f")?.text, "10.0.0.1:51820");
  assert.equal(r.endpoint("[fd00::1]:1", "f")?.text, "[fd00::1]:1");
  assert.equal(r.endpoint("v4.example:51821", "f")?.text, "192.0.2.7:51821");
  assert.equal(r.endpoint("v6.example:2", "f")?.text, "[2001:db8::7]:2");
  assert.deepEqual(r.problems, []);
  assert.deepEqual(asked.sort(), ["v4.example/A", "v6.example/A", "v6.example/AAAA"]);
  const partial = await resolveEndpoints(spec("10.0.0.1:1", "nx.example:5", "nx.example:5"), dns);
  assert.equal(partial.endpoint("nx.example:5", "f"), undefined, "the peer keeps the endpoint it has");
  assert.equal(partial.endpoint("10.0.0.1:1", "f")?.text, "10.0.0.1:1");
  assert.deepEqual(partial.problems.map((p) => [p.index, p.reason, p.hold]), [
    [1, "EndpointUnresolvable", false],
    [2, "EndpointUnresolvable", false],
  ]);
  assert.match(
    partial.problems[0].message,
    new RegExp(
      `^peer ${PUB.replace(/[+]/g, "\\+")}: spec\\.peers\\[1\\]\\.endpoint: host "nx\\.example" does not resolve`,
    ),
  );
  await assert.rejects(resolveEndpoints(spec("no port"), dns), WgSpecError);
});

Deno.test("resolveDns: a name server that never answers fails at the time limit instead of hanging", async () => {
  const silent = dgram.createSocket("udp4"); // receives queries, never answers
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
  const port = silent.address().port;
  try {
    await assert.rejects(resolveDns("peer.example", "A", 300, { ipAddr: "127.0.0.1", port }));
    const r = await resolveEndpoints(
      spec("peer.example:51820"),
      (h, t) => resolveDns(h, t, 300, { ipAddr: "127.0.0.1", port }),
    );
    assert.equal(r.problems[0]?.reason, "EndpointUnresolvable");
  } finally {
    silent.close();
  }
});

Deno.test("conditionsFor: Ready/Progressing/Degraded per outcome; transition time kept while status holds", () => {
  const t1 = new Date("2026-01-01T00:00:00Z");
  const t2 = new Date("2026-01-01T00:01:00Z");
  const ok = conditionsFor(undefined, { kind: "converged" }, 3, t1);
  const by = (cs: typeof ok, t: string) => cs.find((c) => c.type === t)!;
  assert.equal(by(ok, "Ready").status, "True");
  assert.equal(by(ok, "Ready").observedGeneration, 3);
  assert.equal(by(ok, "Degraded").status, "False");
  assert.equal(by(ok, "Progressing").status, "False");
  const again = conditionsFor(ok, { kind: "converged" }, 3, t2);
  assert.equal(by(again, "Ready").lastTransitionTime, "2026-01-01T00:00:00Z");
  const bad = conditionsFor(again, { kind: "degraded", reason: "SecretNotFound", message: "m" }, 4, t2);
  assert.equal(by(bad, "Ready").status, "False");
  assert.equal(by(bad, "Ready").reason, "SecretNotFound");
  assert.equal(by(bad, "Degraded").status, "True");
  assert.equal(by(bad, "Degraded").lastTransitionTime, "2026-01-01T00:01:00Z");
  const prog = conditionsFor(bad, { kind: "progressing", message: "applying" }, 4, t2);
  assert.equal(by(prog, "Progressing").status, "True");
  assert.equal(by(prog, "Degraded").status, "False");
});

Deno.test("problemsMessage: ten problems listed, the rest counted; never above the CRDs' message limit", () => {
  const cases: [string[], string][] = [
    [[], ""],
    [["a"], "a"],
    [["a", "b"], "a; b"],
    [Array.from({ length: 10 }, (_, i) => `p${i}`), "p0; p1; p2; p3; p4; p5; p6; p7; p8; p9"],
    [Array.from({ length: 13 }, (_, i) => `p${i}`), "p0; p1; p2; p3; p4; p5; p6; p7; p8; p9; and 3 more"],
  ];
  for (const [input, want] of cases) assert.equal(problemsMessage(input), want, input.join(","));
  const long = problemsMessage(Array.from({ length: 12 }, () => "x".repeat(4096)));
  assert.equal(long.length, MAX_CONDITION_MESSAGE);
  assert.ok(long.endsWith("..."));
  const big = conditionsFor(
    undefined,
    { kind: "degraded", reason: "LinkConflict", message: "y".repeat(40_000) },
    1,
    new Date(),
  );
  assert.ok(big.every((c) => c.message.length <= MAX_CONDITION_MESSAGE));
});

Deno.test("KeyCache: Secrets are read again on a spec change, after maxAge, after forget; inline keys never kept", async () => {
  let now = 0;
  const cache = new KeyCache(30_000, () => now);
  let reads = 0;
  const keys = { privateKey: await generatePrivateKey(), presharedKeys: [] };
  const read = () => (reads++, Promise.resolve(keys));
  const obj = (generation: number, ref = "k1", psk?: string) => ({
    metadata: { namespace: "ns", generation },
    spec: {
      node: "n",
      interfaceName: "wg0",
      privateKeySecretRef: { name: ref, key: "privatekey" },
      peers: psk ? [{ publicKey: PUB, presharedKeySecretRef: { name: psk, key: "psk" } }] : [],
    },
  });
  const steps: [string, () => void, ReturnType<typeof obj>, number][] = [
    ["first pass reads", () => {}, obj(1), 1],
    ["poll 10 s later: cached", () => (now = 10_000), obj(1), 1],
    ["poll 29.9 s after the read: cached", () => (now = 29_900), obj(1), 1],
    ["30 s after the read: read again", () => (now = 30_000), obj(1), 2],
    ["spec edit (generation 2): read again", () => (now = 31_000), obj(2), 3],
    ["same generation: cached", () => {}, obj(2), 3],
    ["another Secret referenced: read again", () => {}, obj(2, "k2"), 4],
    ["a preshared key Secret added: read again", () => {}, obj(2, "k2", "p"), 5],
    ["after a failed pass (forget): read again", () => cache.forget("ns/a"), obj(2, "k2", "p"), 6],
  ];
  for (const [what, before, o, want] of steps) {
    before();
    assert.equal(await cache.get("ns/a", o, read), keys, what);
    assert.equal(reads, want, what);
  }
  // A failed read is not kept: the next pass reads again.
  const failing = () => (reads++, Promise.reject(new Error("503")));
  await assert.rejects(cache.get("ns/b", obj(1), failing));
  await assert.rejects(cache.get("ns/b", obj(1), failing));
  assert.equal(reads, 8);
  // Inline keys only: read (parsed) every time, nothing kept.
  const inline = { metadata: { generation: 1 }, spec: { node: "n", interfaceName: "wg0", privateKey: "x" } };
  await cache.get("ns/c", inline, read);
  await cache.get("ns/c", inline, read);
  assert.equal(reads, 10);
  assert.equal(cache.size, 1, "only ns/a is kept");
});
