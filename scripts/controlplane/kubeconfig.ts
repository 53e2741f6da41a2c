/**
 * Self-contained kubeconfig files (certificates inline as *-data) for a client-certificate user, and the reverse:
 * reading server, CA and client credentials back out of such a file.
 */
import { parse, stringify } from "yaml";

/** Connection and credentials of one kubeconfig user. */
export interface KubeconfigSpec {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  user: string;
  /** Context/cluster name (default "dn42op"). */
  name?: string;
  namespace?: string;
}

const b64 = (s: string) => btoa(s);

/** Renders a kubeconfig YAML document for `spec`. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const name = spec.name ?? "dn42op";
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server: spec.server, "certificate-authority-data": b64(spec.caPem) } }],
    users: [{
      name: spec.user,
      user: { "client-certificate-data": b64(spec.certPem), "client-key-data": b64(spec.keyPem) },
    }],
    contexts: [{
      name,
      context: { cluster: name, user: spec.user, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
    }],
    "current-context": name,
  });
}

/** Thrown when a kubeconfig lacks what {@link readKubeconfig} needs. */
export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

/** Reads the current context's server, CA and client certificate from an inline-data kubeconfig. */
export function readKubeconfig(text: string): Omit<KubeconfigSpec, "name" | "namespace"> {
  // deno-lint-ignore no-explicit-any
  const doc = parse(text) as any;
  const ctx = doc?.contexts?.find((c: { name: string }) => c.name === doc["current-context"])?.context;
  // deno-lint-ignore no-explicit-any
  const cluster = doc?.clusters?.find((c: any) => c.name === ctx?.cluster)?.cluster;
  // deno-lint-ignore no-explicit-any
  const user = doc?.users?.find((u: any) => u.name === ctx?.user)?.user;
  const need = (v: unknown, field: string): string => {
    if (typeof v !== "string" || v === "") throw new KubeconfigError(`kubeconfig: missing ${field}`);
    return v;
  };
  return {
    server: need(cluster?.server, "cluster.server"),
    caPem: atob(need(cluster?.["certificate-authority-data"], "cluster.certificate-authority-data")),
    certPem: atob(need(user?.["client-certificate-data"], "user.client-certificate-data")),
    keyPem: atob(need(user?.["client-key-data"], "user.client-key-data")),
    user: need(ctx?.user, "context.user"),
  };
}
