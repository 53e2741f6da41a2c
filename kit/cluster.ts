/**
 * Test fixture: one real control plane per test run, a Kubernetes namespace per test, restricted identities.
 *
 *   Deno.test({ name, ignore: skipUnless("cluster"), fn: () => withNamespace(async ({ namespace, kc }) => …) })
 *
 * Which cluster: when $DN42OP_KUBECONFIG is set (the test runner or `deno task cluster:env` started one), that one;
 * otherwise the first call to {@link cluster} starts one (building the binaries if needed) in
 * /tmp/dn42op-cp-test-<pid> and every later call in this test process shares it.
 *
 * Lifetime of a cluster started here: it runs under a watchdog (scripts/controlplane/proc.ts `startWatchdog`) that
 * polls this test process's PID and stops etcd/apiserver/controller-manager and removes the directory once the
 * process is gone, however it ended (normal exit, crash, SIGKILL). No unload handler is needed, so several test
 * modules of one `deno test` process can share it safely.
 *
 * A failing build or start is an error of the test that asked for the cluster, never a skip.
 */
import type * as k8s from "@kubernetes/client-node";
import type { ClusterInfo } from "../scripts/cluster.ts";
import { BINARIES } from "../scripts/controlplane/build.ts";
import { clientNode } from "./k8s.ts";
import { withFileLock } from "./lock.ts";
import { exec } from "./proc.ts";
import { readKubeconfig, renderKubeconfig } from "../scripts/controlplane/kubeconfig.ts";

/** The shared control plane as tests see it. */
export interface TestCluster {
  /** Admin (system:masters) client configuration. */
  kc: k8s.KubeConfig;
  /** Admin kubeconfig file, for kubectl. */
  kubeconfigPath: string;
  server: string;
  /** The cluster's data directory (state.json, pki/, logs). */
  dir: string;
  /** The cluster's state; null when $DN42OP_KUBECONFIG points at a cluster not made by scripts/cluster.ts. */
  info: ClusterInfo | null;
}

/** Thrown when the fixture cannot do what a test asked. */
export class ClusterFixtureError extends Error {
  override name = "ClusterFixtureError";
}

let shared: Promise<TestCluster> | undefined;

async function provide(): Promise<TestCluster> {
  const given = Deno.env.get("DN42OP_KUBECONFIG");
  let kubeconfigPath: string, info: ClusterInfo | null;
  // Loaded here, not statically: the cluster tooling's graph includes @peculiar/x509 (see ./k8s.ts for why).
  const { clusterUp, readClusterState } = await import("../scripts/cluster.ts");
  if (given) {
    kubeconfigPath = given;
    info = await readClusterState(given.replace(/\/[^/]*$/, ""));
  } else {
    info = await clusterUp({ dir: `/tmp/dn42op-cp-test-${Deno.pid}`, ownerPid: Deno.pid });
    kubeconfigPath = info.kubeconfig;
  }
  const k8s = await clientNode();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const dir = info?.dir ?? kubeconfigPath.replace(/\/[^/]*$/, "");
  return { kc, kubeconfigPath, server: kc.getCurrentCluster()!.server, dir, info };
}

/** The shared control plane, started on first use (see the module doc). A failed start fails every caller. */
export function cluster(): Promise<TestCluster> {
  return shared ??= provide();
}

/**
 * Runs `fn` while no other test of this cluster works in the fixed namespace `namespace`: the tests that must use
 * `default` (the reference's examples and commands, unchanged) take turns; every other test gets its own namespace
 * from {@link withNamespace}.
 */
export async function withFixedNamespace<T>(namespace: string, fn: (c: TestCluster) => Promise<T>): Promise<T> {
  const c = await cluster();
  return await withFileLock(`${c.dir}/namespace-${namespace}.lock`, () => fn(c));
}

/** What {@link withNamespace} hands to the test body. */
export interface NamespaceContext extends TestCluster {
  namespace: string;
}

