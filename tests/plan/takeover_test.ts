/**
 * Migration from the Go implementation's plan controller, against the real API server: the children it made for a
 * plan (its shape: the plan's name in the is-controlled-by label, a plain owner reference to the plan, the inline
 * private key, the plan-child finalizer) are left alone and reported until the plan opts in with the annotation
 * `networkplan.networking.dn42.io/take-over-children: "true"`; then they are taken over in place (same object). A
 * WireGuardInterface with a child's name that the Go controller did not make for this plan is never taken over.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { skipUnless } from "../helpers/caps.ts";
import { type InterfaceObject, INTERFACES, type PlanObject, PLANS } from "../../src/controllers/wgplan/resources.ts";
import { expandPlan, type NodeKey } from "../../src/plan/expand.ts";
import { publicKeyOf, WireGuardKey } from "../../src/wireguard/key.ts";
import { clusterTest, planOwnerReference, releaseAll, startController } from "./harness.ts";
import { until } from "../../kit/wait.ts";

const ignore = await skipUnless("cluster");
const TAKE_OVER = "networkplan.networking.dn42.io/take-over-children";

/** The children of `plan` exactly as the Go implementation's plan controller writes them. */
async function goChildren(plan: PlanObject): Promise<InterfaceObject[]> {
  const keys = new Map<string, NodeKey>();
  const priv = new Map<string, string>();
  for (const n of plan.spec.nodes!) {
    priv.set(n.nodeName, n.privateKey!);
    const publicKey = (await publicKeyOf(WireGuardKey.parse("private", n.privateKey!))).toBase64();
    keys.set(n.nodeName, { publicKey, secretRef: { name: "unused", key: n.nodeName, namespace: "unused" } });
  }
  return expandPlan(plan.spec, keys).interfaces.map((d) => {
    const { privateKeySecretRef: _, ...spec } = d.spec;
    return {
      apiVersion: "networking.dn42.io/v1alpha1",
      kind: "WireGuardInterface",
      metadata: {
        name: d.objectName,
        namespace: plan.metadata.namespace,
        labels: {
          "networkplan.networking.dn42.io/resource-id": d.resourceId,
          "networkplan.networking.dn42.io/config-hash": "5f".repeat(20),
          "networkplan.networking.dn42.io/is-controlled-by": plan.metadata.name!,
        },
        annotations: { "networkplan.networking.dn42.io/parent-observed-generation": "1" },
        finalizers: ["networkplan.networking.dn42.io/finalizer"],
        ownerReferences: [{
          apiVersion: "networking.dn42.io/v1alpha1",
          kind: "WireGuardNetworkPlan",
          name: plan.metadata.name!,
          uid: plan.metadata.uid!,
        }],
      },
      spec: { ...spec, privateKey: priv.get(d.fromNode) },
    };
  });
}

clusterTest("Go-made children are taken over only when the plan opts in; a foreign object with a child's name never", {
  ignore,
  prefix: "dn42op-pl-",
}, async ({ kc, ns, client }) => {
  const example = parse(
    await Deno.readTextFile(new URL("../../example/wgp/wgp1.yaml", import.meta.url)),
  ) as PlanObject;
  // The plan as the Go implementation ran it, with its two children; then our controller starts.
  const plan = await client.create<PlanObject>(PLANS, ns, {
    ...example,
    metadata: { ...example.metadata, namespace: ns },
  });
  const [goChild, userObject] = await goChildren(plan);
  // The second name is held by a user's own object: no owner reference, no label.
  userObject.metadata = { name: userObject.metadata.name, namespace: ns };
  const made = [
    await client.create<InterfaceObject>(INTERFACES, ns, goChild),
    await client.create<InterfaceObject>(INTERFACES, ns, userObject),
  ];
  const ctl = startController(kc, ns);
  try {
    const degraded = (p: PlanObject | undefined) => p?.status?.conditions?.find((c) => c.type === "Degraded");
    const refused = await until("both names reported", async () => {
      const p = await client.get<PlanObject>(PLANS, ns, "wgp1");
      return degraded(p)?.reason === "NameConflict" && p;
    });
    const message = degraded(refused)!.message;
    assert.match(message, new RegExp(`wg-lax1-lax2-0 .* annotate the plan with ${TAKE_OVER}="true"`));
    assert.match(message, /wg-lax2-lax1-0 .*\(it has no owner reference to this plan\); it is left alone/);
    for (const c of made) {
      const now = await client.get<InterfaceObject>(INTERFACES, ns, c.metadata.name!);
      assert.equal(now.metadata.resourceVersion, c.metadata.resourceVersion, `${c.metadata.name} untouched`);
    }

    await client.patch(PLANS, ns, "wgp1", "merge", { metadata: { annotations: { [TAKE_OVER]: "true" } } });
    const taken = await until("the Go child taken over", async () => {
      const c = await client.get<InterfaceObject>(INTERFACES, ns, "wg-lax1-lax2-0");
      const ref = (c.spec as { privateKeySecretRef?: unknown }).privateKeySecretRef;
      return c.metadata.ownerReferences?.[0]?.controller && ref !== undefined ? c : undefined;
    });
    assert.equal(taken.metadata.uid, made[0].metadata.uid, "the same object");
    assert.deepEqual(taken.metadata.ownerReferences, [planOwnerReference("wgp1", plan.metadata.uid)]);
    assert.equal((taken.spec as { privateKey?: string }).privateKey, undefined, "no inline key any more");
    // No node agent runs here, so nothing waits for one: the Go controller's child finalizer is gone too.
    assert.deepEqual(taken.metadata.finalizers ?? [], []);
    const after = await until("only the user's object still reported", async () => {
      const p = await client.get<PlanObject>(PLANS, ns, "wgp1");
      const m = degraded(p)?.message ?? "";
      return !m.includes("wg-lax1-lax2-0") && m.includes("wg-lax2-lax1-0") && p;
    });
    assert.equal(degraded(after)?.status, "True");
    const user = await client.get<InterfaceObject>(INTERFACES, ns, "wg-lax2-lax1-0");
    assert.equal(user.metadata.resourceVersion, made[1].metadata.resourceVersion, "the user's object untouched");
  } finally {
    await ctl.stop();
    await releaseAll(client, ns);
  }
});
