/**
 * A test-only CustomResourceDefinition (`widgets.test.dn42op.io`, namespaced, status subresource, schema with
 * bounds) that the control-plane tests install themselves, so they do not depend on the project's CRDs.
 */
import type * as k8s from "@kubernetes/client-node";
import { ApiClient } from "../../scripts/controlplane/api.ts";
import { applyCrds, type Crd, waitCrdsServed } from "../../scripts/controlplane/crds.ts";
import { cluster } from "../../kit/cluster.ts";
import { clientNode } from "../../kit/k8s.ts";

export const GROUP = "test.dn42op.io";
export const VERSION = "v1";
export const PLURAL = "widgets";
export const KIND = "Widget";

/** The Widget CRD: spec.size 0..100, spec.color, status.phase, status.observedGeneration. */
export const WIDGET_CRD: Crd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: "Namespaced",
    names: { plural: PLURAL, singular: "widget", kind: KIND, listKind: `${KIND}List` },
    versions: [{
      name: VERSION,
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: "object",
          properties: {
            spec: {
              type: "object",
              properties: { size: { type: "integer", minimum: 0, maximum: 100 }, color: { type: "string" } },
            },
            status: {
              type: "object",
              properties: { phase: { type: "string" }, observedGeneration: { type: "integer" } },
            },
          },
        },
      },
    }],
  },
};

/** A Widget object as the tests build and read it. */
export interface Widget {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec?: { size?: number; color?: string };
  status?: { phase?: string; observedGeneration?: number };
}

let installed: Promise<void> | undefined;

/** Installs the Widget CRD once per test process and waits until it is served. */
export function ensureWidgetCrd(): Promise<void> {
  return installed ??= (async () => {
    const api = await ApiClient.fromKubeconfig((await cluster()).kubeconfigPath);
    try {
      await applyCrds(api, [WIDGET_CRD]);
      await waitCrdsServed(api, [WIDGET_CRD]);
    } finally {
      api.close();
    }
  })();
}

/** A Widget manifest named `name` in `namespace`. */
export function widget(namespace: string, name: string, spec: Widget["spec"] = { size: 1 }): Widget {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, namespace }, spec };
}

/** Request parameters addressing Widgets in `namespace` (spread into CustomObjectsApi calls). */
export function widgets(namespace: string) {
  return { group: GROUP, version: VERSION, plural: PLURAL, namespace };
}

/** The HTTP status of a rejected client-node call (ApiException.code), or rethrows anything else. */
export async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof (await clientNode()).ApiException) return e.code;
    throw e;
  }
  return 200;
}
