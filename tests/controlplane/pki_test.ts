/** Unit tests of the control plane's certificate, kubeconfig and CRD-file helpers (no cluster needed). */
import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createCa, createServiceAccountKeys, issueCert, loadCa } from "../../scripts/controlplane/pki.ts";
import { KubeconfigError, readKubeconfig, renderKubeconfig } from "../../scripts/controlplane/kubeconfig.ts";
import { CrdError, crdFiles, readCrds } from "../../scripts/controlplane/crds.ts";

Deno.test("pki: a client certificate carries CN=user, one O per group, clientAuth, and verifies against its CA", async () => {
  const ca = await createCa("test-ca");
  const leaf = await issueCert(ca, { commonName: "bob", organizations: ["system:masters", "ops"], usage: "client" });
  const cert = new x509.X509Certificate(leaf.certPem);
  assert.deepEqual(cert.subjectName.getField("CN"), ["bob"]);
  assert.deepEqual(cert.subjectName.getField("O"), ["system:masters", "ops"]);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(await cert.verify({ publicKey: ca.cert.publicKey }), true);
  const other = await createCa("other-ca");
  assert.equal(await cert.verify({ publicKey: other.cert.publicKey }), false);
});

Deno.test("pki: a server certificate has the requested IP and DNS SANs and serverAuth", async () => {
  const ca = await createCa("test-ca");
  const leaf = await issueCert(ca, { commonName: "api", usage: "server", ips: ["127.0.0.1"], dnsNames: ["localhost"] });
  const cert = new x509.X509Certificate(leaf.certPem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [{ type: "ip", value: "127.0.0.1" }, { type: "dns", value: "localhost" }]);
  assert.deepEqual([...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [
    x509.ExtendedKeyUsage.serverAuth,
  ]);
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
});

Deno.test("pki: a CA reloaded from PEM signs certificates that verify against the original", async () => {
  const ca = await createCa("test-ca");
  const again = await loadCa(ca.certPem, ca.keyPem);
  const leaf = await issueCert(again, { commonName: "x", usage: "client" });
  assert.equal(await new x509.X509Certificate(leaf.certPem).verify({ publicKey: ca.cert.publicKey }), true);
  const sa = await createServiceAccountKeys();
  assert.match(sa.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.match(sa.pubPem, /^-----BEGIN PUBLIC KEY-----/);
});

Deno.test("kubeconfig: render and read round-trip; a missing field is named", () => {
  const spec = { server: "https://127.0.0.1:1234", caPem: "CA", certPem: "CERT", keyPem: "KEY", user: "u" };
  assert.deepEqual(readKubeconfig(renderKubeconfig(spec)), spec);
  const noKey = renderKubeconfig(spec).replace(/client-key-data: .*/, "");
  assert.throws(() => readKubeconfig(noKey), (e) => e instanceof KubeconfigError && /client-key-data/.test(e.message));
});

Deno.test("crds: files are read in order, non-CRD documents skipped, incomplete CRDs rejected by file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-cp-crds-" });
  try {
    assert.deepEqual(await crdFiles(`${dir}/missing`), []);
    const crd = (name: string) =>
      `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${name}}\n` +
      `spec: {group: g.io, names: {plural: ps}, versions: [{name: v1, served: true}]}\n`;
    await Deno.writeTextFile(`${dir}/b.yaml`, crd("b.g.io"));
    await Deno.writeTextFile(`${dir}/a.yml`, `${crd("a.g.io")}---\napiVersion: v1\nkind: ConfigMap\n`);
    await Deno.writeTextFile(`${dir}/notes.txt`, "ignored");
    const files = await crdFiles(dir);
    assert.deepEqual(files, [`${dir}/a.yml`, `${dir}/b.yaml`]);
    assert.deepEqual((await readCrds(files)).map((c) => c.metadata.name), ["a.g.io", "b.g.io"]);
    await Deno.writeTextFile(`${dir}/c.yaml`, "kind: CustomResourceDefinition\nmetadata: {name: c}\n");
    await assert.rejects(readCrds([`${dir}/c.yaml`]), (e) => e instanceof CrdError && e.message.includes("c.yaml"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
