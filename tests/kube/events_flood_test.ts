/**
 * A flood of Events about one object (real kube-apiserver): what reaches the API server is bounded per object by the
 * correlator (src/kube/correlator.ts) — at most the burst, different messages of one reason combined into one Event —
 * and another object's Events are not affected.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { type CoreEvent, EventRecorder } from "../../src/kube/events.ts";
import { COMBINED_PREFIX, DEFAULT_CORRELATOR } from "../../src/kube/correlator.ts";
import type { ResourceType } from "../../src/kube/client.ts";
import { widget, WIDGETS, withKr } from "./testcrd.ts";

const EVENTS: ResourceType = { group: "", version: "v1", plural: "events" };

Deno.test({
  name: "events: 300 Warnings about one object store at most the burst, similar ones combined; others unaffected",
  ignore: skipUnless("cluster"),
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const noisy = await client.create(WIDGETS, namespace, widget(namespace, "noisy", "lax1"));
      const quiet = await client.create(WIDGETS, namespace, widget(namespace, "quiet", "lax1"));
      const rec = new EventRecorder(client, { component: "dn42op-ten-test", host: "lax1" });
      for (let i = 0; i < 200; i++) {
        void rec.record(noisy, "Warning", "EndpointUnresolvable", `peer ${i}: host p${i}.invalid does not resolve`);
      }
      for (let i = 0; i < 100; i++) void rec.record(noisy, "Warning", "LinkConflict", "link eth0 is not ours");
      await rec.record(quiet, "Warning", "LinkConflict", "link eth0 is not ours");

      const list = async (name: string) =>
        (await client.list<CoreEvent>(EVENTS, { namespace, fieldSelector: `involvedObject.name=${name}` })).items;
      const stored = await list("noisy");
      const { burst, maxSimilar } = DEFAULT_CORRELATOR;
      const total = stored.reduce((n, e) => n + (e.count ?? 1), 0);
      assert.equal(total, burst, "occurrences accepted: the per-object burst");
      assert.equal(rec.dropped, 300 - burst);
      assert.ok(stored.length <= maxSimilar + 1, `${stored.length} Events stored`);
      const combined = stored.filter((e) => e.message!.startsWith(COMBINED_PREFIX));
      assert.equal(combined.length, 1, "the similar messages beyond the limit share one Event");
      assert.equal(combined[0].count, burst - maxSimilar);
      assert.ok(!stored.some((e) => e.reason === "LinkConflict"), "the bucket was spent before these came");
      assert.deepEqual((await list("quiet")).map((e) => [e.reason, e.count]), [["LinkConflict", 1]]);
    }),
});
