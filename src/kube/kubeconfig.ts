/**
 * Kubeconfig selection without @kubernetes/client-node (pure: no file is read here): the current context's cluster
 * and user from a parsed kubeconfig document, the in-cluster settings from the pod's environment, and the `-master`
 * override. Field names and rules follow client-go (clientcmd), which the Go reference uses:
 * - relative file paths are resolved against the kubeconfig's directory;
 * - the token file is spelled `tokenFile` (kubectl, client-go) or `token-file` (client-node); both are accepted;
 * - impersonation: `as`, `as-uid`, `as-groups`, `as-user-extra`;
 * - a bearer token together with basic auth, exec together with auth-provider, and insecure-skip-tls-verify together
 *   with a certificate authority are refused, as client-go refuses them.
 *
 * Errors are `KubeConfigError`s naming the field; they never contain a token, password or key.
 */
import { resolve } from "node:path";

/** A configuration problem, naming the flag, file or field involved (never a secret). */
export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

/** The cluster of the current context, as the transport needs it. */
export interface ClusterSettings {
  name: string;
  /** API server URL without a trailing slash. */
  server: string;
  /** PEM or base64-of-PEM certificate authority: inline data (base64) or a file (absolute path). */
  caData?: string;
  caFile?: string;
  insecureSkipTlsVerify: boolean;
  /** TLS server name to send and verify instead of the URL's host. */
  tlsServerName?: string;
  proxyUrl?: string;
}

/** Impersonation headers (client-go's `as`, `as-uid`, `as-groups`, `as-user-extra`). */
export interface Impersonation {
  user?: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** The user of the current context. Files are absolute paths; inline `*Data` fields are base64 as in the file. */
export interface UserSettings {
  name: string;
  token?: string;
  tokenFile?: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  impersonate?: Impersonation;
  /** Credentials come from a plugin that only client-node implements (loaded lazily). */
  plugin?: "exec" | "auth-provider";
}

/** What the current context selects. */
export interface Selection {
  context: string;
  cluster: ClusterSettings;
  user: UserSettings;
  /** The context's default namespace (kubectl's `-n` default), when it sets one. */
  namespace?: string;
}

type Doc = Record<string, unknown>;

function isObject(v: unknown): v is Doc {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The entry called `name` of a named list (`clusters`, `users`, `contexts`), or undefined. */
function entry(doc: Doc, list: string, name: string): Doc | undefined {
  const items = doc[list];
  if (items === undefined || items === null) return undefined;
  if (!Array.isArray(items)) throw new KubeConfigError(`${list}: not a list`);
  return items.find((e) => isObject(e) && e.name === name);
}

/** Reads an optional string field; anything else than a string is an error naming the field. */
function str(o: Doc, field: string, where: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new KubeConfigError(`${where}.${field}: must be a string`);
  return v;
}

function bool(o: Doc, field: string, where: string): boolean {
  const v = o[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new KubeConfigError(`${where}.${field}: must be true or false`);
  return v;
}

/** The server URL, with https:// added when the scheme is missing (client-go does the same) and no trailing slash. */
export function serverUrl(server: string, where: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `https://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new KubeConfigError(`${where}: not a URL: ${server}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new KubeConfigError(`${where}: scheme must be http or https: ${server}`);
  }
  return withScheme.replace(/\/+$/, "");
}

function clusterOf(doc: Doc, name: string, baseDir: string): ClusterSettings {
  const e = entry(doc, "clusters", name);
  if (!e) throw new KubeConfigError(`cluster "${name}" (named by the current context) not found in clusters`);
  const where = `clusters[${name}].cluster`;
  if (!isObject(e.cluster)) throw new KubeConfigError(`${where}: missing`);
  const c = e.cluster;
  const server = str(c, "server", where);
  if (!server) throw new KubeConfigError(`${where}.server: missing`);
  const caFile = str(c, "certificate-authority", where);
  const caData = str(c, "certificate-authority-data", where);
  const insecureSkipTlsVerify = bool(c, "insecure-skip-tls-verify", where);
  if (insecureSkipTlsVerify && (caFile || caData)) {
    throw new KubeConfigError(
      `${where}: insecure-skip-tls-verify cannot be combined with certificate-authority(-data) (client-go refuses it too)`,
    );
  }
  const proxyUrl = str(c, "proxy-url", where);
  if (proxyUrl) {
    try {
      new URL(proxyUrl);
    } catch {
      throw new KubeConfigError(`${where}.proxy-url: not a URL`);
    }
  }
  return {
    name,
    server: serverUrl(server, `${where}.server`),
    caFile: caFile && resolve(baseDir, caFile),
    caData,
    insecureSkipTlsVerify,
    tlsServerName: str(c, "tls-server-name", where),
    proxyUrl,
  };
}

function impersonationOf(u: Doc, where: string): Impersonation | undefined {
  const groups = u["as-groups"] ?? [];
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== "string")) {
    throw new KubeConfigError(`${where}.as-groups: must be a list of strings`);
  }
  const extra = u["as-user-extra"] ?? {};
  if (!isObject(extra)) throw new KubeConfigError(`${where}.as-user-extra: must be a map of string lists`);
  for (const [k, v] of Object.entries(extra)) {
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw new KubeConfigError(`${where}.as-user-extra.${k}: must be a list of strings`);
    }
  }
  const user = str(u, "as", where);
  const uid = str(u, "as-uid", where);
  if (!user && !uid && !groups.length && !Object.keys(extra).length) return undefined;
  return { user, uid, groups, extra: extra as Record<string, string[]> };
}

