/**
 * The CLI's API connection, resolved as kubectl resolves it: `--kubeconfig`, else `$KUBECONFIG` (a colon-separated
 * list, merged: the first entry of a name and the first current-context win), else `~/.kube/config`, else the pod's
 * service account. `--context` picks a context; the namespace is `-n`, else the context's, else `default` (in a pod:
 * the service account's).
 */
import { parse, stringify } from "yaml";
import { KubeClient } from "../kube/client.ts";
import { type KubeConfigText, loadKubeConfigText } from "../kube/config.ts";
import { KubeConfigError, mergeKubeConfigs, SERVICE_ACCOUNT_DIR } from "../kube/kubeconfig.ts";

/** Where the kubeconfig comes from (pure): the files to read, in order, and how errors name them. */
export function kubeconfigPaths(
  flag: string | undefined,
  env: { KUBECONFIG?: string; HOME?: string },
  exists: (path: string) => boolean,
): { paths: string[]; label: string } {
  if (flag) return { paths: [flag], label: `--kubeconfig ${flag}` };
  const list = (env.KUBECONFIG ?? "").split(":").filter(Boolean);
  if (list.length) return { paths: list.filter(exists), label: "$KUBECONFIG" };
  const home = env.HOME ? `${env.HOME}/.kube/config` : "";
  return home && exists(home) ? { paths: [home], label: home } : { paths: [], label: "in-cluster config" };
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function readKubeconfigText(paths: string[], label: string): KubeConfigText | undefined {
  if (!paths.length) return undefined;
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch (e) {
      throw new KubeConfigError(`${label}: ${p}: ${(e as Error).message}`);
    }
  };
  const dirOf = (p: string) => p.includes("/") ? p.slice(0, p.lastIndexOf("/")) || "/" : ".";
  if (paths.length === 1) return { text: read(paths[0]), dir: dirOf(paths[0]), label };
  const docs = paths.map((p) => {
    try {
      return { doc: parse(read(p)), dir: dirOf(p) };
    } catch (e) {
      if (e instanceof KubeConfigError) throw e;
      throw new KubeConfigError(`${label}: ${p}: not valid YAML`);
    }
  });
  return { text: stringify(mergeKubeConfigs(docs)), dir: "/", label };
}

/** The context names of the kubeconfig these flags select (for completion); none when there is no kubeconfig. */
export function contextNames(flags: { kubeconfig?: string }): string[] {
  const env = { KUBECONFIG: Deno.env.get("KUBECONFIG"), HOME: Deno.env.get("HOME") };
  const { paths, label } = kubeconfigPaths(flags.kubeconfig, env, exists);
  const file = readKubeconfigText(paths, label);
  const contexts = file ? (parse(file.text) as { contexts?: { name?: unknown }[] })?.contexts : undefined;
  return (contexts ?? []).map((c) => c?.name).filter((n): n is string => typeof n === "string").sort();
}

/** A client for the cluster and the namespace to act in. */
export interface Connection {
  client: KubeClient;
  namespace: string;
}

/** Connects as kubectl would with these flags. Throws `KubeConfigError` naming the file or field. */
export function connect(flags: { kubeconfig?: string; context?: string; namespace?: string }): Connection {
  const env = { KUBECONFIG: Deno.env.get("KUBECONFIG"), HOME: Deno.env.get("HOME") };
  const { paths, label } = kubeconfigPaths(flags.kubeconfig, env, exists);
  if (flags.kubeconfig && !exists(flags.kubeconfig)) {
    throw new KubeConfigError(`--kubeconfig ${flags.kubeconfig}: no such file`);
  }
  const { config, selection } = loadKubeConfigText(readKubeconfigText(paths, label), { context: flags.context });
  let namespace = flags.namespace || selection.namespace;
  if (!namespace && selection.context === "in-cluster") {
    try {
      namespace = Deno.readTextFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`).trim();
    } catch { /* not in a pod after all */ }
  }
  return { client: new KubeClient(config), namespace: namespace || "default" };
}
