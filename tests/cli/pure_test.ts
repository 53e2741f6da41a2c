/** Table tests of the CLI's pure parts: formatting, peer matching, link states, rotation targets and progress. */
import assert from "node:assert/strict";
import { humanBytes, humanDuration, renderTable, wrap } from "../../src/cli/format.ts";
import { freshness, interfaceViews, linkState } from "../../src/cli/model.ts";
import { pendingRotation, RotateError, rotationTargets } from "../../src/cli/rotate.ts";
import { objectsFromText } from "../../src/cli/source.ts";
import type { WireGuardNetworkPlan } from "../../src/api/wireguard_network_plan.ts";
import type { WireGuardInterface } from "../../src/api/wireguard_interface.ts";
import { FIXTURES } from "./support.ts";

Deno.test("humanDuration: kubectl's ages", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [119, "119s"],
    [120, "2m"],
    [192, "3m12s"],
    [599, "9m59s"],
    [600, "10m"],
    [10799, "179m"],
    [10800, "3h"],
    [18600, "5h10m"],
    [8 * 3600, "8h"],
    [47 * 3600 + 59, "47h"],
    [48 * 3600, "2d"],
    [76 * 3600, "3d4h"],
    [8 * 86400, "8d"],
    [729 * 86400, "729d"],
    [760 * 86400, "2y30d"],
    [9 * 365 * 86400 + 86400, "9y"],
  ];
  for (const [s, want] of cases) assert.equal(humanDuration(s), want, String(s));
});

Deno.test("humanBytes, renderTable and wrap", () => {
  assert.deepEqual([0, 980, 1536, 10 * 1024, 12_582_912, 2 ** 40].map(humanBytes), [
    "0 B",
    "980 B",
    "1.5 KiB",
    "10 KiB",
    "12 MiB",
    "1 TiB",
  ]);
  assert.equal(
    renderTable(["A", "LONGER"], [["xx", "y"], [{ text: "z", colour: "red" }, ""]], false),
    "A    LONGER\nxx   y\nz\n",
  );
  assert.equal(renderTable(["A", "B"], [[{ text: "z", colour: "red" }, "q"]], true), "A   B\n\x1b[31mz\x1b[0m   q\n");
  assert.equal(wrap("aa bb cc dd", 5, "  "), "aa bb\n  cc dd");
});

Deno.test("freshness and linkState: never/stale/fresh; down when a reported end is not Ready; unknown unreported", () => {
  const now = 1_000_000_000;
  assert.equal(freshness(undefined, now, 300), "never");
  assert.equal(freshness(now - 300_000, now, 300), "fresh");
  assert.equal(freshness(now - 300_001, now, 300), "stale");
  const end = (reported: boolean, ready: "True" | "False" | "Unknown") =>
    ({ reported, ready }) as Parameters<typeof linkState>[0][number];
  assert.equal(linkState([end(true, "True"), end(true, "True")], now - 1000, now, 300), "up");
  assert.equal(linkState([end(true, "True"), end(false, "Unknown")], now - 1000, now, 300), "up");
  assert.equal(linkState([end(true, "True"), end(true, "False")], now - 1000, now, 300), "down");
  assert.equal(linkState([end(true, "True"), undefined], undefined, now, 300), "stale");
  assert.equal(linkState([end(false, "Unknown"), undefined], now, now, 300), "unknown");
});

Deno.test("interfaceViews: peers match by the plan's link annotation, else mutually by keys (a shared key is not enough)", async () => {
  const { wgis, plans } = objectsFromText(await Deno.readTextFile(`${FIXTURES}states.yaml`));
  const views = interfaceViews(wgis, plans);
  const peerOf = (name: string) => views.find((v) => v.name === name)!.peers[0];
  // hub's two children share hub's key; each is matched to its own link's other end.
  assert.equal(peerOf("wg-edge1-hub-0").matched, "net/wg-hub-edge1-0");
  assert.equal(peerOf("wg-laptop-hub-0").matched, "net/wg-hub-laptop-1");
  assert.equal(peerOf("wg-hub-laptop-1").peerName, "laptop");
  assert.equal(peerOf("transit").matched, undefined, "a key no object has is an external peer");
  // Standalone interfaces: mutual keys. Two interfaces listing one key, only one listing back: that one.
  const wgi = (name: string, own: string, peer: string): WireGuardInterface => ({
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "WireGuardInterface",
    metadata: { name, namespace: "n" },
    spec: { node: name, interfaceName: `wg-${name}`, privateKey: "x", peers: [{ publicKey: peer }] },
    status: { nodename: name, wireguard: { public_key: own } },
  });
  const v = interfaceViews([wgi("a", "KA", "KB"), wgi("b", "KB", "KA"), wgi("c", "KB", "KZ")], []);
  assert.equal(v.find((x) => x.name === "a")!.peers[0].matched, "n/b");
  assert.equal(v.find((x) => x.name === "a")!.peers[0].peerName, "b/wg-b");
  assert.equal(v.find((x) => x.name === "c")!.peers[0].matched, undefined);
});

