/**
 * What the API client needs from a configuration ({@link ClientConfig}: the cluster endpoint and a way to resolve
 * credentials now), and its three sources:
 * - {@link staticConfig}: a kubeconfig's or the pod's token, token file, client certificate, basic auth and
 *   impersonation, read from the selected settings without @kubernetes/client-node (files are re-read on every
 *   resolve, so rotated service-account tokens and certificates are picked up);
 * - {@link pluginConfig}: exec and auth-provider users, whose credentials only client-node implements; it is
 *   imported lazily, on the first resolve, by the loader passed in;
 * - {@link clientNodeConfig}: an already built client-node KubeConfig (tests and tools that have one).
 */
import type { RequestOptions as HttpsRequestOptions } from "node:https";
import { type ClusterSettings, KubeConfigError, type Selection, type UserSettings } from "./kubeconfig.ts";

/** TLS material of one identity, as PEM text. */
export interface TlsIdentity {
  caCerts: string[];
  cert?: string;
  key?: string;
}

/** Credentials of one moment: TLS material and the authentication headers. */
export interface Credentials {
  tls: TlsIdentity;
  headers: Headers;
}

/** Where the API server is and how to reach it. */
export interface Endpoint {
  name: string;
  server: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
}

/** What the API client needs from a configuration. */
export interface ClientConfig {
  readonly cluster: Endpoint;
  /** Resolves the credentials now (files re-read, plugins asked); throws `KubeConfigError`. */
  credentials(): Promise<Credentials>;
}

/** The parts of @kubernetes/client-node's `KubeConfig` this client uses (structural: nothing is imported). */
export interface ClientNodeKubeConfig {
  getCurrentCluster(): {
    name: string;
    server: string;
    skipTLSVerify: boolean;
    tlsServerName?: string;
    proxyUrl?: string;
  } | null;
  applyToHTTPSOptions(opts: HttpsRequestOptions): Promise<void>;
}

/** What the API client accepts: our configuration or a client-node KubeConfig. */
export type ClientConfigInput = ClientConfig | ClientNodeKubeConfig;

function pemText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v);
}

/** TLS identity and headers from client-node's resolved request options (pure). */
export function fromHttpsOptions(opts: HttpsRequestOptions): Credentials {
  const headers = new Headers();
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    else if (v !== undefined) headers.set(k, String(v));
  }
  if (opts.auth) headers.set("Authorization", `Basic ${new TextEncoder().encode(opts.auth).toBase64()}`);
  const ca = Array.isArray(opts.ca) ? opts.ca : opts.ca === undefined ? [] : [opts.ca];
  const tls = {
    caCerts: ca.map(pemText).filter((c): c is string => !!c),
    cert: pemText(Array.isArray(opts.cert) ? opts.cert[0] : opts.cert),
    key: pemText(Array.isArray(opts.key) ? opts.key[0] : opts.key),
  };
  return { tls, headers };
}

/** Credentials through a client-node KubeConfig's `applyToHTTPSOptions`. */
async function clientNodeCredentials(kc: ClientNodeKubeConfig): Promise<Credentials> {
  const opts: HttpsRequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  if (opts.pfx) throw new KubeConfigError("client certificates in PKCS#12 (pfx) form are not supported");
  return fromHttpsOptions(opts);
}

/** A client-node KubeConfig as a {@link ClientConfig}. */
export function clientNodeConfig(kc: ClientNodeKubeConfig): ClientConfig {
  const c = kc.getCurrentCluster();
  if (!c) throw new KubeConfigError("kubeconfig has no current cluster");
  return {
    cluster: {
      name: c.name,
      server: c.server,
      insecureSkipTlsVerify: c.skipTLSVerify,
      tlsServerName: c.tlsServerName || undefined,
      proxyUrl: c.proxyUrl || undefined,
    },
    credentials: () => clientNodeCredentials(kc),
  };
}

/** Our configuration as is; a client-node KubeConfig through {@link clientNodeConfig}. */
export function toClientConfig(c: ClientConfigInput): ClientConfig {
  return "credentials" in c ? c : clientNodeConfig(c);
}

function endpointOf(c: ClusterSettings): Endpoint {
  const { name, server, insecureSkipTlsVerify, tlsServerName, proxyUrl } = c;
  return { name, server, insecureSkipTlsVerify, tlsServerName, proxyUrl };
}

/** Reads a text file; the error names the field and the path, never the content. */
export type ReadText = (path: string) => string;