function userOf(doc: Doc, name: string | undefined, baseDir: string): UserSettings {
  if (!name) return { name: "" }; // a context without a user: anonymous, as in client-go
  const e = entry(doc, "users", name);
  if (!e) throw new KubeConfigError(`user "${name}" (named by the current context) not found in users`);
  const where = `users[${name}].user`;
  const u = e.user ?? {};
  if (!isObject(u)) throw new KubeConfigError(`${where}: must be a map`);
  const abs = (p: string | undefined) => p && resolve(baseDir, p);
  const tokenFile = str(u, "tokenFile", where) ?? str(u, "token-file", where);
  const user: UserSettings = {
    name,
    token: str(u, "token", where),
    tokenFile: abs(tokenFile),
    certData: str(u, "client-certificate-data", where),
    certFile: abs(str(u, "client-certificate", where)),
    keyData: str(u, "client-key-data", where),
    keyFile: abs(str(u, "client-key", where)),
    username: str(u, "username", where),
    password: str(u, "password", where),
    impersonate: impersonationOf(u, where),
  };
  if ((user.token || user.tokenFile) && (user.username || user.password)) {
    throw new KubeConfigError(
      `${where}: more than one authentication method (token and basic auth); only one is allowed`,
    );
  }
  if (isObject(u.exec) && isObject(u["auth-provider"])) {
    throw new KubeConfigError(`${where}: exec cannot be combined with auth-provider`);
  }
  if (isObject(u.exec)) user.plugin = "exec";
  else if (isObject(u["auth-provider"])) user.plugin = "auth-provider";
  const hasCert = !!(user.certData || user.certFile);
  const hasKey = !!(user.keyData || user.keyFile);
  if (hasCert !== hasKey && !user.plugin) {
    throw new KubeConfigError(`${where}: client-certificate(-data) and client-key(-data) must be given together`);
  }
  return user;
}

/**
 * Selects the cluster and user of a context from a parsed kubeconfig (pure): `context` when given (kubectl's
 * `--context`), else the current-context. `baseDir` is the kubeconfig's directory, against which relative paths are
 * resolved. Throws `KubeConfigError` naming the missing or bad field.
 */
export function selectCurrentContext(doc: unknown, baseDir: string, context?: string): Selection {
  if (!isObject(doc)) throw new KubeConfigError("not a kubeconfig (expected a YAML or JSON map)");
  const which = context ? "the --context" : "the current-context";
  context ||= str(doc, "current-context", "kubeconfig");
  if (!context) throw new KubeConfigError("current-context: missing");
  const ctx = entry(doc, "contexts", context);
  if (!ctx) throw new KubeConfigError(`context "${context}" (${which}) not found in contexts`);
  if (!isObject(ctx.context)) throw new KubeConfigError(`contexts[${context}].context: missing`);
  const where = `contexts[${context}].context`;
  const clusterName = str(ctx.context, "cluster", where);
  if (!clusterName) throw new KubeConfigError(`${where}.cluster: missing`);
  const namespace = str(ctx.context, "namespace", where);
  return {
    context,
    cluster: clusterOf(doc, clusterName, baseDir),
    user: userOf(doc, str(ctx.context, "user", where), baseDir),
    ...(namespace ? { namespace } : {}),
  };
}

