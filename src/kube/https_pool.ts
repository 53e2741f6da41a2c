/**
 * A fetch-like function over a keep-alive node:https Agent, for the clusters Deno's fetch cannot reach:
 * `insecure-skip-tls-verify: true` over https (Deno.createHttpClient has no option to skip verification) and
 * `tls-server-name` (it has no option to send and verify another name than the URL's host). node:tls in Deno honours
 * both (`rejectUnauthorized: false`, `servername`). node:https is imported only when such a cluster is used.
 *
 * Only what the API client sends is supported: string bodies, Headers, an AbortSignal. The response body streams
 * (watches); aborting the signal destroys the request, which ends the body with an error.
 */
import type { TlsIdentity } from "./credentials.ts";

/** One connection pool: sends a request, closes its connections. */
export interface Pool {
  fetch(url: URL, init: RequestInit): Promise<Response>;
  close(): void;
}

/** TLS options of the node pool. */
export interface NodeTlsOptions {
  /** Do not verify the server's certificate (kubeconfig `insecure-skip-tls-verify`). */
  insecureSkipTlsVerify: boolean;
  /** Server name to send (SNI) and to verify the certificate against (kubeconfig `tls-server-name`). */
  tlsServerName?: string;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** A pool over one keep-alive node:https Agent with `tls` as identity. */
export async function nodeHttpsPool(tls: TlsIdentity, o: NodeTlsOptions): Promise<Pool> {
  const https = await import("node:https");
  const { Readable } = await import("node:stream");
  const agent = new https.Agent({
    keepAlive: true,
    ca: tls.caCerts.length ? tls.caCerts : undefined,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: !o.insecureSkipTlsVerify,
    servername: o.tlsServerName,
  });
  const send = (url: URL, init: RequestInit): Promise<Response> =>
    new Promise((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body = init.body === undefined || init.body === null ? undefined : String(init.body);
      if (body !== undefined) headers["content-length"] = String(new TextEncoder().encode(body).length);
      const req = https.request(url, { method: init.method ?? "GET", headers, agent }, (res) => {
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const status = res.statusCode ?? 0;
        const nullBody = NULL_BODY_STATUS.has(status) || init.method === "HEAD";
        if (nullBody) res.resume();
        resolve(
          new Response(nullBody ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>, {
            status,
            statusText: res.statusMessage,
            headers: h,
          }),
        );
      });
      const onAbort = () => req.destroy(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", reject); // after the response, errors end its body stream instead
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      req.end(body);
    });
  return { fetch: send, close: () => agent.destroy() };
}
