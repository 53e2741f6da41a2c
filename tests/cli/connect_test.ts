/** How the CLI finds its cluster: kubectl's kubeconfig order, KUBECONFIG lists merged, --context, the namespace. */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { kubeconfigPaths } from "../../src/cli/connect.ts";
import { loadKubeConfigText } from "../../src/kube/config.ts";
import { mergeKubeConfigs, selectCurrentContext } from "../../src/kube/kubeconfig.ts";

Deno.test("kubeconfigPaths: --kubeconfig, else $KUBECONFIG (existing files of the list), else ~/.kube/config, else in-cluster", () => {
  const has = (...p: string[]) => (x: string) => p.includes(x);
  assert.deepEqual(kubeconfigPaths("/k", { KUBECONFIG: "/a" }, has()), { paths: ["/k"], label: "--kubeconfig /k" });
  assert.deepEqual(kubeconfigPaths(undefined, { KUBECONFIG: "/a::/b:/c", HOME: "/h" }, has("/a", "/c")), {
    paths: ["/a", "/c"],
    label: "$KUBECONFIG",
  });
  assert.deepEqual(kubeconfigPaths(undefined, { HOME: "/h" }, has("/h/.kube/config")), {
    paths: ["/h/.kube/config"],
    label: "/h/.kube/config",
  });
  assert.deepEqual(kubeconfigPaths(undefined, { HOME: "/h" }, has()), { paths: [], label: "in-cluster config" });
});

const fileA = {
  "current-context": "a",
  clusters: [{ name: "c1", cluster: { server: "https://a.example:6443", "certificate-authority": "ca.crt" } }],
  users: [{ name: "u1", user: { token: "t-a" } }],
  contexts: [
    { name: "a", context: { cluster: "c1", user: "u1" } },
    { name: "shared", context: { cluster: "c1", user: "u1", namespace: "from-a" } },
  ],
};
const fileB = {
  "current-context": "b",
  clusters: [
    { name: "c1", cluster: { server: "https://ignored.example" } },
    { name: "c2", cluster: { server: "https://b.example", "certificate-authority": "sub/ca.crt" } },
  ],
  users: [{ name: "u2", user: { "client-certificate": "u.crt", "client-key": "u.key" } }],
  contexts: [
    { name: "b", context: { cluster: "c2", user: "u2", namespace: "net" } },
    { name: "shared", context: { cluster: "c2", user: "u2", namespace: "from-b" } },
  ],
};

Deno.test("mergeKubeConfigs: first entry of a name and first current-context win; paths absolute per file", () => {
  const m = mergeKubeConfigs([{ doc: fileA, dir: "/etc/a" }, { doc: fileB, dir: "/home/b" }]);
  assert.equal(m["current-context"], "a");
  const sel = selectCurrentContext(m, "/");
  assert.equal(sel.cluster.server, "https://a.example:6443");
  assert.equal(sel.cluster.caFile, "/etc/a/ca.crt");
  const b = selectCurrentContext(m, "/", "b");
  assert.equal(b.cluster.caFile, "/home/b/sub/ca.crt");
  assert.equal(b.user.certFile, "/home/b/u.crt");
  assert.equal(b.namespace, "net");
  assert.equal(selectCurrentContext(m, "/", "shared").namespace, "from-a");
  assert.throws(() => selectCurrentContext(m, "/", "nope"), /context "nope" \(the --context\) not found in contexts/);
});

Deno.test("loadKubeConfigText: --context selects server and credentials; the context's namespace is reported", () => {
  const noFiles = structuredClone(fileA);
  noFiles.clusters[0].cluster = { server: "https://a.example:6443" } as typeof noFiles.clusters[0]["cluster"];
  const text = stringify(mergeKubeConfigs([{ doc: noFiles, dir: "/etc/a" }]));
  const a = loadKubeConfigText({ text, dir: "/", label: "test" }, { context: "shared" });
  assert.equal(a.selection.context, "shared");
  assert.equal(a.selection.namespace, "from-a");
  assert.equal(a.config.cluster.server, "https://a.example:6443");
  assert.throws(
    () => loadKubeConfigText({ text, dir: "/", label: "$KUBECONFIG" }, { context: "b" }),
    /^KubeConfigError: \$KUBECONFIG: context "b" \(the --context\) not found/,
  );
});
