/**
 * The client configuration from the reference's flags: `-kubeconfig` (a file), `-master` (API server URL override),
 * or in-cluster (service account) when neither is given — like client-go's `clientcmd.BuildConfigFromFlags`.
 *
 * @kubernetes/client-node is not loaded for this: the selection is ours (kubeconfig.ts) and so are static credentials
 * (credentials.ts). Only exec and auth-provider users load client-node, lazily, on their first request.
 */
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import type { ClientNodeKubeConfig } from "./credentials.ts";
import { type ClientConfig, pluginConfig, staticConfig } from "./credentials.ts";
import { inClusterSelection, KubeConfigError, selectCurrentContext, type Selection, withMaster } from "./kubeconfig.ts";

export { KubeConfigError, SERVICE_ACCOUNT_DIR } from "./kubeconfig.ts";

/** Options mirroring the reference's flags. */
export interface KubeConfigOptions {
  /** Path of a kubeconfig file ("" or undefined: in-cluster). */
  kubeconfig?: string;
  /** API server URL; overrides the kubeconfig's server. */
  master?: string;
  /** Prefix prepended to the service-account directory (tests point this at a fake root). */
  serviceAccountRoot?: string;
}

const message = (e: unknown) => e instanceof Error ? e.message : String(e);

/** Builds client-node's KubeConfig for a plugin user (lazy import: only exec and auth-provider users get here). */
async function clientNodeFrom(text: string, dir: string): Promise<ClientNodeKubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(text);
  kc.makePathsAbsolute(dir);
  return kc;
}

function readFile(path: string): { sel: Selection; text: string; dir: string } {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new KubeConfigError(`-kubeconfig ${path}: ${message(e)}`, { cause: e });
  }
  const dir = dirname(resolve(path));
  try {
    return { sel: selectCurrentContext(parse(text), dir), text, dir };
  } catch (e) {
    // YAML syntax errors quote the offending line, which may hold a secret: only the position is kept.
    const why = (e as Error)?.name === "YAMLParseError" ? `not valid YAML${yamlPosition(e)}` : message(e);
    throw new KubeConfigError(`-kubeconfig ${path}: ${why}`, { cause: e });
  }
}

function yamlPosition(e: unknown): string {
  const pos = (e as { linePos?: { line: number; col: number }[] })?.linePos?.[0];
  return pos ? ` (line ${pos.line}, column ${pos.col})` : "";
}

/** Loads the client configuration from flags; throws `KubeConfigError` naming the offending flag, file or field. */
export function loadKubeConfig(o: KubeConfigOptions = {}): ClientConfig {
  const file = o.kubeconfig ? readFile(o.kubeconfig) : undefined;
  let sel = file?.sel;
  if (!sel && !o.master) {
    sel = inClusterSelection(
      { host: Deno.env.get("KUBERNETES_SERVICE_HOST"), port: Deno.env.get("KUBERNETES_SERVICE_PORT") },
      o.serviceAccountRoot ?? "",
    );
  }
  if (o.master) sel = withMaster(sel, o.master);
  const where = file ? `-kubeconfig ${o.kubeconfig}: ` : sel!.context === "in-cluster" ? "in-cluster config: " : "";
  try {
    if (sel!.user.plugin) return pluginConfig(sel!, () => clientNodeFrom(file!.text, file!.dir));
    return staticConfig(sel!);
  } catch (e) {
    throw new KubeConfigError(`${where}${message(e)}`, { cause: e });
  }
}
