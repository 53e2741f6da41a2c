import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { KubeConfigError, loadKubeConfig, SERVICE_ACCOUNT_DIR } from "../../src/kube/config.ts";
import { KubeClient, type KubeObject } from "../../src/kube/client.ts";
import { withKr } from "./testcrd.ts";

const ignore = skipUnless("cluster");

type Review = KubeObject & { status: { userInfo: { username: string } } };

function whoami(client: KubeClient): Promise<Review> {
  return client.request<Review>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
}

Deno.test("loadKubeConfig: missing file, bad URL and no in-cluster environment are named errors", () => {
  assert.throws(
    () => loadKubeConfig({ kubeconfig: "/nonexistent/kc" }),
    (e: Error) => e instanceof KubeConfigError && e.message.startsWith("-kubeconfig /nonexistent/kc:"),
  );
  assert.throws(
    () => loadKubeConfig({ master: "not a url" }),
    (e: Error) => e instanceof KubeConfigError && e.message.includes("-master not a url"),
  );
  const saved = Deno.env.get("KUBERNETES_SERVICE_HOST");
  Deno.env.delete("KUBERNETES_SERVICE_HOST");
  try {
    assert.throws(
      () => loadKubeConfig({}),
      (e: Error) => e instanceof KubeConfigError && e.message.includes("not running in a pod"),
    );
  } finally {
    if (saved !== undefined) Deno.env.set("KUBERNETES_SERVICE_HOST", saved);
  }
});

Deno.test({
  name: "loadKubeConfig: -kubeconfig file, -master override, and in-cluster service-account token",
  ignore,
  fn: () =>
    withKr(async ({ client, namespace, kubeconfigPath, server, info }) => {
      const fromFile = new KubeClient(loadKubeConfig({ kubeconfig: kubeconfigPath }));
      assert.equal((await whoami(fromFile)).status.userInfo.username, (await whoami(client)).status.userInfo.username);

      // -master overrides the server: a wrong port fails, the right one works.
      const wrong = new KubeClient(loadKubeConfig({ kubeconfig: kubeconfigPath, master: "https://127.0.0.1:1" }));
      await assert.rejects(whoami(wrong), /RequestFailed|ECONNREFUSED|connect/i);
      const port = new URL(server).port;
      const viaMaster = new KubeClient(
        loadKubeConfig({ kubeconfig: kubeconfigPath, master: `https://127.0.0.1:${port}` }),
      );
      assert.ok((await whoami(viaMaster)).status.userInfo.username);

      // In-cluster: a real service-account token from the TokenRequest API in a fake pod filesystem.
      assert.ok(info, "fixture cluster state (pki dir) needed");
      await client.create({ group: "", version: "v1", plural: "serviceaccounts" }, namespace, {
        metadata: { name: "kr-sa" },
      });
      const tr = await client.request<{ status: { token: string } }>(
        "POST",
        `/api/v1/namespaces/${namespace}/serviceaccounts/kr-sa/token`,
        { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } } },
      );
      const root = await Deno.makeTempDir({ prefix: "dn42op-kr-sa-" });
      const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port };
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
      try {
        const sa = `${root}${SERVICE_ACCOUNT_DIR}`;
        await Deno.mkdir(sa, { recursive: true });
        await Deno.writeTextFile(`${sa}/token`, tr.status.token);
        await Deno.copyFile(`${info.pki}/ca.crt`, `${sa}/ca.crt`);
        await Deno.writeTextFile(`${sa}/namespace`, namespace);
        for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
        const inCluster = new KubeClient(loadKubeConfig({ serviceAccountRoot: root }));
        assert.equal(
          (await whoami(inCluster)).status.userInfo.username,
          `system:serviceaccount:${namespace}:kr-sa`,
        );
      } finally {
        for (const [k, v] of Object.entries(saved)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
        await Deno.remove(root, { recursive: true });
      }
    }),
});