/** Options of {@link withNamespace}. */
export interface NamespaceOptions {
  /** Name prefix (lowercase DNS label characters); use your sub-prefix, e.g. "dn42op-cp-". Default "dn42op-test-". */
  prefix?: string;
}

/** A random lowercase suffix of `n` characters. */
function suffix(n: number): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, n);
}

/**
 * Runs `fn` with a fresh namespace `<prefix><random>` and deletes the namespace afterwards (also when `fn`
 * throws; deletion is not awaited to completion — the namespace controller finishes it in the background).
 */
export async function withNamespace<T>(
  fn: (ctx: NamespaceContext) => Promise<T>,
  opts: NamespaceOptions = {},
): Promise<T> {
  const prefix = opts.prefix ?? "dn42op-test-";
  if (!/^[a-z0-9]([a-z0-9-]{0,40})$/.test(prefix)) {
    throw new ClusterFixtureError(`withNamespace: prefix "${prefix}" must be ≤ 41 lowercase DNS-label characters`);
  }
  const c = await cluster();
  const k8s = await clientNode();
  const core = c.kc.makeApiClient(k8s.CoreV1Api);
  const namespace = `${prefix}${suffix(8)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  try {
    return await fn({ ...c, namespace });
  } finally {
    await core.deleteNamespace({ name: namespace }).catch(() => {});
  }
}

/** A client identity made for a test: configuration and a kubeconfig file for kubectl. */
export interface Identity {
  user: string;
  groups: string[];
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
}

/**
 * Mints a client certificate for `user` in `groups` (signed by the cluster's client CA; RBAC decides what it may
 * do) and returns a KubeConfig plus a kubeconfig file under `<cluster dir>/identities/`.
 */
export async function mintIdentity(user: string, groups: string[] = []): Promise<Identity> {
  const c = await cluster();
  if (!c.info) {
    throw new ClusterFixtureError(`mintIdentity: ${c.dir} has no state.json, so its client CA key is unknown`);
  }
  const pki = c.info.pki;
  const { issueCert, loadCa } = await import("../scripts/controlplane/pki.ts");
  const ca = await loadCa(
    await Deno.readTextFile(`${pki}/client-ca.crt`),
    await Deno.readTextFile(`${pki}/client-ca.key`),
  );
  const leaf = await issueCert(ca, { commonName: user, organizations: groups, usage: "client", days: 1 });
  const admin = readKubeconfig(await Deno.readTextFile(c.kubeconfigPath));
  const text = renderKubeconfig({ server: c.server, caPem: admin.caPem, ...leaf, user });
  await Deno.mkdir(`${c.dir}/identities`, { recursive: true });
  const kubeconfigPath = `${c.dir}/identities/${user.replace(/[^A-Za-z0-9._-]/g, "_")}-${suffix(6)}.kubeconfig`;
  await Deno.writeTextFile(kubeconfigPath, text, { mode: 0o600 });
  const k8s = await clientNode();
  const kc = new k8s.KubeConfig();
  kc.loadFromString(text);
  return { user, groups, kc, kubeconfigPath };
}

/** Output of {@link kubectl}. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link kubectl}. */
export interface KubectlOptions {
  /** Kubeconfig to use (default: the admin one), e.g. an {@link Identity}'s. */
  kubeconfig?: string;
  /** Text fed to stdin (for `apply -f -`). */
  stdin?: string;
  /** Throw when kubectl exits non-zero (default true). */
  check?: boolean;
}

/** Runs the kubectl built from lab/controlplane against the test cluster. */
export async function kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const kubeconfig = opts.kubeconfig ?? (await cluster()).kubeconfigPath;
  const r = await exec([BINARIES.kubectl, `--kubeconfig=${kubeconfig}`, ...args], { stdin: opts.stdin });
  if ((opts.check ?? true) && r.code !== 0) {
    throw new ClusterFixtureError(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  }
  return r;
}
