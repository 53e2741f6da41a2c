import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { Informer } from "../../src/kube/informer.ts";
import { objectKey } from "../../src/kube/client.ts";
import { touchWidgetCrd, type Widget, widget, WIDGETS, withKr } from "./testcrd.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");

/** Records every handler call as "kind:name[:value]". */
function recorder(inf: Informer<Widget>) {
  const log: string[] = [];
  inf.on({
    add: (o) => log.push(`add:${o.metadata.name}`),
    update: (_a, b) => log.push(`update:${b.metadata.name}:${b.spec?.value}`),
    delete: (o) => log.push(`delete:${o.metadata.name}`),
  });
  return log;
}

Deno.test({
  name: "informer: initial list, then add/update/delete from the watch; cache keyed by namespace/name",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      await client.create(WIDGETS, namespace, widget(namespace, "pre", "lax1"));
      const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace });
      const log = recorder(inf);
      inf.start();
      try {
        assert.equal(await inf.waitForSync(), true);
        assert.equal(inf.hasSynced(), true);
        assert.deepEqual(log, ["add:pre"]);
        const cached = inf.store.get(`${namespace}/pre`);
        assert.equal(cached?.kind, "Widget", "list items get kind/apiVersion filled in");
        assert.equal(cached?.apiVersion, "kr.test.dn42op.io/v1");

        await client.create(WIDGETS, namespace, widget(namespace, "w1", "lax1"));
        await until("add:w1", () => log.includes("add:w1"), 10_000);
        const w1 = await client.get<Widget>(WIDGETS, namespace, "w1");
        await client.replace(WIDGETS, { ...w1, spec: { node: "lax1", value: "v1" } });
        await until("update:w1:v1", () => log.includes("update:w1:v1"), 10_000);
        assert.equal(inf.store.get(`${namespace}/w1`)?.spec?.value, "v1");
        await client.delete(WIDGETS, namespace, "w1");
        await until("delete:w1", () => log.includes("delete:w1"), 10_000);
        assert.equal(inf.store.get(`${namespace}/w1`), undefined);
        assert.deepEqual(log, ["add:pre", "add:w1", "update:w1:v1", "delete:w1"]);
        assert.equal(inf.stats.lists, 1);
        assert.equal(inf.stats.errors, 0);
      } finally {
        await inf.stop();
      }
    }),
});

Deno.test({
  name: "informer: server-side field selector spec.node and namespace scoping; leaving the selection is a delete",
  ignore,
  fn: () =>
    withKr(({ client, namespace }) =>
      withNamespace(async ({ namespace: other }) => {
        const lax1 = new Informer<Widget>(client, { resource: WIDGETS, fieldSelector: "spec.node=lax1" });
        const scoped = new Informer<Widget>(client, {
          resource: WIDGETS,
          namespace,
          fieldSelector: "spec.node=lax1",
        });
        const log = recorder(lax1);
        const scopedLog = recorder(scoped);
        lax1.start();
        scoped.start();
        try {
          await lax1.waitForSync();
          await scoped.waitForSync();
          for (const [ns, name, node] of [[namespace, "a", "lax1"], [namespace, "b", "sjc1"], [other, "c", "lax1"]]) {
            await client.create(WIDGETS, ns, widget(ns, name, node));
          }
          await until("adds", () => log.includes("add:c") && scopedLog.includes("add:a"), 10_000);
          const mine = (inf: Informer<Widget>) =>
            inf.store.keys().filter((k) => k.startsWith(namespace) || k.startsWith(other)).sort();
          assert.deepEqual(mine(lax1), [`${namespace}/a`, `${other}/c`].sort());
          assert.deepEqual(mine(scoped), [`${namespace}/a`]);
          // moving "a" to another node takes it out of the selection: the watch reports a delete
          const a = await client.get<Widget>(WIDGETS, namespace, "a");
          await client.replace(WIDGETS, { ...a, spec: { node: "sjc1", value: "moved" } });
          await until("delete:a", () => log.includes("delete:a") && scopedLog.includes("delete:a"), 10_000);
          assert.ok(!log.some((l) => l.includes(":b")), `never saw the sjc1 object: ${log}`);
          assert.deepEqual(mine(lax1), [`${other}/c`]);
          assert.deepEqual(mine(scoped), []);
        } finally {
          await lax1.stop();
          await scoped.stop();
        }
      }, { prefix: "dn42op-kr-" })
    ),
});

