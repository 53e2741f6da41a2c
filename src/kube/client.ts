/**
 * A small generic API client: any resource addressed by group/version/plural, JSON in and out, errors as
 * `KubeApiError` with the HTTP code and Status reason. Requests and watches go through {@link Transport} (a keep-alive
 * connection pool; credentials from the `ClientConfig` of config.ts, or from a client-node KubeConfig).
 */
import type { ClientConfigInput } from "./credentials.ts";
import { redactKeys } from "./redact.ts";
import { type Pool, Transport } from "./transport.ts";

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
    super(redactKeys(`${operation}: ${code ? `${code} ` : ""}${reason}: ${message}`), options);
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

/** HTTP methods the client sends. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The URL of `path` on `server` with the defined query parameters. */
export function requestUrl(server: string, path: string, query: RequestOptions["query"] = {}): URL {
  const url = new URL(server.replace(/\/+$/, "") + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/** The `KubeApiError` of a non-2xx answer, with the Status reason and message when the body is a Status. */
export function errorOf(status: number, body: string, operation: string): KubeApiError {
  let reason = "";
  let message = body.slice(0, 500);
  try {
    const s = JSON.parse(body);
    if (s?.kind === "Status") {
      reason = s.reason ?? "";
      message = s.message ?? message;
    }
  } catch { /* not a Status body */ }
  return new KubeApiError(status, reason || `HTTP${status}`, operation, message);
}

/**
 * Calls `emit` with every complete line (without the newline) of a byte stream, and with a last unterminated line.
 * Used for watch streams (one JSON event per line).
 */
export async function forEachLine(body: ReadableStream<Uint8Array>, emit: (line: string) => void): Promise<void> {
  let rest = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    let from = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", from)) {
      const line = rest + chunk.slice(from, nl);
      rest = "";
      from = nl + 1;
      if (line.trim()) emit(line);
    }
    rest += chunk.slice(from);
  }
  if (rest.trim()) emit(rest);
}

/** Generic JSON client for any resource type. Call {@link KubeClient.close} when done with it. */
export class KubeClient {
  readonly #transport: Transport;

  /** `o.pool` replaces the connection pool (an in-process API server: tests/doubles/apiserver.ts). */
  constructor(config: ClientConfigInput, o: { pool?: Pool } = {}) {
    this.#transport = new Transport(config, undefined, o.pool);
  }

  /** The API server URL. */
  get server(): string {
    return this.#transport.config.cluster.server;
  }

  /** Sends one request; failures to reach the server throw `KubeApiError` with code 0. */
  async #send(method: HttpMethod, path: string, o: RequestOptions, timeoutMs?: number): Promise<Response> {
    const operation = `${method} ${path}`;
    const signals = [o.signal, timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined].filter((s) => s !== undefined);
    try {
      const { pool, headers } = await this.#transport.prepare();
      headers.set("Accept", "application/json");
      if (o.body !== undefined) headers.set("Content-Type", o.contentType ?? "application/json");
      return await pool.fetch(requestUrl(this.server, path, o.query), {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      });
    } catch (e) {
      throw new KubeApiError(0, "RequestFailed", operation, failureText(e), { cause: e });
    }
  }

  /** Sends one request and returns the parsed JSON body; non-2xx answers throw `KubeApiError`. */
  async request<R>(method: HttpMethod, path: string, o: RequestOptions = {}): Promise<R> {
    const operation = `${method} ${path}`;
    const resp = await this.#send(method, path, o, o.timeoutMs ?? 30_000);
    let text: string;
    try {
      text = await resp.text();
    } catch (e) {
      throw new KubeApiError(0, "RequestFailed", operation, failureText(e), { cause: e });
    }
    if (resp.ok) return (text ? JSON.parse(text) : undefined) as R;
    if (resp.status === 401) this.#transport.invalidate();
    throw errorOf(resp.status, text, operation);
  }

  /** Closes the connection pool; a later request opens a new one. */
  close(): void {
    this.#transport.close();
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
   * Opens a watch; `onEvent` gets each event, `onDone` is called exactly once when the stream ends: with null when
   * the server closed it or the returned abort function was called, with a `KubeApiError` for an error answer
   * (e.g. 410 Gone) or a broken stream. Resolves once the server answered (or failed), with the abort function.
   */
  async watch<T>(
    rt: ResourceType,
    o: ListOptions & { allowWatchBookmarks?: boolean; timeoutSeconds?: number },
    onEvent: (ev: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<() => void> {
    const path = resourcePath(rt, o.namespace);
    const ctrl = new AbortController();
    let ended = false;
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      ctrl.abort();
      onDone(err);
    };
    const query = {
      watch: true,
      resourceVersion: o.resourceVersion || undefined,
      labelSelector: o.labelSelector || undefined,
      fieldSelector: o.fieldSelector || undefined,
      allowWatchBookmarks: o.allowWatchBookmarks || undefined,
      timeoutSeconds: o.timeoutSeconds || undefined,
    };
    const signal = o.signal ? AbortSignal.any([o.signal, ctrl.signal]) : ctrl.signal;
    let resp: Response;
    try {
      resp = await this.#send("GET", path, { query, signal });
    } catch (e) {
      end(signal.aborted ? null : e);
      return () => end(null);
    }
    const operation = `WATCH ${path}`;
    if (!resp.ok) {
      if (resp.status === 401) this.#transport.invalidate();
      end(errorOf(resp.status, await resp.text().catch(() => ""), operation));
      return () => end(null);
    }
    forEachLine(resp.body!, (line) => {
      if (!ended) onEvent(JSON.parse(line) as WatchEvent<T>);
    }).then(
      () => end(null),
      (e) => end(signal.aborted ? null : new KubeApiError(0, "WatchFailed", operation, String(e), { cause: e })),
    );
    return () => end(null);
  }
}

/** An error's message with its causes ("fetch failed: invalid peer certificate: UnknownIssuer"). */
export function failureText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c !== undefined && parts.length < 4; c = (c as { cause?: unknown }).cause) {
    const text = c instanceof Error ? c.message : String(c);
    if (text && !parts.includes(text)) parts.push(text);
    if (!(c instanceof Error)) break;
  }
  return parts.join(": ");
}
