/** Shared pieces of the API tests: example files, their expectations, CRD installation and API calls. */
import type * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { GROUP, type KindName, KINDS, VERSION } from "../../src/api/constants.ts";
import { kubectl } from "../../kit/cluster.ts";
import { clientNode, mergePatch } from "../../kit/k8s.ts";

/** Test namespaces of this area. */
export const NS_OPTS = { prefix: "dn42op-api-" };

/** The repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** A Kubernetes object as plain data. */
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** YAML files of a directory (relative to the repo root), sorted. */
export function yamlFiles(dir: string): string[] {
  return [...Deno.readDirSync(`${ROOT}${dir}`)]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
}

/** Every object of a YAML file (its non-empty documents). */
export function readObjects(file: string): Obj[] {
  // empty documents (the reference's files end in "---") are no objects, as for kubectl
  return parseAllDocuments(Deno.readTextFileSync(`${ROOT}${file}`)).map((d) => d.toJS() as Obj).filter((o) => o);
}

/** What an invalid manifest says about itself in its header comment. */
export interface Expectation {
  mistake: string;
  field: string;
  message: string;
}

/** Reads the `# Mistake:`, `# expect-field:` and `# expect-message:` header of an invalid manifest. */
export function expectationOf(file: string): Expectation {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  const get = (key: string) => {
    const m = text.match(new RegExp(`^# ${key}: (.+)$`, "m"));
    if (!m) throw new Error(`${file}: header line "# ${key}:" missing`);
    return m[1].trim();
  };
  return { mistake: get("Mistake"), field: get("expect-field"), message: get("expect-message") };
}

/** The KINDS entry of one of our objects. */
export function kindOf(obj: Obj): (typeof KINDS)[KindName] {
  const k = KINDS[obj.kind as KindName];
  if (!k || obj.apiVersion !== `${GROUP}/${VERSION}`) throw new Error(`not a ${GROUP} object: ${obj.kind}`);
  return k;
}

let crdsInstalled: Promise<void> | undefined;

/** Installs (server-side apply) the project's crds/ into the test cluster once per process and waits for them. */
export function ensureCrds(): Promise<void> {
  return crdsInstalled ??= (async () => {
    await kubectl([
      "apply",
      "--server-side",
      "--force-conflicts",
      "--field-manager=dn42op-api-tests",
      "-f",
      `${ROOT}crds/`,
    ]);
    const names = Object.values(KINDS).map((k) => `crd/${k.plural}.${GROUP}`);
    await kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  })();
}

/** The text of an API error (Status message), or of any other error. */
export async function errorText(e: unknown): Promise<string> {
  if (e instanceof (await clientNode()).ApiException) {
    const body = e.body as unknown;
    if (typeof body === "string") {
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return body;
      }
    }
    return JSON.stringify(body);
  }
  return String(e);
}

/** Options of {@link create}. */
export interface CreateOptions {
  dryRun?: boolean;
}

/**
 * Creates `obj` in `namespace` with strict field validation (unknown fields are errors, as with kubectl), routing
 * Secrets to the core API and our kinds to the custom objects API. Returns the stored object.
 */
export async function create(kc: k8s.KubeConfig, namespace: string, obj: Obj, opts: CreateOptions = {}): Promise<Obj> {
  const body = { ...obj, metadata: { ...obj.metadata, namespace } };
  const dryRun = opts.dryRun ? "All" : undefined;
  const k8s = await clientNode();
  if (obj.kind === "Secret") {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    return await core.createNamespacedSecret({
      namespace,
      body: body as k8s.V1Secret,
      dryRun,
      fieldValidation: "Strict",
    }) as Obj;
  }
  const co = kc.makeApiClient(k8s.CustomObjectsApi);
  return await co.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: kindOf(obj).plural,
    body,
    dryRun,
    fieldValidation: "Strict",
  }) as Obj;
}

/** The error text of a call that must fail; throws when it succeeds. */
export async function rejection(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (e) {
    return await errorText(e);
  }
  throw new Error("expected the API server to reject the request, but it was accepted");
}

/** Removes the finalizers of every object of our kinds in `namespace`, so the namespace can be deleted. */
export async function dropFinalizers(kc: k8s.KubeConfig, namespace: string): Promise<void> {
  const k8s = await clientNode();
  const co = kc.makeApiClient(k8s.CustomObjectsApi);
  const merge = await mergePatch();
  for (const k of Object.values(KINDS)) {
    const list = await co.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: k.plural,
    }) as {
      items: Obj[];
    };
    for (const item of list.items) {
      await co.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: k.plural,
        name: item.metadata.name,
        body: { metadata: { finalizers: null } },
      }, merge);
    }
  }
}

/**
 * True when `actual` holds everything in `expected` (objects: every key, recursively; arrays: same length, item
 * by item; scalars: equal). Extra keys in `actual` are allowed (server defaults); returns the first difference.
 */
export function missingIn(expected: unknown, actual: unknown, path = ""): string | null {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = missingIn(expected[i], actual[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (expected !== null && typeof expected === "object") {
    if (actual === null || typeof actual !== "object") return `${path}: ${JSON.stringify(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const d = missingIn(v, (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return expected === actual ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
