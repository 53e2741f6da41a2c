/**
 * An in-memory Kubernetes API server for fast, root-free tests of the controller runtime (informer, work queue,
 * leader election, status writes, finalizers, controllers): the real {@link KubeClient} talks to it through its
 * connection-pool seam, so requests, JSON, errors and watch streams go through the same code as against a real
 * kube-apiserver. It implements the REST semantics that code relies on — namespaced get/list/create/replace/
 * merge and JSON patches/delete, the status subresource (spec changes bump metadata.generation, status writes do
 * not), resourceVersion preconditions (409 Conflict), JSON patch `test` (422), finalizers and deletionTimestamp,
 * delete preconditions, label and field selectors (equality), paged lists, and watches from a resourceVersion with
 * 410 Gone once history is compacted. Faults are injected per request with {@link FakeApiServer.intercept}.
 *
 * The real API server stays the proof: tests/kube/*_test.ts against the shared control plane cover the same paths.
 */
import { KubeClient, type KubeObject } from "../../src/kube/client.ts";
import type { Pool } from "../../src/kube/transport.ts";

/** A request as the server saw it. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  contentType: string;
}

/** An answer an interceptor forces: an HTTP status with a Status reason and message. */
export interface FakeFault {
  status: number;
  reason?: string;
  message?: string;
}

interface Route {
  /** group/plural, "" group for core. */
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface Stored {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  resource: string;
  object: KubeObject;
}

interface Watcher {
  route: Route;
  query: URLSearchParams;
  send(ev: Stored): void;
}

/** Resources whose status is a subresource (PUT/PATCH of the main resource keeps it; generation follows spec). */
const NO_STATUS_SUBRESOURCE = new Set(["/leases", "/events", "/secrets", "/configmaps", "events.k8s.io/events"]);

function parsePath(path: string): Route | undefined {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/
    .exec(path);
  if (!m) return undefined;
  const group = path.startsWith("/api/v1") ? "" : m[1];
  const isCoordination = group === "coordination.k8s.io";
  return {
    resource: `${isCoordination ? "" : group}/${m[3]}`,
    namespace: m[2],
    name: m[4],
    subresource: m[5],
  };
}

/** Equality-based label selector (`a`, `!a`, `a=b`, `a==b`, `a!=b`, comma = and), as the client sends them. */
export function matchesLabels(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  return selector.split(",").map((s) => s.trim()).filter(Boolean).every((term) => {
    const ne = /^([^!=]+)!=(.*)$/.exec(term);
    if (ne) return l[ne[1]] !== ne[2];
    const eq = /^([^!=]+)==?(.*)$/.exec(term);
    if (eq) return l[eq[1]] === eq[2];
    if (term.startsWith("!")) return !(term.slice(1) in l);
    return term in l;
  });
}

/** Equality field selector over dotted paths (`spec.node=lax1`, `metadata.name!=x`). */
export function matchesFields(obj: unknown, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(",").filter(Boolean).every((term) => {
    const m = /^([^!=]+)(!=|==?)(.*)$/.exec(term);
    if (!m) return false;
    let v: unknown = obj;
    for (const part of m[1].split(".")) v = (v as Record<string, unknown> | undefined)?.[part];
    const equal = String(v ?? "") === m[3];
    return m[2] === "!=" ? !equal : equal;
  });
}

/** RFC 7386 merge patch (pure). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = target && typeof target === "object" && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) }
    : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

class PatchTestFailed extends Error {}

/** RFC 6902 JSON patch with add, remove, replace and test (pure; throws on a failed test or a bad path). */
export function jsonPatch(target: unknown, ops: { op: string; path: string; value?: unknown }[]): unknown {
  const doc = structuredClone(target);
  for (const op of ops) {
    const parts = op.path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop()!;
    let parent = doc as Record<string, unknown> | unknown[];
    for (const p of parts) {
      parent = (parent as Record<string, unknown>)[p] as Record<string, unknown>;
      if (parent === undefined || parent === null) throw new PatchTestFailed(`path ${op.path} does not exist`);
    }
    const isArray = Array.isArray(parent);
    const index = isArray ? (last === "-" ? (parent as unknown[]).length : Number(last)) : -1;
    switch (op.op) {
      case "test": {
        const have = isArray ? (parent as unknown[])[index] : (parent as Record<string, unknown>)[last];
        if (JSON.stringify(have) !== JSON.stringify(op.value)) throw new PatchTestFailed(`test of ${op.path} failed`);
        break;
      }
      case "add":
        if (isArray) (parent as unknown[]).splice(index, 0, structuredClone(op.value));
        else (parent as Record<string, unknown>)[last] = structuredClone(op.value);
        break;
      case "replace":
        if (isArray) (parent as unknown[])[index] = structuredClone(op.value);
        else (parent as Record<string, unknown>)[last] = structuredClone(op.value);
        break;
      case "remove":
        if (isArray) (parent as unknown[]).splice(index, 1);
        else delete (parent as Record<string, unknown>)[last];
        break;
      default:
        throw new PatchTestFailed(`unsupported op ${op.op}`);
    }
  }
  return doc;
}

function status(code: number, reason: string, message: string): Response {
  return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message }, {
    status: code,
  });
}

