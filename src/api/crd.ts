/**
 * Turns a kind's TypeBox spec and status schemas into a CustomResourceDefinition whose openAPIV3Schema is a valid
 * Kubernetes structural schema, and checks that property (pure functions; the generator script writes the YAML).
 */
import type { TSchema } from "@sinclair/typebox";
import { GROUP, type KindName, KINDS, VERSION } from "./constants.ts";

/** A JSON Schema node as plain data. */
export type JsonSchema = { [key: string]: unknown };

/** A printer column of `kubectl get`. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

/** Everything a kind contributes to its CRD. */
export interface KindDefinition {
  kind: KindName;
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: PrinterColumn[];
  /** JSONPaths of fields usable in field selectors (e.g. `.spec.node`). */
  selectableFields: string[];
}

/** Keywords a structural schema may carry (apiextensions v1 JSONSchemaProps, minus those Kubernetes forbids). */
const ALLOWED_KEYWORDS = new Set([
  "description",
  "type",
  "format",
  "title",
  "default",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "multipleOf",
  "enum",
  "maxProperties",
  "minProperties",
  "required",
  "items",
  "properties",
  "additionalProperties",
  "nullable",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-embedded-resource",
]);

/** Plain JSON copy of a TypeBox schema: symbol keys (TypeBox internals) and undefined values dropped. */
export function toPlainSchema(schema: TSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema));
}

/**
 * Problems that would make the API server reject `schema` as a structural schema: unknown or forbidden keywords
 * ($ref, $id, const, anyOf, ...), a node without `type`, `required` naming a missing property, or a list-map key
 * that is not a required property of the items; also a missing description (except on scalar list items), so
 * that `kubectl explain` documents every field. Returns one message per problem, each with its path.
 */
export function structuralProblems(schema: JsonSchema, path = "openAPIV3Schema"): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!ALLOWED_KEYWORDS.has(key)) problems.push(`${path}: keyword ${key} is not allowed in a structural schema`);
  }
  if (typeof schema.type !== "string" && schema["x-kubernetes-preserve-unknown-fields"] !== true) {
    problems.push(`${path}: type must be set`);
  }
  const scalarItem = path.endsWith(".items") && schema.type !== "object";
  const implicit = path === "openAPIV3Schema.properties.metadata";
  if (!scalarItem && !implicit && (typeof schema.description !== "string" || schema.description === "")) {
    problems.push(`${path}: description is missing`);
  }
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  for (const name of (schema.required ?? []) as string[]) {
    if (!(name in properties)) problems.push(`${path}: required property ${name} is not defined`);
  }
  for (const [name, child] of Object.entries(properties)) {
    problems.push(...structuralProblems(child, `${path}.properties.${name}`));
  }
  if (schema.items !== undefined) {
    const items = schema.items as JsonSchema;
    problems.push(...structuralProblems(items, `${path}.items`));
    if (schema["x-kubernetes-list-type"] === "map") {
      const required = (items.required ?? []) as string[];
      for (const key of (schema["x-kubernetes-list-map-keys"] ?? []) as string[]) {
        if (!required.includes(key)) problems.push(`${path}: list-map key ${key} must be a required item property`);
      }
    }
  }
  return problems;
}

/** The CustomResourceDefinition object for one kind. */
export function buildCrd(def: KindDefinition): JsonSchema {
  const names = KINDS[def.kind];
  const openAPIV3Schema = {
    description: def.description,
    type: "object",
    required: ["spec"],
    properties: {
      apiVersion: {
        description: "APIVersion defines the versioned schema of this representation of an object.",
        type: "string",
      },
      kind: {
        description: "Kind is a string value representing the REST resource this object represents.",
        type: "string",
      },
      // the API server forbids anything but type here (metadata's schema is implicit)
      metadata: { type: "object" },
      spec: toPlainSchema(def.spec),
      status: toPlainSchema(def.status),
    },
  };
  const problems = structuralProblems(openAPIV3Schema);
  if (problems.length > 0) throw new Error(`${def.kind}: not a structural schema:\n${problems.join("\n")}`);
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: ["dn42"],
      },
      scope: "Namespaced",
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: def.printerColumns,
        ...(def.selectableFields.length > 0
          ? { selectableFields: def.selectableFields.map((jsonPath) => ({ jsonPath })) }
          : {}),
        schema: { openAPIV3Schema },
      }],
    },
  };
}
