/** RBAC with minted client-certificate identities: denied (403) until a Role allows, admin always allowed. */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl, mintIdentity, withNamespace } from "../../kit/cluster.ts";
import { ensureWidgetCrd, GROUP, PLURAL, statusOf, widget, widgets } from "./widget.ts";
import { until } from "../../kit/wait.ts";

Deno.test({
  name: "rbac: a minted identity is forbidden until bound to a read-only Role; writes stay forbidden; admin may",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureWidgetCrd();
      const group = "dn42op-cp-readers";
      const alice = await mintIdentity("dn42op-cp-alice", [group]);
      const k8s = await clientNode();
      const asAlice = alice.kc.makeApiClient(k8s.CustomObjectsApi);
      const asAdmin = kc.makeApiClient(k8s.CustomObjectsApi);
      const w = widgets(namespace);

      try {
        await asAlice.listNamespacedCustomObject(w);
        assert.fail("an unbound identity could list");
      } catch (e) {
        assert.ok(e instanceof k8s.ApiException, String(e));
        assert.equal(e.code, 403);
        const status = JSON.parse(e.body);
        assert.equal(status.reason, "Forbidden");
        assert.match(status.message, /User "dn42op-cp-alice" cannot list resource "widgets"/);
      }

      const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace,
        body: {
          metadata: { name: "widget-reader" },
          rules: [{ apiGroups: [GROUP], resources: [PLURAL], verbs: ["get", "list", "watch"] }],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace,
        body: {
          metadata: { name: "widget-reader" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "widget-reader" },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
        },
      });
      await until("the binding to take effect", async () =>
        (await statusOf(asAlice.listNamespacedCustomObject(w))) === 200);

      assert.equal(await statusOf(asAlice.createNamespacedCustomObject({ ...w, body: widget(namespace, "x") })), 403);
      assert.equal(await statusOf(asAlice.listNamespacedCustomObject({ ...w, namespace: "default" })), 403);
      assert.equal(await statusOf(asAdmin.createNamespacedCustomObject({ ...w, body: widget(namespace, "x") })), 200);
      assert.equal(await statusOf(asAlice.getNamespacedCustomObject({ ...w, name: "x" })), 200);

      const resource = `${PLURAL}.${GROUP}`;
      const canList = await kubectl(["auth", "can-i", "list", resource, "-n", namespace], {
        kubeconfig: alice.kubeconfigPath,
      });
      assert.equal(canList.stdout.trim(), "yes");
      const canCreate = await kubectl(["auth", "can-i", "create", resource, "-n", namespace], {
        kubeconfig: alice.kubeconfigPath,
        check: false,
      });
      assert.equal(canCreate.stdout.trim(), "no");
      assert.equal(canCreate.code, 1);
      const got = await kubectl(["get", resource, "-n", namespace, "-o", "name"], { kubeconfig: alice.kubeconfigPath });
      assert.equal(got.stdout.trim(), `widget.${GROUP}/x`);
    }, { prefix: "dn42op-cp-" }),
});
