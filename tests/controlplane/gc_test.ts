/** kube-controller-manager's garbage collector and namespace controller acting on the real apiserver. */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { cluster, withNamespace } from "../../kit/cluster.ts";
import { ensureWidgetCrd, GROUP, KIND, statusOf, VERSION, type Widget, widget, widgets } from "./widget.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");

Deno.test({
  name: "garbage collection: deleting an owner Widget deletes its owner-referenced ConfigMap, not others",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const k8s = await clientNode();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const owner: Widget = await co.createNamespacedCustomObject({
        ...widgets(namespace),
        body: widget(namespace, "owner"),
      });
      const ownerReferences = [{
        apiVersion: `${GROUP}/${VERSION}`,
        kind: KIND,
        name: "owner",
        uid: owner.metadata.uid!,
      }];
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "child", ownerReferences } } });
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "bystander" } } });

      await co.deleteNamespacedCustomObject({ ...widgets(namespace), name: "owner" });
      await until(
        "the garbage collector to delete the child",
        async () => (await statusOf(core.readNamespacedConfigMap({ namespace, name: "child" }))) === 404, // The collector picks up a CRD installed after it started at its next discovery resync (every 30 s).
        90_000,
      );
      const bystander = await core.readNamespacedConfigMap({ namespace, name: "bystander" });
      assert.equal(bystander.metadata?.name, "bystander");
    }, { prefix: "dn42op-cp-" }),
});

Deno.test({
  name: "namespace controller: a deleted namespace with content is emptied and removed",
  ignore,
  fn: async () => {
    const { kc } = await cluster();
    const k8s = await clientNode();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const name = `dn42op-cp-nsdel-${crypto.randomUUID().slice(0, 8)}`;
    await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedConfigMap({ namespace: name, body: { metadata: { name: "content" } } });
    await core.deleteNamespace({ name });
    const terminating = await core.readNamespace({ name }).catch(() => null);
    if (terminating) assert.equal(terminating.status?.phase, "Terminating");
    await until("the namespace to disappear", async () => (await statusOf(core.readNamespace({ name }))) === 404);
  },
});
