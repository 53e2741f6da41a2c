/** Custom resources on the real apiserver: CRUD, schema validation, watch, status subresource, 409, finalizers. */
import assert from "node:assert/strict";
import { clientNode, mergePatch } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { ensureWidgetCrd, statusOf, type Widget, widget, widgets } from "./widget.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");
const opts = { prefix: "dn42op-cp-" };

Deno.test({
  name: "custom resource: create, get, list, patch, replace, delete; schema rejects out-of-range spec",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const merge = await mergePatch();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);
      const created: Widget = await co.createNamespacedCustomObject({ ...w, body: widget(namespace, "a") });
      assert.ok(created.metadata.uid);
      assert.equal(created.metadata.generation, 1);

      const got: Widget = await co.getNamespacedCustomObject({ ...w, name: "a" });
      assert.equal(got.spec?.size, 1);
      await co.createNamespacedCustomObject({ ...w, body: widget(namespace, "b", { size: 2 }) });
      const list = await co.listNamespacedCustomObject(w) as { items: Widget[] };
      assert.deepEqual(list.items.map((i) => i.metadata.name).sort(), ["a", "b"]);

      const patched: Widget = await co.patchNamespacedCustomObject(
        { ...w, name: "a", body: { spec: { color: "blue" } } },
        merge,
      );
      assert.deepEqual(patched.spec, { size: 1, color: "blue" });
      assert.equal(patched.metadata.generation, 2);

      const replaced: Widget = await co.replaceNamespacedCustomObject({
        ...w,
        name: "a",
        body: { ...patched, spec: { size: 7 } },
      });
      assert.deepEqual(replaced.spec, { size: 7 });

      const invalid = await statusOf(
        co.createNamespacedCustomObject({ ...w, body: widget(namespace, "bad", { size: 101 }) }),
      );
      assert.equal(invalid, 422);

      await co.deleteNamespacedCustomObject({ ...w, name: "a" });
      assert.equal(await statusOf(co.getNamespacedCustomObject({ ...w, name: "a" })), 404);
    }, opts),
});

Deno.test({
  name: "custom resource: a watch delivers ADDED, MODIFIED and DELETED in order",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const merge = await mergePatch();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);
      const seen: string[] = [];
      let ended = false;
      const path = `/apis/${w.group}/${w.version}/namespaces/${namespace}/${w.plural}`;
      const ac = await new k8s.Watch(kc).watch(
        path,
        {},
        (type: string, obj: Widget) => seen.push(`${type} ${obj.metadata.name} ${obj.spec?.size}`),
        () => (ended = true),
      );
      try {
        await co.createNamespacedCustomObject({ ...w, body: widget(namespace, "w", { size: 1 }) });
        await co.patchNamespacedCustomObject({ ...w, name: "w", body: { spec: { size: 2 } } }, merge);
        await co.deleteNamespacedCustomObject({ ...w, name: "w" });
        await until("three watch events", () => Promise.resolve(seen.length >= 3), 10_000);
        assert.deepEqual(seen, ["ADDED w 1", "MODIFIED w 2", "DELETED w 2"]);
      } finally {
        ac.abort();
      }
      await until("the watch to end after abort", () => Promise.resolve(ended), 5_000);
    }, opts),
});

Deno.test({
  name: "status subresource: the main resource ignores status, /status ignores spec, generation tracks spec only",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const merge = await mergePatch();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);
      const created: Widget = await co.createNamespacedCustomObject({
        ...w,
        body: { ...widget(namespace, "s"), status: { phase: "Ignored" } },
      });
      assert.equal(created.status, undefined, "status in a create is dropped");

      const st: Widget = await co.patchNamespacedCustomObjectStatus(
        { ...w, name: "s", body: { spec: { size: 50 }, status: { phase: "Ready", observedGeneration: 1 } } },
        merge,
      );
      assert.deepEqual(st.status, { phase: "Ready", observedGeneration: 1 });
      assert.equal(st.spec?.size, 1, "spec sent to /status is ignored");
      assert.equal(st.metadata.generation, 1, "a status write does not bump generation");

      const main: Widget = await co.patchNamespacedCustomObject(
        { ...w, name: "s", body: { spec: { size: 3 }, status: { phase: "Hacked" } } },
        merge,
      );
      assert.equal(main.spec?.size, 3);
      assert.equal(main.status?.phase, "Ready", "status sent to the main resource is ignored");
      assert.equal(main.metadata.generation, 2);
    }, opts),
});

Deno.test({
  name: "optimistic concurrency: an update with a stale resourceVersion gets 409 Conflict",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);
      const v1: Widget = await co.createNamespacedCustomObject({ ...w, body: widget(namespace, "c") });
      const v2: Widget = await co.replaceNamespacedCustomObject({
        ...w,
        name: "c",
        body: { ...v1, spec: { size: 2 } },
      });
      assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
      try {
        await co.replaceNamespacedCustomObject({ ...w, name: "c", body: { ...v1, spec: { size: 3 } } });
        assert.fail("a stale update was accepted");
      } catch (e) {
        assert.ok(e instanceof k8s.ApiException, String(e));
        assert.equal(e.code, 409);
        assert.equal(JSON.parse(e.body).reason, "Conflict");
      }
      const now: Widget = await co.getNamespacedCustomObject({ ...w, name: "c" });
      assert.equal(now.spec?.size, 2);
    }, opts),
});

Deno.test({
  name: "finalizer: deletion only sets deletionTimestamp until the finalizer is removed",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const merge = await mergePatch();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);
      const body = widget(namespace, "f");
      body.metadata.finalizers = ["test.dn42op.io/hold"];
      await co.createNamespacedCustomObject({ ...w, body });
      await co.deleteNamespacedCustomObject({ ...w, name: "f" });

      const held: Widget = await co.getNamespacedCustomObject({ ...w, name: "f" });
      assert.ok(held.metadata.deletionTimestamp, "deletionTimestamp is set");
      assert.deepEqual(held.metadata.finalizers, ["test.dn42op.io/hold"]);
      const noNewFinalizer = await statusOf(co.patchNamespacedCustomObject({
        ...w,
        name: "f",
        body: { metadata: { finalizers: ["test.dn42op.io/hold", "test.dn42op.io/other"] } },
      }, merge));
      assert.equal(noNewFinalizer, 422, "finalizers cannot be added once deletion started");

      await co.patchNamespacedCustomObject({ ...w, name: "f", body: { metadata: { finalizers: null } } }, merge);
      assert.equal(await statusOf(co.getNamespacedCustomObject({ ...w, name: "f" })), 404);
    }, opts),
});