/** Path fields of kubeconfig entries, relative to the file that holds them (client-go's `ResolvePaths`). */
const PATH_FIELDS: Record<string, { inner: string; fields: string[] }> = {
  clusters: { inner: "cluster", fields: ["certificate-authority"] },
  users: { inner: "user", fields: ["client-certificate", "client-key", "tokenFile", "token-file"] },
};

/**
 * Merges the kubeconfig documents of a `KUBECONFIG` list (pure), as kubectl does: for clusters, users and contexts
 * the first entry of a name wins, and so does the first file's current-context. Relative paths are made absolute
 * against their own file's directory first, so the result can be read from anywhere.
 */
export function mergeKubeConfigs(docs: readonly { doc: unknown; dir: string }[]): Record<string, unknown> {
  const out: Record<string, unknown> = { apiVersion: "v1", kind: "Config", clusters: [], users: [], contexts: [] };
  for (const { doc, dir } of docs) {
    if (!isObject(doc)) continue;
    if (!out["current-context"] && typeof doc["current-context"] === "string" && doc["current-context"]) {
      out["current-context"] = doc["current-context"];
    }
    for (const list of ["clusters", "users", "contexts"]) {
      const items = doc[list];
      if (!Array.isArray(items)) continue;
      const merged = out[list] as Doc[];
      for (const item of items) {
        if (!isObject(item) || typeof item.name !== "string") continue;
        if (merged.some((e) => e.name === item.name)) continue;
        const paths = PATH_FIELDS[list];
        const body = isObject(item[paths?.inner ?? ""]) ? { ...item[paths!.inner] as Doc } : undefined;
        if (paths && body) {
          for (const f of paths.fields) if (typeof body[f] === "string" && body[f]) body[f] = resolve(dir, body[f]);
          merged.push({ ...item, [paths.inner]: body });
        } else {
          merged.push(item);
        }
      }
    }
  }
  return out;
}

/** Where the service-account credentials live in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * In-cluster settings, like client-go's `rest.InClusterConfig`: https://KUBERNETES_SERVICE_HOST:PORT (an IPv6 host in
 * brackets), the service account's CA and token files under `root` + {@link SERVICE_ACCOUNT_DIR} (pure).
 */
export function inClusterSelection(env: { host?: string; port?: string }, root = ""): Selection {
  if (!env.host || !env.port) {
    throw new KubeConfigError(
      "no -kubeconfig or -master given and not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset)",
    );
  }
  const host = env.host.includes(":") && !env.host.startsWith("[") ? `[${env.host}]` : env.host;
  const dir = `${root}${SERVICE_ACCOUNT_DIR}`;
  return {
    context: "in-cluster",
    cluster: {
      name: "in-cluster",
      server: serverUrl(`https://${host}:${env.port}`, "KUBERNETES_SERVICE_HOST/PORT"),
      caFile: `${dir}/ca.crt`,
      insecureSkipTlsVerify: false,
    },
    user: { name: "in-cluster", tokenFile: `${dir}/token` },
  };
}

/**
 * The `-master` override (pure): the server URL replaces the cluster's, everything else stays; plain http needs no
 * TLS settings. Without a kubeconfig (`sel` undefined) the result is an anonymous user on that server, e.g.
 * `kubectl proxy` on http://127.0.0.1:8001.
 */
export function withMaster(sel: Selection | undefined, master: string): Selection {
  let url: URL;
  try {
    url = new URL(master);
  } catch {
    throw new KubeConfigError(`-master ${master}: not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new KubeConfigError(`-master ${master}: scheme must be http or https`);
  }
  const server = master.replace(/\/+$/, "");
  if (!sel) {
    return {
      context: "master",
      cluster: { name: "master", server, insecureSkipTlsVerify: false },
      user: { name: "" },
    };
  }
  return { ...sel, cluster: { ...sel.cluster, server } };
}
