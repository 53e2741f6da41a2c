/**
 * kubeconfig TLS settings Deno's fetch cannot honour, against the real API server (its serving certificate has the
 * SANs 127.0.0.1 and localhost, scripts/controlplane/pki.ts): `insecure-skip-tls-verify: true` without a CA, and
 * `tls-server-name` naming a SAN while the URL uses another address. Both go through the node:https pool; each case
 * has a negative twin that shows the setting is what made it work. Also: a watch and connection reuse on that pool.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { readKubeconfig } from "../../scripts/controlplane/kubeconfig.ts";
import { skipUnless } from "../helpers/caps.ts";
import { serve } from "../../kit/apiproxy.ts";
import { KubeClient, type KubeObject } from "../../src/kube/client.ts";
import { loadKubeConfig } from "../../src/kube/config.ts";
import { type NamespaceContext, withNamespace } from "../../kit/cluster.ts";

const ignore = skipUnless("cluster");
const CONFIGMAPS = { group: "", version: "v1", plural: "configmaps" };
const b64 = (s: string) => new TextEncoder().encode(s).toBase64();

type Review = KubeObject & { status: { userInfo: { username: string } } };

function whoami(client: KubeClient): Promise<Review> {
  return client.request<Review>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
}

/** Runs `fn` with a factory of clients for the admin identity with the given cluster fields (written to a file). */
function withClients(
  fn: (
    ctx: NamespaceContext & { caData: string },
    make: (cluster: Record<string, unknown>) => Promise<KubeClient>,
  ) => Promise<void>,
): Promise<void> {
  return withNamespace(async (ctx) => {
    const admin = readKubeconfig(await Deno.readTextFile(ctx.kubeconfigPath));
    const dir = await Deno.makeTempDir({ prefix: "dn42op-kb-tls-" });
    const clients: KubeClient[] = [];
    let n = 0;
    const make = async (cluster: Record<string, unknown>) => {
      const path = `${dir}/kc${n++}`;
      await Deno.writeTextFile(
        path,
        stringify({
          "current-context": "c",
          contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
          clusters: [{ name: "c", cluster }],
          users: [{
            name: "u",
            user: { "client-certificate-data": b64(admin.certPem), "client-key-data": b64(admin.keyPem) },
          }],
        }),
      );
      const c = new KubeClient(loadKubeConfig({ kubeconfig: path }));
      clients.push(c);
      return c;
    };
    try {
      await fn({ ...ctx, caData: b64(admin.caPem) }, make);
    } finally {
      for (const c of clients) c.close();
      await Deno.remove(dir, { recursive: true });
    }
  }, { prefix: "dn42op-kb-" });
}

Deno.test({
  name: "insecure-skip-tls-verify without a CA works over https; without it the same kubeconfig fails verification",
  ignore,
  fn: () =>
    withClients(async ({ server }, make) => {
      const insecure = await make({ server, "insecure-skip-tls-verify": true });
      assert.ok((await whoami(insecure)).status.userInfo.username);
      const verifying = await make({ server });
      // Deno's fetch says "fetch failed"; the message carries the reason from its causes
      await assert.rejects(whoami(verifying), /RequestFailed.*fetch failed: .*certificate.*UnknownIssuer/is);
    }),
});

Deno.test({
  name: "tls-server-name: a SAN of the serving cert works while the URL uses 127.0.0.1; another name is refused",
  ignore,
  fn: () =>
    withClients(async ({ server, caData: ca }, make) => {
      const url = `https://127.0.0.1:${new URL(server).port}`;
      const named = await make({ server: url, "certificate-authority-data": ca, "tls-server-name": "localhost" });
      assert.ok((await whoami(named)).status.userInfo.username);
      const wrong = await make({ server: url, "certificate-authority-data": ca, "tls-server-name": "wrong.example" });
      await assert.rejects(whoami(wrong), /RequestFailed.*wrong\.example/);
    }),
});

Deno.test({
  name: "node:https pool: a watch sees a create and ends once on abort; 40 requests reuse a few connections",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withClients(async ({ server, namespace }, make) => {
      const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      let connections = 0;
      const port = Number(new URL(server).port);
      const relaying = serve(relay, () => (connections++, Deno.connect({ hostname: "127.0.0.1", port })));
      try {
        const client = await make({ server: `https://127.0.0.1:${relay.addr.port}`, "insecure-skip-tls-verify": true });
        const seen: string[] = [];
        let ends = 0;
        let endedWith: unknown = "open";
        const stop = await client.watch<KubeObject>(
          CONFIGMAPS,
          { namespace },
          (ev) => ev.type === "ADDED" && seen.push(ev.object.metadata.name ?? ""),
          (err) => (ends++, endedWith = err),
        );
        for (let i = 0; i < 20; i++) {
          const name = `cm-${i}`;
          await client.create(CONFIGMAPS, namespace, { apiVersion: "v1", kind: "ConfigMap", metadata: { name } });
          await client.get(CONFIGMAPS, namespace, name);
        }
        const deadline = Date.now() + 30_000;
        while (seen.filter((n) => n.startsWith("cm-")).length < 20 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(seen.filter((n) => n.startsWith("cm-")).length, 20, "the watch saw every create");
        stop();
        stop();
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(ends, 1);
        assert.equal(endedWith, null);
        // one connection for the sequential requests and one for the watch; a few more only if the server closed one
        assert.ok(connections >= 2 && connections <= 4, `${connections} connections for 40 requests and a watch`);
      } finally {
        relay.close();
        await relaying.catch(() => {});
      }
    }),
});
