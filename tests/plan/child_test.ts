import assert from "node:assert/strict";
import {
  allocationsOf,
  childObject,
  childPatch,
  configHash,
  type ExistingChild,
  takeOverPatch,
  takeOverRefusal,
} from "../../src/plan/child.ts";
import { expandPlan } from "../../src/plan/expand.ts";
import { interfaceNameFor, isValidObjectName, labelValueFor, objectNameFor } from "../../src/plan/names.ts";
import { keysFor, LAX1_PUB, LAX2_PUB, wgp1Spec } from "../../kit/plan_fixtures.ts";

const plan = { name: "wgp1", namespace: "default", uid: "uid-1", generation: 3 };
const [lax1] = expandPlan(wgp1Spec(), keysFor(["lax1", "lax2"], { lax1: LAX1_PUB, lax2: LAX2_PUB })).interfaces;

Deno.test("child object carries the reference's labels, annotation, finalizer and owner reference", () => {
  const obj = childObject(plan, lax1);
  assert.deepEqual(obj.metadata, {
    name: "wg-lax1-lax2-0",
    namespace: "default",
    labels: {
      "networkplan.networking.dn42.io/resource-id": "lax1-lax2-0",
      "networkplan.networking.dn42.io/config-hash": configHash(lax1.spec),
      "networkplan.networking.dn42.io/is-controlled-by": "wgp1",
    },
    annotations: {
      "networkplan.networking.dn42.io/parent-observed-generation": "3",
      "networkplan.networking.dn42.io/link": '{"fromNode":"lax1","toNode":"lax2","index":0}',
    },
    finalizers: ["networkplan.networking.dn42.io/finalizer"],
    ownerReferences: [{
      apiVersion: "networking.dn42.io/v1alpha1",
      kind: "WireGuardNetworkPlan",
      name: "wgp1",
      uid: "uid-1",
      controller: true,
      blockOwnerDeletion: true,
    }],
  });
  assert.equal(obj.apiVersion, "networking.dn42.io/v1alpha1");
  assert.equal(obj.kind, "WireGuardInterface");
  assert.match(obj.metadata.labels["networkplan.networking.dn42.io/config-hash"], /^[0-9a-f]{40}$/);
});

Deno.test("config hash ignores key order and changes with any spec value", () => {
  const reordered = Object.fromEntries(Object.entries(lax1.spec).reverse()) as typeof lax1.spec;
  assert.equal(configHash(reordered), configHash(lax1.spec));
  assert.notEqual(configHash({ ...lax1.spec, mtu: 1400 }), configHash(lax1.spec));
});

Deno.test("a shortened interface name keeps the full name in a label", () => {
  const d = { ...lax1, fullInterfaceName: "wg-frankfurt1-singapore2-0", spec: { ...lax1.spec, interfaceName: "x" } };
  assert.equal(
    childObject(plan, d).metadata.labels["networkplan.networking.dn42.io/full-interface-name"],
    "wg-frankfurt1-singapore2-0",
  );
});

function existing(over: Partial<ExistingChild["metadata"]> = {}, spec: unknown = lax1.spec): ExistingChild {
  const want = childObject(plan, lax1);
  return {
    metadata: { ...structuredClone(want.metadata), resourceVersion: "42", ...over },
    spec: structuredClone(spec),
  };
}

Deno.test("childPatch: nothing to do for an up-to-date child", () => {
  assert.equal(childPatch(existing(), childObject(plan, lax1)), undefined);
});

Deno.test("childPatch: a hand-edited spec is replaced as a whole, guarded by resourceVersion", () => {
  const edited = { ...lax1.spec, mtu: 9000, privateKey: "added by hand" };
  const ops = childPatch(existing({}, edited), childObject(plan, lax1));
  assert.deepEqual(ops, [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    { op: "replace", path: "/spec", value: lax1.spec },
  ]);
});

Deno.test("childPatch: new generation annotation, lost label and lost finalizer are restored", () => {
  const want = childObject({ ...plan, generation: 4 }, lax1);
  const ops = childPatch(
    existing({
      labels: { "networkplan.networking.dn42.io/resource-id": "lax1-lax2-0", other: "kept" },
      finalizers: [],
    }),
    want,
  );
  assert.deepEqual(ops, [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    {
      op: "add",
      path: "/metadata/labels/networkplan.networking.dn42.io~1config-hash",
      value: configHash(lax1.spec),
    },
    { op: "add", path: "/metadata/labels/networkplan.networking.dn42.io~1is-controlled-by", value: "wgp1" },
    {
      op: "replace",
      path: "/metadata/annotations/networkplan.networking.dn42.io~1parent-observed-generation",
      value: "4",
    },
    { op: "add", path: "/metadata/finalizers/-", value: "networkplan.networking.dn42.io/finalizer" },
  ]);
});

