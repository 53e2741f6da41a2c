import assert from "node:assert/strict";
import { parse } from "yaml";
import { KIND_DEFINITIONS, renderCrdFiles } from "../../src/api/crds.ts";
import { buildCrd, type JsonSchema, structuralProblems, toPlainSchema } from "../../src/api/crd.ts";
import { KINDS } from "../../src/api/constants.ts";

const crdDir = new URL("../../crds/", import.meta.url);

Deno.test("crds/ matches what the TypeScript types generate (run `deno task crds` when this fails)", async () => {
  const files = renderCrdFiles();
  assert.equal(files.size, 3);
  for (const [name, text] of files) {
    const onDisk = await Deno.readTextFile(new URL(name, crdDir));
    assert.equal(onDisk, text, `crds/${name} is stale; run \`deno task crds\``);
  }
  const names = [...Deno.readDirSync(crdDir)].map((e) => e.name).sort();
  assert.deepEqual(names, [...files.keys()].sort(), "crds/ holds only generated files");
});

Deno.test("every CRD is a namespaced v1alpha1 with status subresource, reference names and short names", () => {
  for (const def of KIND_DEFINITIONS) {
    const crd = buildCrd(def) as { metadata: { name: string }; spec: JsonSchema };
    const names = KINDS[def.kind];
    assert.equal(crd.metadata.name, `${names.plural}.networking.dn42.io`);
    assert.equal(crd.spec.scope, "Namespaced");
    assert.deepEqual((crd.spec.names as JsonSchema).shortNames, [...names.shortNames]);
    const [version] = crd.spec.versions as JsonSchema[];
    assert.equal(version.name, "v1alpha1");
    assert.deepEqual(version.subresources, { status: {} });
    const columns = (version.additionalPrinterColumns as { name: string }[]).map((c) => c.name);
    assert.ok(columns.includes("Ready") && columns.includes("Age"), `${def.kind} columns ${columns}`);
  }
});

Deno.test("node agents can select their objects server-side by spec.node", () => {
  const selectable = Object.fromEntries(KIND_DEFINITIONS.map((d) => [d.kind, d.selectableFields]));
  assert.deepEqual(selectable.WireGuardInterface, [".spec.node"]);
  assert.deepEqual(selectable.NetlinkInterface, [".spec.node"]);
});

/** Every property path of a schema. */
function paths(schema: JsonSchema, prefix = ""): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) {
    out.push(`${prefix}${name}`, ...paths(child, `${prefix}${name}.`));
  }
  if (schema.items) out.push(...paths(schema.items as JsonSchema, prefix));
  return out;
}

Deno.test("no status schema has a place for private or preshared keys", () => {
  for (const def of KIND_DEFINITIONS) {
    const bad = paths(toPlainSchema(def.status)).filter((p) => /(^|\.)(private|preshared)_?key$/i.test(p));
    assert.deepEqual(bad, [], `${def.kind} status`);
  }
});

Deno.test("structuralProblems finds what the API server would reject", () => {
  const schema: JsonSchema = {
    description: "root",
    type: "object",
    required: ["a", "missing"],
    properties: {
      a: { description: "a", $ref: "#/x" },
      l: {
        description: "l",
        type: "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["k"],
        items: { description: "i", type: "object", properties: { k: { type: "string", description: "k" } } },
      },
      c: { description: "c", type: "string", const: "x" },
    },
  };
  assert.deepEqual(structuralProblems(schema).sort(), [
    "openAPIV3Schema.properties.a: keyword $ref is not allowed in a structural schema",
    "openAPIV3Schema.properties.a: type must be set",
    "openAPIV3Schema.properties.c: keyword const is not allowed in a structural schema",
    "openAPIV3Schema.properties.l: list-map key k must be a required item property",
    "openAPIV3Schema: required property missing is not defined",
  ]);
});

Deno.test("generated CRDs are structural and every field is described (kubectl explain)", () => {
  for (const [name, text] of renderCrdFiles()) {
    const crd = parse(text);
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    assert.deepEqual(structuralProblems(schema), [], name);
    assert.ok(!text.includes("$ref") && !text.includes("$id") && !text.includes("anyOf"), name);
  }
});
