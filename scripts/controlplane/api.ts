/**
 * A minimal HTTPS client for the local apiserver (Deno fetch with the cluster CA and a client certificate), used by
 * the cluster tooling for readiness checks and CRD installation without loading @kubernetes/client-node.
 */
import { readKubeconfig } from "./kubeconfig.ts";

/** Status and parsed JSON body (null when not JSON) of one request. */
export interface ApiResponse {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Thrown for an unexpected HTTP status; names the method, path and the server's message. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly method: string, readonly path: string, readonly status: number, message: string) {
    super(`${method} ${path}: HTTP ${status}: ${message}`);
  }
}

/** One apiserver endpoint with one identity. Call {@link ApiClient.close} when done. */
export class ApiClient {
  readonly #client: Deno.HttpClient;

  constructor(readonly server: string, tls: { caPem: string; certPem: string; keyPem: string }) {
    this.#client = Deno.createHttpClient({ caCerts: [tls.caPem], cert: tls.certPem, key: tls.keyPem });
  }

  /** Client for the current context of an inline-data kubeconfig file. */
  static async fromKubeconfig(path: string): Promise<ApiClient> {
    const k = readKubeconfig(await Deno.readTextFile(path));
    return new ApiClient(k.server, k);
  }

  /** Sends a request; objects are sent as JSON. Never throws for HTTP statuses (see {@link expect}). */
  async request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<ApiResponse> {
    const res = await fetch(`${this.server}${path}`, {
      method,
      client: this.#client,
      headers: body === undefined ? {} : { "content-type": contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed = null;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON, e.g. "ok" from /readyz */ }
    return { status: res.status, body: parsed ?? text };
  }

  /** Like {@link request} but throws {@link ApiError} unless the status is one of `ok`. */
  async expect(method: string, path: string, ok: number[], body?: unknown, contentType?: string): Promise<ApiResponse> {
    const r = await this.request(method, path, body, contentType);
    if (!ok.includes(r.status)) {
      throw new ApiError(method, path, r.status, typeof r.body === "string" ? r.body : r.body?.message ?? "");
    }
    return r;
  }

  close(): void {
    this.#client.close();
  }
}
