/**
 * Test-only CRD of the kube runtime tests: `widgets.kr.test.dn42op.io` (namespaced, status subresource,
 * selectableField `.spec.node`), installed on first use into the shared test cluster, plus helpers.
 */
import { withNamespace } from "../../kit/cluster.ts";
import type { NamespaceContext } from "../../kit/cluster.ts";
import { isAlreadyExists, KubeClient, type KubeObject, type ResourceType } from "../../src/kube/client.ts";
import { until } from "../../kit/wait.ts";

export const WIDGETS: ResourceType = { group: "kr.test.dn42op.io", version: "v1", plural: "widgets" };
const CRDS: ResourceType = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" };
export const CRD_NAME = "widgets.kr.test.dn42op.io";

export interface Widget extends KubeObject {
  spec?: { node?: string; value?: string };
  status?: { observed?: string; count?: number; note?: string };
}

export function crdManifest(description = "test widget") {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: CRD_NAME },
    spec: {
      group: WIDGETS.group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
      versions: [{
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        selectableFields: [{ jsonPath: ".spec.node" }],
        schema: {
          openAPIV3Schema: {
            type: "object",
            description,
            properties: {
              spec: { type: "object", properties: { node: { type: "string" }, value: { type: "string" } } },
              status: {
                type: "object",
                properties: { observed: { type: "string" }, count: { type: "integer" }, note: { type: "string" } },
              },
            },
          },
        },
      }],
    },
  };
}

const installed = new Map<string, Promise<void>>();

/** Installs the Widget CRD (once per process and API server) and waits until it is served. */
export function ensureWidgetCrd(client: KubeClient): Promise<void> {
  const server = client.server;
  const done = installed.get(server) ?? (async () => {
    try {
      await client.create(CRDS, "", crdManifest() as unknown as KubeObject);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
    await until("Widget CRD served", async () => {
      try {
        await client.list(WIDGETS, { limit: 1 });
        return true;
      } catch {
        return false;
      }
    }, 30_000);
  })();
  installed.set(server, done);
  return done;
}

/** Changes the CRD's schema description: the API server rebuilds the resource's storage and watch cache. */
export async function touchWidgetCrd(client: KubeClient): Promise<void> {
  await client.patch(CRDS, "", CRD_NAME, "merge", {
    spec: { versions: [{ ...crdManifest(`test widget ${crypto.randomUUID()}`).spec.versions[0] }] },
  });
}

/** A test body with a fresh `dn42op-kr-…` namespace, a KubeClient, and the Widget CRD installed. */
export function withKr<T>(fn: (ctx: NamespaceContext & { client: KubeClient }) => Promise<T>): Promise<T> {
  return withNamespace(async (ctx) => {
    const client = new KubeClient(ctx.kc);
    await ensureWidgetCrd(client);
    return fn({ ...ctx, client });
  }, { prefix: "dn42op-kr-" });
}

/** Builds a Widget. */
export function widget(namespace: string, name: string, node: string, value = "v0"): Widget {
  return {
    apiVersion: `${WIDGETS.group}/${WIDGETS.version}`,
    kind: "Widget",
    metadata: { namespace, name },
    spec: { node, value },
  };
}
