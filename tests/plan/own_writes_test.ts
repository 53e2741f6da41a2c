/**
 * Own-write echoes: the plan controller runs no second pass for the watch events of the children it has just
 * written itself (src/kube/own_writes.ts), while a change made by anyone else still brings the plan back.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { OwnWrites } from "../../src/kube/own_writes.ts";
import { INTERFACES, type PlanObject, PLANS } from "../../src/controllers/wgplan/resources.ts";
import { wgp1Spec } from "../../kit/plan_fixtures.ts";
import { clusterTest, listChildren, planObject, releaseAll, startController } from "./harness.ts";
import { holds, until } from "../../kit/wait.ts";

const ignore = await skipUnless("cluster");

const obj = (name: string, rv?: string): KubeObject => ({
  metadata: { namespace: "n", name, ...(rv === undefined ? {} : { resourceVersion: rv }) },
});

/** Delivers `events` through `w` as the controller's watch does; returns the ones that got through (now or later). */
function watchThrough(w: OwnWrites, delivered: string[]) {
  return (o: KubeObject) => {
    const tag = `${o.metadata.name}@${o.metadata.resourceVersion}`;
    if (!w.intercept(o, () => delivered.push(tag))) delivered.push(tag);
  };
}

Deno.test("OwnWrites: the echo of our write is dropped, before or after the response; other events get through", async () => {
  type Step = { event: KubeObject } | { write: KubeObject; during?: KubeObject[] } | { failedWrite: KubeObject[] } | {
    deleted: KubeObject;
  };
  const cases: { name: string; steps: Step[]; delivered: string[] }[] = [
    { name: "echo after the response", steps: [{ write: obj("a", "5") }, { event: obj("a", "5") }], delivered: [] },
    {
      name: "echo before the response",
      steps: [{ write: obj("a", "5"), during: [obj("a", "5")] }],
      delivered: [],
    },
    {
      name: "another writer's version meanwhile, then our echo",
      steps: [{ write: obj("a", "5"), during: [obj("a", "4"), obj("a", "5")] }],
      delivered: ["a@4"],
    },
    {
      name: "another version after ours",
      steps: [{ write: obj("a", "5") }, { event: obj("a", "6") }],
      delivered: ["a@6"],
    },
    { name: "another object", steps: [{ write: obj("a", "5") }, { event: obj("b", "5") }], delivered: ["b@5"] },
    {
      name: "a version answers once (a relist is news)",
      steps: [{ write: obj("a", "5") }, { event: obj("a", "5") }, { event: obj("a", "5") }],
      delivered: ["a@5"],
    },
    {
      name: "a later write replaces",
      steps: [{ write: obj("a", "5") }, { write: obj("a", "7") }, { event: obj("a", "5") }, { event: obj("a", "7") }],
      delivered: ["a@5"],
    },
    {
      name: "forgotten on deletion",
      steps: [{ write: obj("a", "5") }, { deleted: obj("a") }, { event: obj("a", "5") }],
      delivered: ["a@5"],
    },
    { name: "a failed write delivers what it held", steps: [{ failedWrite: [obj("a", "4")] }], delivered: ["a@4"] },
    {
      name: "a response without a version",
      steps: [{ write: obj("a") }, { event: obj("a") }],
      delivered: ["a@undefined"],
    },
  ];
  for (const c of cases) {
    const w = new OwnWrites();
    const delivered: string[] = [];
    const see = watchThrough(w, delivered);
    for (const s of c.steps) {
      if ("event" in s) see(s.event);
      else if ("deleted" in s) w.forget(s.deleted);
      else if ("write" in s) {
        await w.track(`n/${s.write.metadata.name}`, () => (s.during?.forEach(see), Promise.resolve(s.write)));
      } else {
        await assert.rejects(w.track("n/a", () => (s.failedWrite.forEach(see), Promise.reject(new Error("409")))));
      }
    }
    assert.deepEqual(delivered, c.delivered, c.name);
    assert.ok(w.size <= 1, `${c.name}: at most one entry per object`);
  }
});

/** The plan controller's successful passes, from its /metrics. */
async function passes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /controller_runtime_reconcile_total\{controller="wgplan-controller",result="success"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

clusterTest("a plan is not expanded again for the echoes of the children it wrote; another's edit still counts", {
  ignore,
  prefix: "dn42op-ow-",
}, async ({ kc, ns, client }) => {
  let port = 0;
  // No heartbeats are published, so no agent's Lease brings the plan back either.
  const ctl = startController(kc, ns, { ops: { address: "127.0.0.1:0" }, onOpsListening: (s) => (port = s.port) });
  try {
    await client.create(PLANS, ns, planObject("wgp1", ns, wgp1Spec()));
    await until("children and status", async () => {
      const p = await client.get<PlanObject>(PLANS, ns, "wgp1");
      return p.status?.interfaces?.length === 2 && (await listChildren(client, ns, "wgp1")).size === 2;
    });
    // Someone else annotates a child: a watch event that is not an echo. Events of one watch arrive in order, so
    // once its pass has run, the children's echoes (earlier on the same watch) have been seen too.
    await client.patch(INTERFACES, ns, "wg-lax1-lax2-0", "merge", {
      metadata: { annotations: { "example.com/touched": "yes" } },
    });
    await until("a pass for the other writer's edit", async () => (await passes(port)) >= 2);
    // The two passes stay two: the creation's and the edit's (with echoes counted, there are three).
    await holds("two passes", () => passes(port), 2, 2000);
  } finally {
    assert.equal(await ctl.stop(), 0);
    await releaseAll(client, ns);
  }
});