function sameSpec(a: KubeObject, b: KubeObject): boolean {
  const spec = (o: KubeObject) => JSON.stringify((o as { spec?: unknown }).spec ?? null);
  return spec(a) === spec(b);
}

/** The in-memory API server; `client()` gives a real KubeClient talking to it. */
export class FakeApiServer implements Pool {
  readonly #objects = new Map<string, Stored>();
  readonly #history: Stored[] = [];
  readonly #watchers = new Set<Watcher>();
  #rv = 1;
  #compactedRv = 0;
  #uid = 0;
  #interceptors: ((r: FakeRequest) => FakeFault | undefined)[] = [];
  /** Every request, in order. */
  readonly requests: FakeRequest[] = [];

  /** A KubeClient talking to this server. */
  client(): KubeClient {
    return new KubeClient({
      cluster: { name: "fake", server: "http://fake-apiserver.invalid", insecureSkipTlsVerify: false },
      credentials: () => Promise.resolve({ tls: { caCerts: [] }, headers: new Headers() }),
    }, { pool: this });
  }

  /** Adds an interceptor: for each request, a fault to answer with instead, or undefined to serve it. */
  intercept(fn: (r: FakeRequest) => FakeFault | undefined): () => void {
    this.#interceptors.push(fn);
    return () => (this.#interceptors = this.#interceptors.filter((f) => f !== fn));
  }

  /** Forgets the watch history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history.length = 0;
  }

  /** Ends every open watch stream (as an API server restart or a timeout does). */
  closeWatches(): void {
    for (const w of [...this.#watchers]) w.send({ rv: -1, type: "DELETED", resource: "", object: null! });
  }

  /** Number of open watches. */
  get watches(): number {
    return this.#watchers.size;
  }

  /** The stored object (a copy), or undefined. */
  object<T extends KubeObject>(resource: string, namespace: string, name: string): T | undefined {
    const s = this.#objects.get(`${resource}|${namespace}|${name}`);
    return s ? structuredClone(s.object) as T : undefined;
  }

  close(): void {}

  async fetch(url: URL, init: RequestInit): Promise<Response> {
    const method = init.method ?? "GET";
    const text = typeof init.body === "string" ? init.body : "";
    const req: FakeRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined,
      contentType: new Headers(init.headers).get("content-type") ?? "",
    };
    this.requests.push(req);
    await Promise.resolve(); // answer asynchronously, as a server does
    for (const i of this.#interceptors) {
      const f = i(req);
      if (f) return status(f.status, f.reason ?? `HTTP${f.status}`, f.message ?? "injected fault");
    }
    const route = parsePath(url.pathname);
    if (!route) return status(404, "NotFound", `no route ${url.pathname}`);
    if (method === "GET" && !route.name) {
      return url.searchParams.get("watch") ? this.#watch(route, url.searchParams, init.signal) : this.#list(route, url);
    }
    switch (method) {
      case "GET":
        return this.#get(route);
      case "POST":
        return this.#create(route, req.body as KubeObject);
      case "PUT":
        return this.#update(route, () => req.body as KubeObject, true);
      case "PATCH":
        return this.#patch(route, req);
      case "DELETE":
        return this.#delete(route, req.body as { preconditions?: { uid?: string; resourceVersion?: string } });
    }
    return status(405, "MethodNotAllowed", method);
  }

  #key(r: Route): string {
    return `${r.resource}|${r.namespace ?? ""}|${r.name}`;
  }

  #get(r: Route): Response {
    const s = this.#objects.get(this.#key(r));
    return s ? Response.json(s.object) : status(404, "NotFound", `${r.resource} "${r.name}" not found`);
  }