Deno.test({
  name: "informer: label selector",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace, labelSelector: "team=kr" });
      const log = recorder(inf);
      inf.start();
      try {
        await inf.waitForSync();
        const labelled = widget(namespace, "l1", "lax1");
        labelled.metadata.labels = { team: "kr" };
        await client.create(WIDGETS, namespace, widget(namespace, "u1", "lax1"));
        await client.create(WIDGETS, namespace, labelled);
        await until("add:l1", () => log.includes("add:l1"), 10_000);
        assert.deepEqual(inf.store.keys(), [`${namespace}/l1`]);
      } finally {
        await inf.stop();
      }
    }),
});

Deno.test({
  name: "informer: watches closed by the server are resumed from the last resourceVersion without relisting",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace, watchTimeoutSeconds: 1 });
      const log = recorder(inf);
      inf.start();
      try {
        await inf.waitForSync();
        for (let i = 0; i < 4; i++) {
          await client.create(WIDGETS, namespace, widget(namespace, `r${i}`, "lax1"));
          const watches = inf.stats.watches;
          await until("the server to close the watch twice", () => inf.stats.watches > watches + 1, 15_000);
        }
        await until("all four objects cached", () => inf.store.size === 4, 10_000);
        assert.deepEqual(log, ["add:r0", "add:r1", "add:r2", "add:r3"], "every event exactly once");
        assert.equal(inf.stats.lists, 1, "no relist");
        assert.ok(inf.stats.watches >= 9, `watches ${inf.stats.watches}`);
      } finally {
        await inf.stop();
      }
    }),
});

Deno.test({
  name: "informer: watchdog restarts a watch that went silent",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      const inf = new Informer<Widget>(client, {
        resource: WIDGETS,
        namespace,
        watchTimeoutSeconds: 3600,
        watchdogMs: 700,
      });
      const log = recorder(inf);
      inf.start();
      try {
        await inf.waitForSync();
        await until("two watchdog aborts", () => inf.stats.watchdogAborts >= 2, 15_000);
        await client.create(WIDGETS, namespace, widget(namespace, "after", "lax1"));
        await until("event after watchdog restarts", () => log.includes("add:after"), 10_000);
        assert.equal(inf.stats.lists, 1, "watchdog restarts resume, they don't relist");
      } finally {
        await inf.stop();
      }
    }),
});

Deno.test({
  name: "informer: 410 Gone after the API server rebuilt its watch cache → relist, then watching resumes",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace }) => {
      for (const n of ["keep", "gone"]) await client.create(WIDGETS, namespace, widget(namespace, n, "lax1"));
      // Short server-side watch timeout: the informer reconnects every second, from its last resourceVersion.
      const inf = new Informer<Widget>(client, { resource: WIDGETS, namespace, watchTimeoutSeconds: 1 });
      const log = recorder(inf);
      inf.start();
      try {
        await inf.waitForSync();
        const rvBefore = inf.resourceVersion;
        // A CRD schema change makes the API server replace the resource's storage and watch cache; the new cache
        // starts at the current etcd revision, so resuming from an older resourceVersion is answered with 410.
        // (No writes until then: a reconnect that still reaches the old storage would deliver them and advance the
        // informer's resourceVersion past the new cache's start, which is no 410 at all.)
        await touchWidgetCrd(client);
        await until("a relist after 410", () => inf.stats.relists >= 1, 30_000);
        await client.delete(WIDGETS, namespace, "gone");
        await client.create(WIDGETS, namespace, widget(namespace, "new", "lax1"));
        await until("changes after the relist", () => log.includes("delete:gone") && log.includes("add:new"), 15_000);
        assert.ok(inf.stats.lists >= 2, `lists ${inf.stats.lists}`);
        assert.notEqual(inf.resourceVersion, rvBefore);
        const server = (await client.list<Widget>(WIDGETS, { namespace })).items.map(objectKey).sort();
        assert.deepEqual(inf.store.keys().sort(), server);
      } finally {
        await inf.stop();
      }
    }),
});
