/**
 * The minimum Kubernetes version of the CRDs (README: "Kubernetes versions"), kept true by computation: every CEL
 * function the generated rules call must be in the table below with the first Kubernetes minor version whose API
 * server accepts it in a NEW CRD rule (a library introduced in 1.N is offered to new expressions from 1.N+1, so that a
 * rollback to 1.N still compiles stored ones), and `selectableFields` needs 1.31 (beta, on by default; GA in 1.32).
 * A rule with a function missing from the table fails here until its version is looked up and added.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { renderCrdFiles } from "../../src/api/crds.ts";

/** The minimum Kubernetes minor version (1.x) the README states. */
const STATED_MINIMUM = 31;

/** CEL function → first Kubernetes minor version that accepts it in a new CRD validation rule. */
const FIRST_MINOR: Record<string, number> = {
  // CEL core and the Kubernetes libraries of 1.25 (regex, lists, URLs) and cel-go's strings v0
  has: 25,
  size: 25,
  int: 25,
  matches: 25,
  startsWith: 25,
  endsWith: 25,
  contains: 25,
  exists: 25,
  all: 25,
  map: 25,
  filter: 25,
  substring: 25,
  lastIndexOf: 25,
  indexOf: 25,
  sum: 25,
  // cel-go's sets (Kubernetes 1.29 → new rules from 1.30)
  "sets.contains": 30,
  // Kubernetes IP and CIDR libraries (1.30 → new rules from 1.31)
  isIP: 31,
  ip: 31,
  family: 31,
  isCIDR: 31,
  cidr: 31,
  containsIP: 31,
  prefixLength: 31,
};

/** Every CEL rule and messageExpression of a schema, depth first. */
function celOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => celOf(n, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "x-kubernetes-validations") {
        for (const r of v as { rule: string; messageExpression?: string }[]) {
          out.push(r.rule, r.messageExpression ?? "");
        }
      } else celOf(v, out);
    }
  }
  return out;
}

/** Names of the functions a CEL expression calls (`sets.contains` qualified; string literals ignored). */
function functionsOf(expr: string): string[] {
  const code = expr.replace(/r?'(?:[^'\\]|\\.)*'|r?"(?:[^"\\]|\\.)*"/g, "''");
  return [...code.matchAll(/(sets\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)].map((m) => (m[1] ?? "") + m[2]);
}

Deno.test("CRDs: the stated minimum Kubernetes version is the newest any rule or field needs", async () => {
  let needed = 0;
  const unknown = new Set<string>();
  for (const [file, text] of renderCrdFiles()) {
    const crd = parse(text);
    for (const version of crd.spec.versions) {
      if (version.selectableFields?.length) needed = Math.max(needed, 31);
      for (const fn of celOf(version.schema).flatMap(functionsOf)) {
        if (!(fn in FIRST_MINOR)) unknown.add(`${fn} (${file})`);
        else needed = Math.max(needed, FIRST_MINOR[fn]);
      }
    }
  }
  assert.deepEqual([...unknown], [], "CEL functions without a known first version");
  assert.equal(needed, STATED_MINIMUM);
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url)).catch(() => "");
  assert.match(readme, new RegExp(`Kubernetes 1\\.${STATED_MINIMUM} or newer`));
});