  #matches(r: Route, q: URLSearchParams, o: KubeObject): boolean {
    return (!r.namespace || o.metadata.namespace === r.namespace) &&
      matchesLabels(o.metadata.labels, q.get("labelSelector")) && matchesFields(o, q.get("fieldSelector"));
  }

  #list(r: Route, url: URL): Response {
    const q = url.searchParams;
    const all = [...this.#objects.values()]
      .filter((s) => s.resource === r.resource && this.#matches(r, q, s.object))
      .map((s) => s.object)
      .sort((a, b) => objectOrder(a).localeCompare(objectOrder(b)));
    const from = Number(q.get("continue") || 0);
    const limit = Number(q.get("limit") || 0) || all.length;
    const items = all.slice(from, from + limit);
    const next = from + limit < all.length ? String(from + limit) : undefined;
    return Response.json({
      kind: "List",
      apiVersion: "v1",
      metadata: { resourceVersion: String(this.#rv), ...(next ? { continue: next } : {}) },
      items,
    });
  }

  #watch(r: Route, q: URLSearchParams, signal: AbortSignal | null | undefined): Response {
    const since = Number(q.get("resourceVersion") || this.#rv);
    const enc = new TextEncoder();
    if (since < this.#compactedRv) {
      const gone = { type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old" } };
      return new Response(enc.encode(JSON.stringify(gone) + "\n"));
    }
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const watcher: Watcher = {
      route: r,
      query: q,
      send: (ev) => {
        if (ev.rv === -1) return end();
        if (ev.resource !== r.resource || !this.#matches(r, q, ev.object)) return;
        ctl.enqueue(enc.encode(JSON.stringify({ type: ev.type, object: ev.object }) + "\n"));
      },
    };
    const end = () => {
      if (!this.#watchers.delete(watcher)) return;
      try {
        ctl.close();
      } catch { /* already closed */ }
    };
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c;
        for (const ev of this.#history) if (ev.rv > since) watcher.send(ev);
        this.#watchers.add(watcher);
        signal?.addEventListener("abort", end, { once: true });
      },
      cancel: () => void this.#watchers.delete(watcher),
    });
    return new Response(body);
  }

  #record(type: Stored["type"], resource: string, object: KubeObject): void {
    const ev: Stored = { rv: this.#rv, type, resource, object: structuredClone(object) };
    this.#history.push(ev);
    for (const w of this.#watchers) w.send(ev);
  }

  #create(r: Route, body: KubeObject): Response {
    const obj = structuredClone(body);
    obj.metadata = { ...obj.metadata, namespace: r.namespace };
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = `${obj.metadata.generateName}${(++this.#uid).toString(36).padStart(5, "0")}`;
    }
    const key = this.#key({ ...r, name: obj.metadata.name });
    if (this.#objects.has(key)) return status(409, "AlreadyExists", `${r.resource} "${obj.metadata.name}" exists`);
    this.#rv++;
    obj.metadata.uid = `uid-${++this.#uid}`;
    obj.metadata.resourceVersion = String(this.#rv);
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    obj.metadata.generation = 1;
    delete obj.metadata.deletionTimestamp;
    this.#objects.set(key, { rv: this.#rv, type: "ADDED", resource: r.resource, object: obj });
    this.#record("ADDED", r.resource, obj);
    return Response.json(obj, { status: 201 });
  }

  /** Applies `next(current)` under the rules of the main resource or its status subresource. */
  #update(r: Route, next: (cur: KubeObject) => KubeObject, checkVersion: boolean): Response {
    const key = this.#key(r);
    const cur = this.#objects.get(key);
    if (!cur) return status(404, "NotFound", `${r.resource} "${r.name}" not found`);
    let wanted: KubeObject;
    try {
      wanted = structuredClone(next(structuredClone(cur.object)));
    } catch (e) {
      if (e instanceof PatchTestFailed) return status(422, "Invalid", e.message);
      throw e;
    }
    const want = wanted.metadata?.resourceVersion;
    if (checkVersion && want && want !== cur.object.metadata.resourceVersion) {
      return status(409, "Conflict", `the object has been modified; please apply your changes to the latest version`);
    }
    const old = cur.object as KubeObject & { status?: unknown };
    const hasStatus = !NO_STATUS_SUBRESOURCE.has(r.resource);
    const out = wanted as KubeObject & { status?: unknown };
    if (r.subresource === "status") {
      const merged = { ...old, status: out.status } as KubeObject;
      return this.#store(r, key, cur, merged);
    }
    if (hasStatus) out.status = old.status;
    out.metadata = {
      ...out.metadata,
      uid: old.metadata.uid,
      namespace: old.metadata.namespace,
      name: old.metadata.name,
      creationTimestamp: old.metadata.creationTimestamp,
      deletionTimestamp: old.metadata.deletionTimestamp,
      generation: (old.metadata.generation ?? 1) + (hasStatus && !sameSpec(old, out) ? 1 : 0),
    };
    if (!out.metadata.deletionTimestamp) delete out.metadata.deletionTimestamp;
    return this.#store(r, key, cur, out);
  }

  #store(r: Route, key: string, cur: Stored, obj: KubeObject): Response {
    if (
      JSON.stringify({ ...obj, metadata: { ...obj.metadata, resourceVersion: "" } }) ===
        JSON.stringify({ ...cur.object, metadata: { ...cur.object.metadata, resourceVersion: "" } })
    ) {
      return Response.json(cur.object); // no change: no new resourceVersion, no event
    }
    this.#rv++;
    obj.metadata.resourceVersion = String(this.#rv);
    if (obj.metadata.deletionTimestamp && !obj.metadata.finalizers?.length) {
      this.#objects.delete(key);
      this.#record("DELETED", r.resource, obj);
      return Response.json(obj);
    }
    this.#objects.set(key, { rv: this.#rv, type: "MODIFIED", resource: r.resource, object: obj });
    this.#record("MODIFIED", r.resource, obj);
    return Response.json(obj);
  }

  #patch(r: Route, req: FakeRequest): Response {
    const ct = req.contentType;
    if (ct.includes("json-patch")) {
      return this.#update(r, (cur) => jsonPatch(cur, req.body as []) as KubeObject, false);
    }
    // merge and apply patches: merged into the current object (apply's field ownership is not modelled)
    return this.#update(r, (cur) => mergePatch(cur, req.body) as KubeObject, true);
  }

  #delete(r: Route, body?: { preconditions?: { uid?: string; resourceVersion?: string } }): Response {
    const key = this.#key(r);
    const cur = this.#objects.get(key);
    if (!cur) return status(404, "NotFound", `${r.resource} "${r.name}" not found`);
    const pre = body?.preconditions;
    if (
      (pre?.uid && pre.uid !== cur.object.metadata.uid) ||
      (pre?.resourceVersion && pre.resourceVersion !== cur.object.metadata.resourceVersion)
    ) {
      return status(409, "Conflict", "precondition failed");
    }
    const obj = structuredClone(cur.object);
    if (obj.metadata.finalizers?.length) {
      if (!obj.metadata.deletionTimestamp) {
        obj.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        return this.#store(r, key, cur, obj);
      }
      return Response.json(obj);
    }
    this.#rv++;
    obj.metadata.resourceVersion = String(this.#rv);
    this.#objects.delete(key);
    this.#record("DELETED", r.resource, obj);
    return Response.json({ kind: "Status", status: "Success" });
  }
}

function objectOrder(o: KubeObject): string {
  return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}
