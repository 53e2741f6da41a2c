/**
 * A small generic API client on top of @kubernetes/client-node's transport (TLS, auth, token refresh): any resource
 * addressed by group/version/plural, JSON in and out, errors as `KubeApiError` with the HTTP code and Status reason.
 * Watches go through client-node's `Watch`.
 */
import { createConfiguration, HttpMethod, type KubeConfig, ServerConfiguration, Watch } from "@kubernetes/client-node";
import { redactKeys } from "./redact.ts";

/** Which API resource: `group` is "" for the core group. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  /** Whether objects live in namespaces (default true). */
  namespaced?: boolean;
}

/** The metadata fields this runtime reads and writes. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** A list response. */
export interface KubeList<T extends KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A watch event as sent by the API server. */
export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** The apiVersion string of a resource type ("v1" or "group/version"). */
export function apiVersionOf(rt: ResourceType): string {
  return rt.group === "" ? rt.version : `${rt.group}/${rt.version}`;
}

/** URL path of a collection, an object or an object's subresource. */
export function resourcePath(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let p = rt.group === "" ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  if (namespace && rt.namespaced !== false) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${rt.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** Cache key of an object: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : `${name}`;
}

/** Splits a cache key into namespace ("" for cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return i < 0 ? { namespace: "", name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** A failed API call: HTTP code (0 when no response), the Status reason and message, and what was attempted. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly operation: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(redactKeys(`${operation}: ${code ? `${code} ${reason}: ` : ""}${message}`), options);
  }
}

/** True for 404 NotFound. */
export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.code === 404;
/** True for 409 Conflict (stale resourceVersion) — not for AlreadyExists. */
export const isConflict = (e: unknown): boolean =>
  e instanceof KubeApiError && e.code === 409 && e.reason !== "AlreadyExists";
/** True for 409 AlreadyExists. */
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof KubeApiError && e.code === 409 && e.reason === "AlreadyExists";
/** True for 410 Gone / Expired (an expired resourceVersion or continue token). */
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.code === 410;

/** Patch content types. */
export type PatchType = "json" | "merge" | "apply";
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  apply: "application/apply-patch+yaml",
};

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout in ms (default 30 s); watches don't use this path. */
  timeoutMs?: number;
}

/** Options of a list call. */
export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

/** Generic JSON client for any resource type, sharing the KubeConfig's credentials. */
export class KubeClient {
  readonly #config;
  readonly #watch: Watch;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.#config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
    });
    this.#watch = new Watch(kubeConfig);
  }

  /** Sends one request and returns the parsed JSON body; non-2xx answers throw `KubeApiError`. */
  async request<R>(method: keyof typeof HttpMethod, path: string, o: RequestOptions = {}): Promise<R> {
    const operation = `${method} ${path}`;
    const ctx = this.#config.baseServer.makeRequestContext(path, HttpMethod[method]);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) ctx.setQueryParam(k, String(v));
    ctx.setHeaderParam("Accept", "application/json");
    if (o.body !== undefined) {
      ctx.setHeaderParam("Content-Type", o.contentType ?? "application/json");
      ctx.setBody(JSON.stringify(o.body));
    }
    const timeout = AbortSignal.timeout(o.timeoutMs ?? 30_000);
    ctx.setSignal(o.signal ? AbortSignal.any([o.signal, timeout]) : timeout);
    let status: number;
    let text: string;
    try {
      await this.kubeConfig.applySecurityAuthentication(ctx);
      const resp = await this.#config.httpApi.send(ctx).toPromise();
      status = resp.httpStatusCode;
      text = await resp.body.text();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new KubeApiError(0, "RequestFailed", operation, msg, { cause: e });
    }
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : undefined) as R;
    let reason = "";
    let message = text.slice(0, 500);
    try {
      const s = JSON.parse(text);
      if (s?.kind === "Status") {
        reason = s.reason ?? "";
        message = s.message ?? message;
      }
    } catch { /* not a Status body */ }
    throw new KubeApiError(status, reason || `HTTP${status}`, operation, message);
  }

  /** GET one object. */
  get<T extends KubeObject>(rt: ResourceType, namespace: string, name: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", resourcePath(rt, namespace, name), { signal });
  }

  /** One page of a list. */
  list<T extends KubeObject>(rt: ResourceType, o: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>("GET", resourcePath(rt, o.namespace), {
      query: {
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        limit: o.limit,
        continue: o.continue,
        resourceVersion: o.resourceVersion,
      },
      signal: o.signal,
    });
  }

  /** POST a new object. */
  create<T extends KubeObject>(rt: ResourceType, namespace: string, obj: T, fieldManager?: string): Promise<T> {
    return this.request<T>("POST", resourcePath(rt, namespace), { body: obj, query: { fieldManager } });
  }

  /** PUT an object (or its `status` subresource); `metadata.resourceVersion` makes it conditional. */
  replace<T extends KubeObject>(
    rt: ResourceType,
    obj: T,
    o: { subresource?: string; fieldManager?: string } = {},
  ): Promise<T> {
    const path = resourcePath(rt, obj.metadata.namespace, obj.metadata.name, o.subresource);
    return this.request<T>("PUT", path, { body: obj, query: { fieldManager: o.fieldManager } });
  }

  /** PATCH an object with a JSON patch, a merge patch or a server-side apply configuration. */
  patch<T extends KubeObject>(
    rt: ResourceType,
    namespace: string,
    name: string,
    type: PatchType,
    body: unknown,
    o: { subresource?: string; fieldManager?: string; force?: boolean } = {},
  ): Promise<T> {
    return this.request<T>("PATCH", resourcePath(rt, namespace, name, o.subresource), {
      body,
      contentType: PATCH_CONTENT_TYPE[type],
      query: { fieldManager: o.fieldManager, force: o.force },
    });
  }

  /** DELETE an object. */
  delete(rt: ResourceType, namespace: string, name: string, body?: unknown): Promise<unknown> {
    return this.request("DELETE", resourcePath(rt, namespace, name), { body });
  }

  /**
   * Opens a watch; `onEvent` gets each event, `onDone` is called exactly once when the stream ends (error or null).
   * Returns a function that aborts the watch (after which `onDone` is still called once).
   */
  async watch<T>(
    rt: ResourceType,
    o: ListOptions & { allowWatchBookmarks?: boolean; timeoutSeconds?: number },
    onEvent: (ev: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<() => void> {
    const query: Record<string, string | number | boolean> = {};
    if (o.resourceVersion) query.resourceVersion = o.resourceVersion;
    if (o.labelSelector) query.labelSelector = o.labelSelector;
    if (o.fieldSelector) query.fieldSelector = o.fieldSelector;
    if (o.allowWatchBookmarks) query.allowWatchBookmarks = true;
    if (o.timeoutSeconds) query.timeoutSeconds = o.timeoutSeconds;
    const ctrl = await this.#watch.watch(
      resourcePath(rt, o.namespace),
      query,
      (type: string, object: T) => onEvent({ type: type as WatchEvent<T>["type"], object }),
      onDone,
    );
    return () => ctrl.abort();
  }
}