function plan(
  nodes: WireGuardNetworkPlan["spec"]["nodes"],
  status?: WireGuardNetworkPlan["status"],
): WireGuardNetworkPlan {
  return {
    metadata: { name: "p", namespace: "ns", uid: "u" },
    spec: { defaultPortRange: { start: 1, end: 9 }, nodes },
    ...(status ? { status } : {}),
  };
}

Deno.test("rotationTargets: only keys the plan generates; the user's keys are refused naming where they are", () => {
  const p = plan([
    { nodeName: "gen1" },
    { nodeName: "inline", privateKey: "mCe+zbjoXyqeHI9bV47fL9CGqyMqtVF8Imjo9D8K1UA=" },
    { nodeName: "ref", privateKeyRef: { name: "mine", key: "k" } },
    { nodeName: "gen2" },
  ]);
  assert.deepEqual(rotationTargets(p), ["gen1", "gen2"]);
  assert.deepEqual(rotationTargets(p, "gen2"), ["gen2"]);
  const refused: [string, RegExp][] = [
    ["inline", /given inline \(spec\.nodes\[1\]\.privateKey\): change it in the plan/],
    ["ref", /the user's Secret ns\/mine \(spec\.nodes\[2\]\.privateKeyRef\): rotate it there/],
    ["nope", /node nope is not declared in plan ns\/p/],
  ];
  for (const [node, msg] of refused) {
    assert.throws(() => rotationTargets(p, node), (e) => e instanceof RotateError && msg.test(e.message));
  }
  assert.throws(
    () => rotationTargets(plan([{ nodeName: "i", privateKey: "mCe+zbjoXyqeHI9bV47fL9CGqyMqtVF8Imjo9D8K1UA=" }])),
    /generates no node key/,
  );
});

Deno.test("pendingRotation: plan status, the node's devices, the peers' specs and readiness", () => {
  const rotated = [{ node: "a", oldPublicKey: "OLD", publicKey: "NEW" }];
  const child = (name: string, node: string, peer: string, device?: string, ready = true): WireGuardInterface => ({
    metadata: { name, namespace: "ns", generation: 2 },
    spec: { node, interfaceName: name, peers: [{ publicKey: peer }] },
    ...(device
      ? {
        status: {
          observedGeneration: 2,
          wireguard: { public_key: device },
          conditions: [{
            type: "Ready",
            status: ready ? "True" : "False",
            reason: "R",
            message: "",
            lastTransitionTime: "",
          }],
        },
      }
      : {}),
  });
  const before = plan([{ nodeName: "a" }, { nodeName: "b" }], { nodes: [{ nodeName: "a", publicKey: "OLD" }] });
  assert.deepEqual(pendingRotation(before, [child("ab", "a", "KB", "OLD"), child("ba", "b", "OLD", "KB")], rotated), [
    "plan status: public key of a",
    "ns/ab on a: device key",
    "ns/ba on b: peer key of a",
  ]);
  const after = plan([{ nodeName: "a" }, { nodeName: "b" }], { nodes: [{ nodeName: "a", publicKey: "NEW" }] });
  assert.deepEqual(
    pendingRotation(after, [child("ab", "a", "KB", "NEW"), child("ba", "b", "NEW", "KB", false)], rotated),
    [
      "ns/ba: Ready",
    ],
  );
  // A node without an agent (no status) has nothing to wait for.
  assert.deepEqual(pendingRotation(after, [child("ab", "a", "KB"), child("ba", "b", "NEW", "KB")], rotated), []);
});
