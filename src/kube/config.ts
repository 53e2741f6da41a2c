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
  /** Context to use instead of the current-context (kubectl's `--context`). */
  context?: string;
  /** Prefix prepended to the service-account directory (tests point this at a fake root). */
  serviceAccountRoot?: string;
}

/** A kubeconfig's text, the directory its relative paths are relative to, and how to name it in errors. */
export interface KubeConfigText {
  text: string;
  dir: string;
  /** e.g. "-kubeconfig /path" or "$KUBECONFIG". */
  label: string;
}

const message = (e: unknown) => e instanceof Error ? e.message : String(e);

/** Builds client-node's KubeConfig for a plugin user (lazy import: only exec and auth-provider users get here). */
async function clientNodeFrom(text: string, dir: string, context: string): Promise<ClientNodeKubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(text);
  kc.makePathsAbsolute(dir);
  kc.setCurrentContext(context);
  return kc;
}

function readFile(path: string): KubeConfigText {
  try {
    return { text: Deno.readTextFileSync(path), dir: dirname(resolve(path)), label: `-kubeconfig ${path}` };
  } catch (e) {
    throw new KubeConfigError(`-kubeconfig ${path}: ${message(e)}`, { cause: e });
  }
}

function selectFrom(src: KubeConfigText, context?: string): Selection {
  try {
    return selectCurrentContext(parse(src.text), src.dir, context);
  } catch (e) {
    // YAML syntax errors quote the offending line, which may hold a secret: only the position is kept.
    const why = (e as Error)?.name === "YAMLParseError" ? `not valid YAML${yamlPosition(e)}` : message(e);
    throw new KubeConfigError(`${src.label}: ${why}`, { cause: e });
  }
}

function yamlPosition(e: unknown): string {
  const pos = (e as { linePos?: { line: number; col: number }[] })?.linePos?.[0];
  return pos ? ` (line ${pos.line}, column ${pos.col})` : "";
}

/** Loads the client configuration from flags; throws `KubeConfigError` naming the offending flag, file or field. */
export function loadKubeConfig(o: KubeConfigOptions = {}): ClientConfig {
  return loadKubeConfigText(o.kubeconfig ? readFile(o.kubeconfig) : undefined, o).config;
}

/**
 * The client configuration and the selected context from a kubeconfig's text (undefined: in-cluster, unless
 * `o.master` is set). Throws `KubeConfigError` naming the source, flag or field.
 */
export function loadKubeConfigText(
  file: KubeConfigText | undefined,
  o: Omit<KubeConfigOptions, "kubeconfig"> = {},
): { config: ClientConfig; selection: Selection } {
  let sel = file ? selectFrom(file, o.context) : undefined;
  if (!sel && !o.master) {
    sel = inClusterSelection(
      { host: Deno.env.get("KUBERNETES_SERVICE_HOST"), port: Deno.env.get("KUBERNETES_SERVICE_PORT") },
      o.serviceAccountRoot ?? "",
    );
  }
  if (o.master) sel = withMaster(sel, o.master);
  const where = file ? `${file.label}: ` : sel!.context === "in-cluster" ? "in-cluster config: " : "";
  try {
    const config = sel!.user.plugin
      ? pluginConfig(sel!, () => clientNodeFrom(file!.text, file!.dir, sel!.context))
      : staticConfig(sel!);
    return { config, selection: sel! };
  } catch (e) {
    throw new KubeConfigError(`${where}${message(e)}`, { cause: e });
  }
}