function readField(read: ReadText, field: string, path: string): string {
  try {
    return read(path);
  } catch (e) {
    throw new KubeConfigError(`${field} ${path}: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
}

/** Base64 of a `*-data` field decoded to text; the error names the field, never the data. */
function decodeData(field: string, data: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.fromBase64(data.replace(/\s+/g, "")));
  } catch {
    throw new KubeConfigError(`${field}: not valid base64 of PEM text`);
  }
}

function fileOrData(read: ReadText, where: string, field: string, file?: string, data?: string): string | undefined {
  if (file) return readField(read, `${where}.${field}`, file);
  if (data) return decodeData(`${where}.${field}-data`, data);
  return undefined;
}

/** Characters allowed unescaped in an HTTP header name (RFC 9110 tchar, without '%'). */
const TCHAR = /^[!#$&'*+\-.^_`|~0-9A-Za-z]$/;

/** `Impersonate-Extra-` header key escaping as client-go does: non-token characters percent-encoded (pure). */
export function escapeExtraKey(key: string): string {
  let out = "";
  for (const ch of key) {
    out += TCHAR.test(ch) ? ch : [...new TextEncoder().encode(ch)].map((b) => `%${b.toString(16).toUpperCase()}`)
      .join("");
  }
  return out;
}

/** Authentication headers of a user with a resolved bearer token (pure). */
export function authHeaders(user: UserSettings, token: string | undefined): Headers {
  const h = new Headers();
  if (token) h.set("Authorization", `Bearer ${token}`);
  else if (user.username || user.password) {
    const basic = new TextEncoder().encode(`${user.username ?? ""}:${user.password ?? ""}`).toBase64();
    h.set("Authorization", `Basic ${basic}`);
  }
  const imp = user.impersonate;
  if (imp) {
    if (imp.user) h.set("Impersonate-User", imp.user);
    if (imp.uid) h.set("Impersonate-Uid", imp.uid);
    for (const g of imp.groups) h.append("Impersonate-Group", g);
    for (const [k, vs] of Object.entries(imp.extra)) {
      for (const v of vs) h.append(`Impersonate-Extra-${escapeExtraKey(k)}`, v);
    }
  }
  return h;
}

/**
 * Static credentials of a selection (no plugin): CA, client certificate and key (file or data), bearer token (the
 * token file, re-read on every resolve, wins over an inline token as in client-go; when a re-read fails, the last
 * token read stays in use), basic auth and impersonation. Every file is read once here, so a missing file is an
 * error at load time.
 */
export function staticConfig(sel: Selection, read: ReadText = Deno.readTextFileSync): ClientConfig {
  const { cluster, user } = sel;
  const cw = `clusters[${cluster.name}].cluster`;
  const uw = `users[${user.name}].user`;
  let lastToken: string | undefined;
  const resolveNow = (): Credentials => {
    const ca = fileOrData(read, cw, "certificate-authority", cluster.caFile, cluster.caData);
    const cert = fileOrData(read, uw, "client-certificate", user.certFile, user.certData);
    const key = fileOrData(read, uw, "client-key", user.keyFile, user.keyData);
    let token = user.token;
    if (user.tokenFile) {
      try {
        lastToken = readField(read, `${uw}.tokenFile`, user.tokenFile).trim();
      } catch (e) {
        if (lastToken === undefined && token === undefined) throw e;
      }
      token = lastToken ?? token;
    }
    return { tls: { caCerts: ca ? [ca] : [], cert, key }, headers: authHeaders(user, token) };
  };
  resolveNow();
  return { cluster: endpointOf(cluster), credentials: () => Promise.resolve().then(resolveNow) };
}

/**
 * Credentials of an exec or auth-provider user through client-node, which `load` imports and builds on the first
 * resolve (and only then); the endpoint stays ours (so `-master` applies).
 */
export function pluginConfig(sel: Selection, load: () => Promise<ClientNodeKubeConfig>): ClientConfig {
  let kc: Promise<ClientNodeKubeConfig> | undefined;
  return {
    cluster: endpointOf(sel.cluster),
    credentials: async () => {
      kc ??= load().catch((e) => {
        kc = undefined;
        throw new KubeConfigError(
          `users[${sel.user.name}].user.${sel.user.plugin}: ${e instanceof Error ? e.message : e}`,
          { cause: e },
        );
      });
      return clientNodeCredentials(await kc);
    },
  };
}
