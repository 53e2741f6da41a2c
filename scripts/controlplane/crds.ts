/**
 * CustomResourceDefinitions: read them from YAML files, create-or-update them by server-side apply, and wait until
 * each is Established and every served version lists its plural in API discovery.
 */
import { parseAllDocuments } from "yaml";
import type { ApiClient } from "./api.ts";
import { sleep } from "../../kit/wait.ts";

/** A CustomResourceDefinition; the fields this module reads are typed, the rest passes through. */
export interface Crd {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; [field: string]: unknown };
  spec: {
    group: string;
    names: { plural: string; [field: string]: unknown };
    versions: { name: string; served: boolean; [field: string]: unknown }[];
    [field: string]: unknown;
  };
}

/** Thrown for a CRD file that cannot be read or a CRD that does not become served. */
export class CrdError extends Error {
  override name = "CrdError";
}

/** Paths of `dir/*.yaml` and `dir/*.yml`, sorted; empty when `dir` does not exist. */
export async function crdFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) out.push(`${dir.replace(/\/$/, "")}/${e.name}`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return out.sort();
}

/** All CustomResourceDefinition documents of the given YAML files (other kinds are ignored). */
export async function readCrds(files: string[]): Promise<Crd[]> {
  const crds: Crd[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(await Deno.readTextFile(f))) {
      if (doc.errors.length) throw new CrdError(`${f}: ${doc.errors[0].message}`);
      const o = doc.toJS();
      if (o?.kind !== "CustomResourceDefinition") continue;
      if (!o.metadata?.name || !o.spec?.group || !o.spec?.names?.plural || !Array.isArray(o.spec?.versions)) {
        throw new CrdError(`${f}: CustomResourceDefinition lacks metadata.name, spec.group, names.plural or versions`);
      }
      crds.push(o);
    }
  }
  return crds;
}

/** Creates or updates each CRD (server-side apply, field manager "dn42op-cluster", forced). */
export async function applyCrds(api: ApiClient, crds: Crd[]): Promise<void> {
  for (const crd of crds) {
    const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}` +
      `?fieldManager=dn42op-cluster&force=true`;
    await api.expect("PATCH", path, [200, 201], crd, "application/apply-patch+yaml");
  }
}

async function served(api: ApiClient, crd: Crd): Promise<boolean> {
  const r = await api.request("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
  const established = r.body?.status?.conditions?.some((c: { type: string; status: string }) =>
    c.type === "Established" && c.status === "True"
  );
  if (r.status !== 200 || !established) return false;
  for (const v of crd.spec.versions.filter((v) => v.served)) {
    const d = await api.request("GET", `/apis/${crd.spec.group}/${v.name}`);
    if (d.status !== 200 || !d.body?.resources?.some((x: { name: string }) => x.name === crd.spec.names.plural)) {
      return false;
    }
  }
  return true;
}

/** Waits until every CRD is Established and discoverable, or throws {@link CrdError} after `timeoutMs`. */
export async function waitCrdsServed(api: ApiClient, crds: Crd[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    while (!(await served(api, crd))) {
      if (Date.now() > deadline) throw new CrdError(`CRD ${crd.metadata.name} not served after ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}