Deno.test("names: object names, label values and interface names are valid and deterministic", () => {
  assert.equal(objectNameFor("wg-a-b-0"), "wg-a-b-0");
  const odd = objectNameFor("wg-Lax_1-B-0");
  assert.match(odd, /^wg-lax-1-b-0-[0-9a-f]{8}$/);
  assert.ok(isValidObjectName(odd));
  assert.notEqual(objectNameFor("wg-Lax_1-B-0"), objectNameFor("wg-lax-1-b-0-x"));
  assert.equal(labelValueFor("wgp1"), "wgp1");
  const long = labelValueFor("p".repeat(100));
  assert.equal(long.length, 63);
  assert.match(long, /^p{54}-[0-9a-f]{8}$/);
  assert.equal(interfaceNameFor("wg-a-b-0", "b"), "wg-a-b-0");
  assert.equal(interfaceNameFor("wg-ab-ccccccccc-0", "ccccccccc"), interfaceNameFor("wg-ab-ccccccccc-0", "ccccccccc"));
  assert.notEqual(
    interfaceNameFor("wg-ab-ccccccccc-0", "ccccccccc"),
    interfaceNameFor("wg-ab-ccccccccc-1", "ccccccccc"),
  );
  assert.equal(new TextEncoder().encode(interfaceNameFor("wg-ä".repeat(9), "ääää")).length <= 15, true);
});

Deno.test("allocationsOf reads the link annotation back and ignores foreign or broken ones", () => {
  const a = childObject(plan, lax1);
  const broken = { metadata: { annotations: { "networkplan.networking.dn42.io/link": "{not json" } } };
  const foreign = { metadata: { annotations: { "networkplan.networking.dn42.io/link": '{"fromNode":1}' } } };
  assert.deepEqual(allocationsOf([a, broken, foreign, { metadata: {} }]), new Map([["lax1", new Map([["lax2", 0]])]]));
});

Deno.test("child finalizer follows the node's agent: absent when not waited for, removed, added back", () => {
  assert.deepEqual(childObject(plan, lax1, false).metadata.finalizers, []);
  // The agent is gone: the plan's finalizer is removed by index (guarded by resourceVersion), others stay.
  const withOthers = existing({ finalizers: ["x/keep", "networkplan.networking.dn42.io/finalizer"] });
  assert.deepEqual(childPatch(withOthers, childObject(plan, lax1, false)), [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    { op: "remove", path: "/metadata/finalizers/1" },
  ]);
  assert.equal(childPatch(existing({ finalizers: ["x/keep"] }), childObject(plan, lax1, false)), undefined);
  // The agent is back: the finalizer is added again.
  assert.deepEqual(childPatch(existing({ finalizers: ["x/keep"] }), childObject(plan, lax1, true)), [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    { op: "add", path: "/metadata/finalizers/-", value: "networkplan.networking.dn42.io/finalizer" },
  ]);
  // A child being deleted keeps its finalizers either way (releasing it is a separate decision).
  const deleting = existing({ deletionTimestamp: "2026-01-01T00:00:00Z" });
  assert.equal(childPatch(deleting, childObject(plan, lax1, false)), undefined);
});

Deno.test("takeOverRefusal: only a Go-made child of this very plan qualifies; takeOverPatch makes us its controller", () => {
  const want = childObject(plan, lax1);
  const goChild = (over: Partial<ExistingChild["metadata"]> = {}, spec: unknown = { ...lax1.spec }): ExistingChild => ({
    metadata: {
      name: "wg-lax1-lax2-0",
      resourceVersion: "7",
      labels: {
        "networkplan.networking.dn42.io/is-controlled-by": "wgp1",
        "networkplan.networking.dn42.io/config-hash": "0".repeat(40),
      },
      finalizers: ["networkplan.networking.dn42.io/finalizer"],
      ownerReferences: [{
        apiVersion: "networking.dn42.io/v1alpha1",
        kind: "WireGuardNetworkPlan",
        name: "wgp1",
        uid: "uid-1",
      }],
      ...over,
    },
    spec,
  });
  assert.equal(takeOverRefusal(goChild(), want), undefined);
  const ref = goChild().metadata.ownerReferences![0];
  const table: [string, ExistingChild, string][] = [
    [
      "another controller",
      goChild({ ownerReferences: [{ ...ref, uid: "x", controller: true }, ref] }),
      "it has a controller",
    ],
    ["no owner", goChild({ ownerReferences: [] }), "it has no owner reference to this plan"],
    [
      "another plan's uid",
      goChild({ ownerReferences: [{ ...ref, uid: "uid-0" }] }),
      "it has no owner reference to this plan",
    ],
    [
      "label of another plan",
      goChild({ labels: { "networkplan.networking.dn42.io/is-controlled-by": "other" } }),
      "its label networkplan.networking.dn42.io/is-controlled-by does not name this plan",
    ],
    ["being deleted", goChild({ deletionTimestamp: "2026-01-01T00:00:00Z" }), "it is being deleted"],
    [
      "another node",
      goChild({}, { ...lax1.spec, node: "lax9" }),
      "its node or interface name differs (both are immutable)",
    ],
  ];
  for (const [what, child, refusal] of table) assert.equal(takeOverRefusal(child, want), refusal, what);
  const other = { apiVersion: "v1", kind: "ConfigMap", name: "c", uid: "u2" };
  assert.deepEqual(takeOverPatch(goChild({ ownerReferences: [ref, other] }), want), [
    { op: "test", path: "/metadata/resourceVersion", value: "7" },
    { op: "replace", path: "/metadata/ownerReferences", value: [other, want.metadata.ownerReferences[0]] },
  ]);
});
