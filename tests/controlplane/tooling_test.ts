/** The cluster tooling itself: versions, kubectl apply -k, ValidatingAdmissionPolicy, reuse of a running cluster. */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { stringify } from "yaml";
import { clusterUp } from "../../scripts/cluster.ts";
import { skipUnless } from "../helpers/caps.ts";
import { cluster, kubectl, withNamespace } from "../../kit/cluster.ts";
import { statusOf } from "./widget.ts";
import { until } from "../../kit/wait.ts";

const ignore = skipUnless("cluster");
const opts = { prefix: "dn42op-cp-" };

Deno.test({
  name: "tooling: kubectl and the apiserver report the pinned Kubernetes version",
  ignore,
  fn: async () => {
    const v = JSON.parse((await kubectl(["version", "-o", "json"])).stdout);
    assert.equal(v.clientVersion.gitVersion, "v1.34.4");
    assert.equal(v.serverVersion.gitVersion, "v1.34.4");
    assert.equal(v.serverVersion.minor, "34");
  },
});

Deno.test({
  name: "tooling: kubectl apply -k creates the kustomization's objects with its labels",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      const dir = await Deno.makeTempDir({ prefix: "dn42op-cp-kustomize-" });
      try {
        await Deno.writeTextFile(
          `${dir}/kustomization.yaml`,
          stringify({
            namespace,
            labels: [{ pairs: { "app.kubernetes.io/part-of": "dn42op-cp-test" } }],
            resources: ["cm.yaml"],
          }),
        );
        await Deno.writeTextFile(
          `${dir}/cm.yaml`,
          stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "kust" }, data: { k: "v" } }),
        );
        await kubectl(["apply", "-k", dir]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const k8s = await clientNode();
      const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace, name: "kust" });
      assert.deepEqual(cm.data, { k: "v" });
      assert.equal(cm.metadata?.labels?.["app.kubernetes.io/part-of"], "dn42op-cp-test");
    }, opts),
});

Deno.test({
  name: "tooling: a ValidatingAdmissionPolicy is enforced (the API is enabled and admission runs it)",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      const k8s = await clientNode();
      const adm = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const name = namespace; // unique, cluster-scoped objects named after the test namespace
      await adm.createValidatingAdmissionPolicy({
        body: {
          metadata: { name },
          spec: {
            failurePolicy: "Fail",
            matchConstraints: {
              resourceRules: [{
                apiGroups: [""],
                apiVersions: ["v1"],
                operations: ["CREATE"],
                resources: ["configmaps"],
              }],
            },
            validations: [{
              expression: "!has(object.data) || !('forbidden' in object.data)",
              message: "dn42op-cp: key 'forbidden' is not allowed",
              reason: "Forbidden",
            }],
          },
        },
      });
      try {
        await adm.createValidatingAdmissionPolicyBinding({
          body: {
            metadata: { name },
            spec: {
              policyName: name,
              validationActions: ["Deny"],
              matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } },
            },
          },
        });
        let i = 0;
        const attempt = () =>
          statusOf(core.createNamespacedConfigMap({
            namespace,
            body: { metadata: { name: `bad-${i++}` }, data: { forbidden: "x" } },
          }));
        await until("the policy to deny", async () => (await attempt()) === 403);
        assert.equal(
          await statusOf(core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "good" } } })),
          200,
        );
      } finally {
        await adm.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => {});
        await adm.deleteValidatingAdmissionPolicy({ name });
      }
    }, opts),
});

Deno.test({
  name: "tooling: clusterUp on a running cluster's directory reuses it (same PIDs, same server)",
  ignore,
  fn: async () => {
    const c = await cluster();
    assert.ok(c.info, "the fixture's cluster has a state.json");
    const again = await clusterUp({ dir: c.dir, log: () => {} });
    assert.equal(again.reused, true);
    assert.equal(again.server, c.server);
    assert.deepEqual(again.pids, c.info.pids);
  },
});
