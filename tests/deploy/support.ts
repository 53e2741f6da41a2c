/**
 * Helpers of the deploy tests: the kustomize base rendered by kubectl, moved into a test's namespace (cluster-scoped
 * objects get a unique suffix and are confined to that namespace), and kubeconfigs for ServiceAccount tokens.
 */
import { relative } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { readKubeconfig } from "../../scripts/controlplane/kubeconfig.ts";
import { ROOT } from "../../scripts/programs.ts";
import { cluster, kubectl } from "../helpers/cluster.ts";

// deno-lint-ignore no-explicit-any
export type Obj = any;

/** The base's directory. */
export const DEPLOY_DIR = `${ROOT}deploy`;

/** Names the base gives its ServiceAccounts, by program. */
export const SERVICE_ACCOUNTS = {
  "wg-controller": "dn42op-wg-controller",
  "nl-controller": "dn42op-nl-controller",
  "wgplan-controller": "dn42op-wgplan-controller",
} as const;

async function kustomize(dir: string): Promise<Obj[]> {
  const out = await new Deno.Command(BINARIES.kubectl, { args: ["kustomize", dir], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`kubectl kustomize ${dir}: ${new TextDecoder().decode(out.stderr)}`);
  return parseAllDocuments(new TextDecoder().decode(out.stdout)).map((d) => d.toJS());
}

/** `kubectl kustomize deploy/`: the base's objects. */
export function renderBase(): Promise<Obj[]> {
  return kustomize(DEPLOY_DIR);
}

/**
 * Runs `fn` with a kustomize overlay of the base (in a temporary directory) that sets `namespace`, so `kubectl
 * apply -k <dir>` puts every namespaced object into the test's namespace.
 */
export async function withOverlay<T>(namespace: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-sh-overlay-" });
  try {
    await Deno.writeTextFile(
      `${dir}/kustomization.yaml`,
      stringify({ namespace, resources: [relative(dir, DEPLOY_DIR)] }),
    );
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The base's objects of `kinds`, moved into `namespace`; cluster-scoped admission objects get `-<namespace>`. */
export async function baseFor(namespace: string, kinds: string[]): Promise<Obj[]> {
  const objs = await withOverlay(namespace, kustomize);
  return objs.filter((o) => kinds.includes(o.kind)).map((o) => {
    if (o.kind === "ValidatingAdmissionPolicy") o.metadata.name += `-${namespace}`;
    if (o.kind === "ValidatingAdmissionPolicyBinding") {
      o.metadata.name += `-${namespace}`;
      o.spec.policyName += `-${namespace}`;
      // Confined to the test's namespace, so tests running in parallel are not affected.
      o.spec.matchResources = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
    }
    return o;
  });
}

/** Applies objects (server-side, as the admin). */
export async function apply(objs: Obj[]): Promise<void> {
  await kubectl(["apply", "--server-side", "-f", "-"], { stdin: objs.map((o) => stringify(o)).join("---\n") });
}

/** Deletes cluster-scoped objects made by {@link baseFor} (errors ignored: best effort in `finally`). */
export async function deleteClusterScoped(objs: Obj[]): Promise<void> {
  for (const o of objs.filter((o) => !o.metadata.namespace)) {
    await kubectl(["delete", o.kind, o.metadata.name, "--ignore-not-found", "--wait=false"], { check: false });
  }
}

/** Writes a kubeconfig that authenticates with `token` against the test cluster; returns its path. */
export async function tokenKubeconfig(token: string, name: string): Promise<string> {
  const c = await cluster();
  const admin = readKubeconfig(await Deno.readTextFile(c.kubeconfigPath));
  const path = `${c.dir}/identities/${name}-${crypto.randomUUID().slice(0, 6)}.kubeconfig`;
  await Deno.mkdir(`${c.dir}/identities`, { recursive: true });
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "c",
      cluster: { server: c.server, "certificate-authority-data": btoa(admin.caPem) },
    }],
    users: [{ name, user: { token } }],
    contexts: [{ name: "c", context: { cluster: "c", user: name } }],
    "current-context": "c",
  };
  await Deno.writeTextFile(path, stringify(doc), { mode: 0o600 });
  return path;
}

/** A token of ServiceAccount `sa` (TokenRequest), bound to Pod `pod` when given. */
export async function saToken(namespace: string, sa: string, pod?: string): Promise<string> {
  const bound = pod ? ["--bound-object-kind=Pod", `--bound-object-name=${pod}`] : [];
  return (await kubectl(["-n", namespace, "create", "token", sa, "--duration=1h", ...bound])).stdout.trim();
}

/**
 * A Node object named `node` and a Pod of ServiceAccount `sa` scheduled on it (nothing runs: there is no kubelet);
 * a token bound to that Pod carries the node name, as a DaemonSet pod's projected token does.
 */
export async function agentPod(namespace: string, sa: string, node: string, pod: string): Promise<void> {
  await apply([
    { apiVersion: "v1", kind: "Node", metadata: { name: node } },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod, namespace },
      spec: { nodeName: node, serviceAccountName: sa, containers: [{ name: "agent", image: "dn42op:latest" }] },
    },
  ]);
}

/**
 * `kubectl auth can-i` as ServiceAccount `sa` of `namespace` (impersonated by the admin): true for "yes". `resource`
 * may end in `/status` or `/finalizers` (a subresource) or in `/<name>` (one object); `ns` "*" means all namespaces.
 */
export async function canI(namespace: string, sa: string, verb: string, resource: string, ns = namespace) {
  const m = /^(.+)\/(status|finalizers)$/.exec(resource);
  const target = m ? [m[1], `--subresource=${m[2]}`] : [resource];
  const where = ns === "*" ? ["--all-namespaces"] : ["-n", ns];
  const r = await kubectl(["auth", "can-i", verb, ...target, ...where, "--as", saUser(namespace, sa)], {
    check: false,
  });
  if (r.code !== 0 && r.stdout.trim() !== "no") throw new Error(`kubectl auth can-i: ${r.stderr}`);
  return r.stdout.trim() === "yes";
}

/** The user name of a ServiceAccount. */
export function saUser(namespace: string, sa: string): string {
  return `system:serviceaccount:${namespace}:${sa}`;
}
