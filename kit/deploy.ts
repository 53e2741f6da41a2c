/**
 * Helpers of the deploy tests and bench:image: the kustomize base rendered by kubectl, moved into a test's two namespaces (cluster-scoped
 * objects get a unique suffix and are confined to the watched one), and kubeconfigs for ServiceAccount tokens.
 */
import { parseAllDocuments, stringify } from "yaml";
import { BINARIES } from "../scripts/controlplane/build.ts";
import { readKubeconfig } from "../scripts/controlplane/kubeconfig.ts";
import { ROOT } from "../scripts/programs.ts";
import { cluster, kubectl, type NamespaceContext, withNamespace } from "./cluster.ts";
import { clientNode } from "./k8s.ts";

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

/** `kubectl kustomize <dir>` (default deploy/): the objects of a kustomization. */
export async function renderBase(dir = DEPLOY_DIR): Promise<Obj[]> {
  const out = await new Deno.Command(BINARIES.kubectl, { args: ["kustomize", dir], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`kubectl kustomize ${dir}: ${new TextDecoder().decode(out.stderr)}`);
  return parseAllDocuments(new TextDecoder().decode(out.stdout)).map((d) => d.toJS());
}

/**
 * Namespaces of the base: where the programs run, the one whose objects they act on, and the one of the node agents'
 * heartbeat Leases.
 */
export const BASE_NAMESPACES = {
  system: "dn42op-system",
  watched: "default",
  heartbeats: "dn42op-heartbeats",
} as const;

/** Namespaces standing in for the base's dn42op-system, default and dn42op-heartbeats. */
export interface Namespaces {
  system: string;
  watched: string;
  /** Default: `system` (the heartbeat Leases and their Roles then live with the programs). */
  heartbeats?: string;
}

const opts = { prefix: "dn42op-sh-" };

/**
 * Runs `fn` with three fresh namespaces (`withNamespace` thrice): one for the workloads, one for watched objects, one
 * for heartbeats; `ctx` is the watched one's.
 */
export function withNamespaces<T>(fn: (ns: Namespaces, ctx: NamespaceContext) => Promise<T>): Promise<T> {
  return withNamespace(
    (system) =>
      withNamespace(
        (heartbeats) =>
          withNamespace(
            (watched) =>
              fn({ system: system.namespace, watched: watched.namespace, heartbeats: heartbeats.namespace }, watched),
            opts,
          ),
        opts,
      ),
    opts,
  );
}

/**
 * A rendered object moved from the base's namespaces to `ns` (namespace, RoleBinding subjects, `-namespace=`,
 * `-heartbeat-namespace=`).
 */
function moveObject(o: Obj, ns: Namespaces): Obj {
  const names = Object.keys(BASE_NAMESPACES) as (keyof Namespaces)[];
  const to = { ...ns, heartbeats: ns.heartbeats ?? ns.system };
  const move = (n: string | undefined) => {
    const k = names.find((k) => BASE_NAMESPACES[k] === n);
    return k ? to[k] : n;
  };
  if (o.metadata.namespace) o.metadata.namespace = move(o.metadata.namespace);
  for (const s of o.subjects ?? []) s.namespace = move(s.namespace);
  for (const c of o.spec?.template?.spec?.containers ?? []) {
    c.args = c.args?.map((a: string) => {
      const m = /^-(namespace|heartbeat-namespace)=(.*)$/.exec(a);
      return m ? `-${m[1]}=${move(m[2])}` : a;
    });
  }
  return o;
}

/**
 * The base's objects of `kinds`, moved into the namespaces `ns` (see {@link moveObject}); the cluster-scoped
 * admission objects get `-<watched>` and their binding is confined to the watched namespace, so tests running in
 * parallel do not affect each other.
 */
export async function baseFor(ns: Namespaces, kinds: string[]): Promise<Obj[]> {
  return (await renderBase()).filter((o) => kinds.includes(o.kind)).map((o) => {
    if (o.kind === "ValidatingAdmissionPolicy") o.metadata.name += `-${ns.watched}`;
    if (o.kind === "ValidatingAdmissionPolicyBinding") {
      o.metadata.name += `-${ns.watched}`;
      o.spec.policyName += `-${ns.watched}`;
      o.spec.matchResources = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns.watched } } };
    }
    return moveObject(o, ns);
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
 * `kubectl auth can-i` in namespace `ns` as ServiceAccount `sa` of `namespace` (impersonated by the admin): true for
 * "yes". `resource` may end in `/status` or `/finalizers` (a subresource) or in `/<name>` (one object); `ns` "*" means
 * all namespaces.
 */
export async function canI(namespace: string, sa: string, verb: string, resource: string, ns: string) {
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

/**
 * A refused API request in a controller's log: the client's errors read "<op>: 403 Forbidden: …" and admission
 * denials name the policy. (A bare "403" would also match durations such as `ms=403`.)
 */
export const REFUSED = /\b403 Forbidden\b|\bforbidden\b|ValidatingAdmissionPolicy/i;

/** HTTP status and the API server's message of a call. */
export interface CallOutcome {
  code: number;
  message: string;
}

/** The outcome of a call to the API server: 200 and "" when it succeeded; errors other than the API's are thrown. */
export async function statusOf(p: Promise<unknown>): Promise<CallOutcome> {
  try {
    await p;
    return { code: 200, message: "" };
  } catch (e) {
    if (!(e instanceof (await clientNode()).ApiException)) throw e;
    return { code: e.code, message: String(JSON.parse(e.body as string)?.message ?? e.body) };
  }
}
