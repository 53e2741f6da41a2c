/**
 * Builds the @kubernetes/client-node KubeConfig from the reference's flags: `-kubeconfig` (a file), `-master` (API
 * server URL override), or in-cluster (service account) when neither is given.
 *
 * Deno caveats handled here (see docs/control-plane-notes.md Part B):
 * - `loadFromDefault()` is never used: without `--allow-sys=uid` it silently falls back to http://localhost:8080;
 * - in-cluster config is used only when KUBERNETES_SERVICE_HOST is set and the token file is readable, otherwise a
 *   clear error names what is missing;
 * - kubectl's `tokenFile:` spelling (which client-node ignores) is accepted as `token-file:`.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { dirname, resolve } from "node:path";
import { parse, stringify } from "yaml";

/** Where the service-account credentials live in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Options mirroring the reference's flags. */
export interface KubeConfigOptions {
  /** Path of a kubeconfig file ("" or undefined: in-cluster). */
  kubeconfig?: string;
  /** API server URL; overrides the kubeconfig's server. */
  master?: string;
  /** Prefix prepended to the service-account directory (tests point this at a fake root). */
  serviceAccountRoot?: string;
}

/** A configuration problem, naming the flag or file involved. */
export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

/** Rewrites kubectl's `tokenFile` into client-node's `token-file`, with relative paths made absolute (pure). */
export function normalizeKubeconfigText(text: string, baseDir: string): string {
  const doc = parse(text);
  let changed = false;
  for (const u of doc?.users ?? []) {
    const user = u?.user;
    if (user && typeof user.tokenFile === "string" && !user.token && !user["token-file"]) {
      user["token-file"] = resolve(baseDir, user.tokenFile);
      delete user.tokenFile;
      changed = true;
    } else if (user && typeof user["token-file"] === "string") {
      const abs = resolve(baseDir, user["token-file"]);
      changed ||= abs !== user["token-file"];
      user["token-file"] = abs;
    }
  }
  return changed ? stringify(doc) : text;
}

function loadFile(kc: KubeConfig, path: string): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new KubeConfigError(`-kubeconfig ${path}: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
  const dir = dirname(resolve(path));
  try {
    kc.loadFromString(normalizeKubeconfigText(text, dir));
    kc.makePathsAbsolute(dir);
  } catch (e) {
    throw new KubeConfigError(`-kubeconfig ${path}: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
  if (!kc.getCurrentCluster()) throw new KubeConfigError(`-kubeconfig ${path}: no current context/cluster`);
}

function loadInCluster(kc: KubeConfig, root: string): void {
  const saDir = `${root}${SERVICE_ACCOUNT_DIR}`;
  const host = Deno.env.get("KUBERNETES_SERVICE_HOST");
  const port = Deno.env.get("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new KubeConfigError(
      "no -kubeconfig or -master given and not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset)",
    );
  }
  try {
    Deno.statSync(`${saDir}/token`);
  } catch (e) {
    throw new KubeConfigError(`in-cluster config: cannot read ${saDir}/token: ${e instanceof Error ? e.message : e}`);
  }
  kc.loadFromCluster(root || undefined);
}

function overrideServer(kc: KubeConfig, master: string): void {
  let url: URL;
  try {
    url = new URL(master);
  } catch {
    throw new KubeConfigError(`-master ${master}: not a URL`);
  }
  const cluster = kc.getCurrentCluster();
  const plainHttp = url.protocol === "http:";
  if (!cluster) {
    // Only -master: no credentials (e.g. `kubectl proxy` on http://127.0.0.1:8001).
    kc.loadFromClusterAndUser(
      { name: "master", server: master, skipTLSVerify: plainHttp },
      { name: "anonymous" },
    );
    return;
  }
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: master, skipTLSVerify: c.skipTLSVerify || plainHttp } : c
    ),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
}

/** Loads the client configuration from flags; throws `KubeConfigError` with the offending flag or file. */
export function loadKubeConfig(o: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (o.kubeconfig) loadFile(kc, o.kubeconfig);
  else if (!o.master) loadInCluster(kc, o.serviceAccountRoot ?? "");
  if (o.master) overrideServer(kc, o.master);
  return kc;
}
