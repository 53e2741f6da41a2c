import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { StatusWriter } from "../../src/kube/status.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../../src/kube/finalizers.ts";
import { type CoreEvent, EventRecorder } from "../../src/kube/events.ts";
import { isNotFound, KubeApiError, type ResourceType } from "../../src/kube/client.ts";
import { type Widget, widget, WIDGETS, withKr } from "./testcrd.ts";

const ignore = skipUnless("cluster");
const EVENTS: ResourceType = { group: "", version: "v1", plural: "events" };

Deno.test({
  name:
    "status writer: writes through /status, skips unchanged status, retries a real 409 with the mutation re-applied",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const created = await client.create(WIDGETS, namespace, widget(namespace, "s1", "lax1", "hello"));
      const sw = new StatusWriter<Widget>(client, WIDGETS, "kr-test-controller");
      const observe = (o: Widget) => ({ ...o.status, observed: o.spec?.value });

      const r1 = await sw.update(namespace, "s1", observe, created);
      assert.equal(r1.written, true);
      assert.equal(r1.object.status?.observed, "hello");
      assert.equal(r1.object.spec?.value, "hello", "spec untouched");
      const managers = r1.object.metadata as { managedFields?: { manager: string; subresource?: string }[] };
      assert.ok(
        managers.managedFields?.some((m) => m.manager === "kr-test-controller" && m.subresource === "status"),
        "field manager is the controller name",
      );

      const r2 = await sw.update(namespace, "s1", observe);
      assert.equal(r2.written, false, "same status: nothing sent");
      assert.equal(r2.object.metadata.resourceVersion, r1.object.metadata.resourceVersion, "no RV churn");

      // A stale cached copy: the PUT carries an old resourceVersion and the API server answers 409.
      const stale = r1.object;
      const fresh = await client.get<Widget>(WIDGETS, namespace, "s1");
      await client.replace(WIDGETS, { ...fresh, spec: { node: "lax1", value: "world" } });
      let calls = 0;
      const r3 = await sw.update(namespace, "s1", (o) => {
        calls++;
        return { observed: o.spec?.value, count: (o.status?.count ?? 0) + 1 };
      }, stale);
      assert.equal(r3.written, true);
      assert.equal(r3.conflicts, 1, "one real 409 retried");
      assert.equal(calls, 2, "mutation re-applied to the re-read object");
      assert.deepEqual(r3.object.status, { observed: "world", count: 1 });

      // Two writers racing on a counter: both increments survive.
      await Promise.all([0, 1].map(() =>
        sw.update(namespace, "s1", (o) => ({ ...o.status, count: (o.status?.count ?? 0) + 1 }), r3.object)
      ));
      const final = await client.get<Widget>(WIDGETS, namespace, "s1");
      assert.equal(final.status?.count, 3);

      await assert.rejects(sw.update(namespace, "missing", observe), (e) =>
        isNotFound(e));
    }),
});

Deno.test({
  name: "finalizers: add/remove only ours; a foreign finalizer survives, also when it changes concurrently",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const ours = "kr.test.dn42op.io/cleanup";
      const theirs = "other.example.com/keep";
      const w = widget(namespace, "f1", "lax1");
      w.metadata.finalizers = [theirs];
      const created = await client.create<Widget>(WIDGETS, namespace, w);

      const added = await addFinalizer(client, WIDGETS, created, ours);
      assert.deepEqual(added?.metadata.finalizers, [theirs, ours]);
      assert.equal(await addFinalizer(client, WIDGETS, added!, ours), added, "idempotent: no request when present");

      // An invalid finalizer name is a real validation error: reported, not retried forever.
      await assert.rejects(addFinalizer(client, WIDGETS, added!, "not a valid/finalizer/name"), (e) =>
        e instanceof KubeApiError && e.code === 422);
      // Someone else adds a finalizer after we read the object: our guarded patch fails its test, we re-read.
      const staleView = added!;
      const cur = await client.get<Widget>(WIDGETS, namespace, "f1");
      await client.replace(WIDGETS, {
        ...cur,
        metadata: { ...cur.metadata, finalizers: ["third.example.com/x", theirs, ours] },
      });
      const removed = await removeFinalizer(client, WIDGETS, staleView, ours);
      assert.deepEqual(removed?.metadata.finalizers, ["third.example.com/x", theirs]);

      // Deletion with a foreign finalizer left: the object stays (deletionTimestamp set) after we remove ours.
      const again = await addFinalizer(client, WIDGETS, removed!, ours);
      await client.delete(WIDGETS, namespace, "f1");
      const deleting = await client.get<Widget>(WIDGETS, namespace, "f1");
      assert.ok(deleting.metadata.deletionTimestamp);
      assert.ok(hasFinalizer(again!, ours));
      const left = await removeFinalizer(client, WIDGETS, deleting, ours);
      assert.deepEqual(left?.metadata.finalizers, ["third.example.com/x", theirs]);
      // The other owners finish; the object disappears. Removing ours from a stale copy then reports "gone".
      await client.patch(WIDGETS, namespace, "f1", "merge", { metadata: { finalizers: null } });
      assert.equal(await removeFinalizer(client, WIDGETS, deleting, ours), undefined);
      await assert.rejects(client.get(WIDGETS, namespace, "f1"), (e) =>
        isNotFound(e));
    }),
});

Deno.test({
  name: "events: core/v1 Event on the object with source, repeats aggregated into count, key-looking text redacted",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const obj = await client.create<Widget>(WIDGETS, namespace, widget(namespace, "e1", "lax1"));
      const rec = new EventRecorder(client, { component: "kr-test-controller", host: "lax1" });
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
      await rec.record(obj, "Warning", "BadKey", `cannot parse key ${key}`);
      await rec.record(obj, "Warning", "BadKey", `cannot parse key ${key}`);
      await rec.record(obj, "Normal", "LinkCreated", "created link wg0");
      const events = (await client.list<CoreEvent>(EVENTS, {
        namespace,
        fieldSelector: `involvedObject.name=e1,involvedObject.uid=${obj.metadata.uid}`,
      })).items;
      const byReason = Object.fromEntries(events.map((e) => [e.reason, e]));
      assert.equal(events.length, 2, JSON.stringify(events.map((e) => [e.reason, e.count])));
      assert.equal(byReason.BadKey.count, 2);
      assert.equal(byReason.BadKey.type, "Warning");
      assert.equal(byReason.BadKey.message, "cannot parse key [redacted]");
      assert.ok(!JSON.stringify(events).includes(key), "the key never reached the API server");
      assert.deepEqual(byReason.BadKey.source, { component: "kr-test-controller", host: "lax1" });
      assert.equal(byReason.BadKey.involvedObject.kind, "Widget");
      assert.equal(byReason.BadKey.involvedObject.apiVersion, "kr.test.dn42op.io/v1");
      assert.equal(byReason.LinkCreated.count, 1);
      assert.equal(byReason.LinkCreated.message, "created link wg0");
    }),
});
