/**
 * HTTP transport to the API server: Deno's native fetch over one pooled `Deno.HttpClient`, so requests reuse
 * keep-alive connections instead of paying a TLS handshake each (client-node 1.4.0 builds a new https.Agent, hence a
 * new connection, for every request). Credentials come from the {@link ClientConfig} (credentials.ts); the pool is
 * rebuilt only when the TLS identity changes (e.g. a rotated client certificate).
 *
 * Clusters with `insecure-skip-tls-verify: true` over https or with `tls-server-name` go through a keep-alive
 * node:https pool instead (https_pool.ts): Deno.createHttpClient can neither skip verification nor set the TLS server
 * name. That pool cannot use a `proxy-url`; that combination is refused with a `KubeConfigError`.
 *
 * HTTP/1.1 only: on the local kube-apiserver, HTTP/2 cost the server about a third more CPU per request and was
 * slower end to end (measured with 1500 creates at 16 in flight). Watches each hold one connection.
 */
import {
  type ClientConfig,
  type ClientConfigInput,
  type Endpoint,
  type TlsIdentity,
  toClientConfig,
} from "./credentials.ts";
import { nodeHttpsPool, type Pool } from "./https_pool.ts";
import { KubeConfigError } from "./kubeconfig.ts";

export type { Pool } from "./https_pool.ts";

/** What one request needs: the pool and a fresh copy of the authentication headers. */
export interface Prepared {
  pool: Pool;
  headers: Headers;
}

/** Whether the endpoint needs the node:https pool (pure). */
export function needsNodeTls(c: Endpoint): boolean {
  return c.server.startsWith("https:") && (c.insecureSkipTlsVerify || !!c.tlsServerName);
}

/** Checks that the endpoint's settings can be honoured together; throws `KubeConfigError` naming them otherwise. */
export function checkSupported(c: Endpoint): void {
  if (needsNodeTls(c) && c.proxyUrl) {
    throw new KubeConfigError(
      `cluster ${c.name}: proxy-url cannot be combined with insecure-skip-tls-verify or tls-server-name here`,
    );
  }
}

function denoPool(tls: TlsIdentity, proxyUrl: string | undefined): Pool {
  const client = Deno.createHttpClient({
    caCerts: tls.caCerts,
    ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
    ...(proxyUrl ? { proxy: { url: proxyUrl } } : {}),
    http2: false,
  });
  return { fetch: (url, init) => fetch(url, { ...init, client }), close: () => client.close() };
}

/** How long resolved credentials are reused before they are resolved again (files re-read, plugins asked). */
export const CREDENTIALS_TTL_MS = 10_000;

/**
 * One connection pool per client identity; see the module doc. Credentials are resolved at most every
 * {@link CREDENTIALS_TTL_MS} (client-node builds a TLS context per call, which cost more CPU than the request
 * itself), and at once after {@link Transport.invalidate} (the client calls it on 401 Unauthorized).
 */
export class Transport {
  #pool?: Pool;
  #identity = "";
  #headers = new Headers();
  #resolvedAt = -Infinity;
  readonly config: ClientConfig;

  /** `pool`, when given, is used as it is for every request (an in-process server, e.g. a test double). */
  constructor(
    config: ClientConfigInput,
    private readonly now: () => number = () => performance.now(),
    private readonly pool?: Pool,
  ) {
    this.config = toClientConfig(config);
    checkSupported(this.config.cluster);
  }

  /** The pool and a fresh copy of the authentication headers for one request. */
  async prepare(): Promise<Prepared> {
    if (!this.#pool || this.now() - this.#resolvedAt >= CREDENTIALS_TTL_MS) await this.#resolve();
    return { pool: this.#pool!, headers: new Headers(this.#headers) };
  }

  /** Forgets the resolved credentials (e.g. after 401): the next request resolves them again. */
  invalidate(): void {
    this.#resolvedAt = -Infinity;
  }

  async #resolve(): Promise<void> {
    const { tls, headers } = await this.config.credentials();
    const identity = JSON.stringify(tls);
    if (this.pool) this.#pool = this.pool;
    else if (!this.#pool || identity !== this.#identity) {
      const c = this.config.cluster;
      const pool = needsNodeTls(c) ? await nodeHttpsPool(tls, c) : denoPool(tls, c.proxyUrl);
      this.#pool?.close();
      this.#pool = pool;
      this.#identity = identity;
    }
    this.#headers = headers;
    this.#resolvedAt = this.now();
  }

  /** Closes the pool (idempotent); a later request opens a new one. */
  close(): void {
    this.#pool?.close();
    this.#pool = undefined;
  }
}
