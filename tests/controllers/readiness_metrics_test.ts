import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { readinessSamples, type ReadinessSubject, watchReadiness } from "../../src/controllers/readiness_metrics.ts";

const obj = (name: string, ready?: "True" | "False" | "Unknown", node?: string): ReadinessSubject => ({
  metadata: { namespace: "default", name },
  ...(node ? { spec: { node } } : { spec: { nodes: [] } }),
  ...(ready
    ? { status: { conditions: [{ type: "Ready", status: ready, reason: "R", message: "", lastTransitionTime: "" }] } }
    : {}),
});

Deno.test("readinessSamples: 1 only for Ready=True; node from spec.node, empty for cluster-wide kinds", () => {
  const got = readinessSamples("WireGuardInterface", [
    obj("a", "True", "lax1"),
    obj("b", "False", "lax1"),
    obj("c", "Unknown", "lax2"),
    obj("d", undefined, "lax2"),
  ]);
  assert.deepEqual(got.map((s) => [s.labels.name, s.labels.node, s.value]), [
    ["a", "lax1", 1],
    ["b", "lax1", 0],
    ["c", "lax2", 0],
    ["d", "lax2", 0],
  ]);
  assert.deepEqual(readinessSamples("WireGuardNetworkPlan", [obj("p", "True")])[0].labels, {
    kind: "WireGuardNetworkPlan",
    namespace: "default",
    name: "p",
    node: "",
  });
});

Deno.test("watchReadiness: two kinds in one registry share one gauge, read at scrape time", async () => {
  const registry = new Registry();
  const wgis = [obj("w", "False", "lax1")];
  watchReadiness(registry, "WireGuardInterface", { list: () => wgis });
  watchReadiness(registry, "NetlinkInterface", { list: () => [obj("n", "True", "lax1")] });
  wgis[0] = obj("w", "True", "lax1");
  const samples = (await registry.metrics()).split("\n").filter((l) => l.startsWith("dn42op_object_ready{"));
  assert.deepEqual(samples, [
    'dn42op_object_ready{kind="WireGuardInterface",namespace="default",name="w",node="lax1"} 1',
    'dn42op_object_ready{kind="NetlinkInterface",namespace="default",name="n",node="lax1"} 1',
  ]);
});
