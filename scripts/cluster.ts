/**
 * A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager built from lab/controlplane)
 * on 127.0.0.1 with free ports and all data in one temporary directory.
 *
 *   deno task cluster:up     build if needed, start (or reuse) the cluster; prints KUBECONFIG=<path> on its own line
 *   deno task cluster:down   stop it by PID and remove its directory (idempotent)
 *   deno task cluster:env    print export lines for the running cluster
 *   deno run -A scripts/cluster.ts status   PIDs, ports and RSS of the running cluster
 *
 * The directory is $DN42OP_CLUSTER_DIR or /tmp/dn42op-cp-cluster-<hash of the repo path>; it holds state.json,
 * the admin kubeconfig, pki/, etcd/ and the logs etcd.log, kube-apiserver.log, kube-controller-manager.log.
 * The test runner calls {@link clusterUp} / {@link clusterDown}.
 */
import { parseArgs } from "node:util";
import { ApiClient } from "./controlplane/api.ts";
import { BINARIES, buildControlPlane } from "./controlplane/build.ts";
import { applyCrds, crdFiles, readCrds, waitCrdsServed } from "./controlplane/crds.ts";
import { renderKubeconfig } from "./controlplane/kubeconfig.ts";
import { createCa, createServiceAccountKeys, issueCert } from "./controlplane/pki.ts";
import { recordPid, startWatchdog, stopRecorded, waitReady } from "./controlplane/proc.ts";
import { freePort, isRunning, rssKiB, startDaemon, stopDaemon } from "../kit/proc.ts";
import { sleep } from "../kit/wait.ts";

const REPO_ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/**
 * Upper bound for each daemon to become ready. A start takes seconds on an idle 2-core machine, but on a shared,
 * heavily loaded one (load average > 20) the apiserver alone has needed more than 60 s; a dead daemon fails at once.
 */
const READY_TIMEOUT_MS = 300_000;

/** PIDs of the cluster's processes. */
export interface ClusterPids {
  etcd: number;
  apiserver: number;
  controllerManager: number;
  /** The parent-death guard, when the cluster belongs to an owner process. */
  watchdog?: number;
}

/** A running control plane, as written to `<dir>/state.json`. */
export interface ClusterInfo {
  /** Admin kubeconfig (client certificate, group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  dir: string;
  pids: ClusterPids;
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number };
  /** Directory with ca.crt (serving CA), client-ca.crt/.key (signs client certificates), sa.key/.pub. */
  pki: string;
  logs: { etcd: string; apiserver: string; controllerManager: string };
  /** Names of the CRDs installed at start. */
  crds: string[];
  /** When set, the cluster stops by itself once this process exits. */
  ownerPid?: number;
  /** Seconds spent in each phase of the start that created this cluster. */
  timings: { build: number; etcd: number; apiserver: number; crds: number; controllerManager: number; total: number };
  /** True when {@link clusterUp} found this cluster already running. */
  reused?: boolean;
}

/** Options of {@link clusterUp}. */
export interface ClusterUpOptions {
  /** Data directory (default: {@link defaultClusterDir}). */
  dir?: string;
  /** Directory whose *.yaml CRDs are installed (default: the repo's crds/). */
  crdDir?: string;
  /** Stop the cluster automatically when this process exits (parent-death guard). */
  ownerPid?: number;
  /** Progress sink (default: stderr). */
  log?: (line: string) => void;
}

/** Thrown when the cluster cannot be started, with the failing step and the daemon's log tail. */
export class ClusterError extends Error {
  override name = "ClusterError";
}

/** $DN42OP_CLUSTER_DIR, or a directory under /tmp derived from this repository's path. */
export async function defaultClusterDir(): Promise<string> {
  const fromEnv = Deno.env.get("DN42OP_CLUSTER_DIR");
  if (fromEnv) return fromEnv;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(REPO_ROOT)));
  return `/tmp/dn42op-cp-cluster-${Array.from(d.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Reads `<dir>/state.json`, or null when there is none. */
export async function readClusterState(dir: string): Promise<ClusterInfo | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
  } catch {
    return null;
  }
}

/** True when all three daemons still run and the apiserver answers /readyz. */
export async function clusterHealthy(info: ClusterInfo): Promise<boolean> {
  const alive = isRunning(info.pids.etcd, BINARIES.etcd) && isRunning(info.pids.apiserver, BINARIES.kubeApiserver) &&
    isRunning(info.pids.controllerManager, BINARIES.kubeControllerManager);
  if (!alive) return false;
  const api = await ApiClient.fromKubeconfig(info.kubeconfig).catch(() => null);
  if (!api) return false;
  try {
    return (await api.request("GET", "/readyz")).status === 200;
  } catch {
    return false;
  } finally {
    api.close();
  }
}

async function writeSecret(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
}

/** Creates the certificates and keys under `<dir>/pki`; returns the admin identity and the paths. */
async function makePki(pki: string) {
  await Deno.mkdir(pki, { recursive: true });
  const servingCa = await createCa("dn42op-serving-ca");
  const clientCa = await createCa("dn42op-client-ca");
  const server = await issueCert(servingCa, {
    commonName: "kube-apiserver",
    usage: "server",
    ips: ["127.0.0.1"],
    dnsNames: ["localhost"],
  });
  const admin = await issueCert(clientCa, { commonName: "admin", organizations: ["system:masters"], usage: "client" });
  const sa = await createServiceAccountKeys();
  await Deno.writeTextFile(`${pki}/ca.crt`, servingCa.certPem);
  await Deno.writeTextFile(`${pki}/client-ca.crt`, clientCa.certPem);
  await writeSecret(`${pki}/client-ca.key`, clientCa.keyPem);
  await Deno.writeTextFile(`${pki}/server.crt`, server.certPem);
  await writeSecret(`${pki}/server.key`, server.keyPem);
  await writeSecret(`${pki}/sa.key`, sa.keyPem);
  await Deno.writeTextFile(`${pki}/sa.pub`, sa.pubPem);
  return { caPem: servingCa.certPem, admin };
}

function etcdArgs(dir: string, port: number, peer: number): string[] {
  const client = `http://127.0.0.1:${port}`, peerUrl = `http://127.0.0.1:${peer}`;
  return [
    `--name=dn42op`,
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=dn42op=${peerUrl}`,
    `--unsafe-no-fsync`,
    // A single member elects itself after one election timeout; 100 ms instead of 1 s saves start time.
    `--heartbeat-interval=10`,
    `--election-timeout=100`,
    `--log-level=warn`,
  ];
}

function apiserverArgs(pki: string, etcdPort: number, port: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--bind-address=127.0.0.1`,
    `--advertise-address=127.0.0.1`,
    `--secure-port=${port}`,
    `--tls-cert-file=${pki}/server.crt`,
    `--tls-private-key-file=${pki}/server.key`,
    `--client-ca-file=${pki}/client-ca.crt`,
    `--authorization-mode=RBAC`,
    `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
    `--service-account-key-file=${pki}/sa.pub`,
    `--service-account-signing-key-file=${pki}/sa.key`,
    `--service-cluster-ip-range=10.0.0.0/24`,
    `--disable-admission-plugins=ServiceAccount`,
    `--allow-privileged=true`,
    `--enable-priority-and-fairness=false`,
    // The default "lease" reconciler would publish 127.0.0.1 as the kubernetes service endpoint, which Endpoints
    // validation rejects (loopback) every 10 s; nothing here routes through that service.
    `--endpoint-reconciler-type=none`,
    `--profiling=false`,
  ];
}

function controllerManagerArgs(pki: string, kubeconfig: string, port: number): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--controllers=garbage-collector-controller,namespace-controller`,
    `--leader-elect=false`,
    `--bind-address=127.0.0.1`,
    `--secure-port=${port}`,
    `--tls-cert-file=${pki}/server.crt`,
    `--tls-private-key-file=${pki}/server.key`,
    `--profiling=false`,
  ];
}

/** Stops what `<dir>/pids` records: the watchdog first, then controller manager, apiserver, etcd. */
async function stopAll(dir: string): Promise<void> {
  await stopRecorded(dir, [
    ["watchdog", "sh"],
    ["controllerManager", BINARIES.kubeControllerManager],
    ["apiserver", BINARIES.kubeApiserver],
    ["etcd", BINARIES.etcd],
  ]);
}

/** Starts a fresh cluster in `dir` (which must be free of a running one). */
async function startCluster(dir: string, opts: ClusterUpOptions, log: (l: string) => void): Promise<ClusterInfo> {
  const t0 = performance.now();
  const since = (t: number) => (performance.now() - t) / 1e3;
  const build = await buildControlPlane({ log });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const pki = `${dir}/pki`, kubeconfig = `${dir}/kubeconfig`;
  const logs = {
    etcd: `${dir}/etcd.log`,
    apiserver: `${dir}/kube-apiserver.log`,
    controllerManager: `${dir}/kube-controller-manager.log`,
  };
  const pids: Partial<ClusterPids> = {};
  try {
    if (opts.ownerPid) pids.watchdog = await startWatchdog(opts.ownerPid, dir);
    const { caPem, admin } = await makePki(pki);
    const ports = { etcd: freePort(), etcdPeer: freePort(), apiserver: freePort(), controllerManager: freePort() };
    const server = `https://127.0.0.1:${ports.apiserver}`;
    await writeSecret(kubeconfig, renderKubeconfig({ server, caPem, ...admin, user: "admin" }));

    let t = performance.now();
    pids.etcd = await startDaemon(BINARIES.etcd, etcdArgs(dir, ports.etcd, ports.etcdPeer), logs.etcd);
    await recordPid(dir, "etcd", pids.etcd);
    await waitReady(
      "etcd /health",
      async () => {
        const r = await fetch(`http://127.0.0.1:${ports.etcd}/health`, { signal: AbortSignal.timeout(2_000) });
        return (await r.json()).health === "true";
      },
      { pid: pids.etcd, bin: BINARIES.etcd, logPath: logs.etcd },
      READY_TIMEOUT_MS,
    );
    const etcdS = since(t);

    t = performance.now();
    pids.apiserver = await startDaemon(
      BINARIES.kubeApiserver,
      apiserverArgs(pki, ports.etcd, ports.apiserver),
      logs.apiserver,
    );
    await recordPid(dir, "apiserver", pids.apiserver);
    const api = new ApiClient(server, { caPem, ...admin });
    try {
      const daemon = { pid: pids.apiserver, bin: BINARIES.kubeApiserver, logPath: logs.apiserver };
      await waitReady(
        "kube-apiserver /readyz",
        async () => (await api.request("GET", "/readyz")).status === 200,
        daemon,
        READY_TIMEOUT_MS,
      );
      await waitReady(
        "namespace default",
        async () => (await api.request("GET", "/api/v1/namespaces/default")).status === 200,
        daemon,
        READY_TIMEOUT_MS,
      );
      const apiserverS = since(t);

      t = performance.now();
      const crds = await readCrds(await crdFiles(opts.crdDir ?? `${REPO_ROOT}/crds`));
      await applyCrds(api, crds);
      await waitCrdsServed(api, crds, READY_TIMEOUT_MS);
      const crdsS = since(t);

      t = performance.now();
      pids.controllerManager = await startDaemon(
        BINARIES.kubeControllerManager,
        controllerManagerArgs(pki, kubeconfig, ports.controllerManager),
        logs.controllerManager,
      );
      await recordPid(dir, "controllerManager", pids.controllerManager);
      const kcm = new ApiClient(`https://127.0.0.1:${ports.controllerManager}`, { caPem, ...admin });
      try {
        await waitReady(
          "kube-controller-manager /healthz",
          async () => (await kcm.request("GET", "/healthz")).status === 200,
          { pid: pids.controllerManager, bin: BINARIES.kubeControllerManager, logPath: logs.controllerManager },
          READY_TIMEOUT_MS,
        );
      } finally {
        kcm.close();
      }
      const kcmS = since(t);
      const info: ClusterInfo = {
        kubeconfig,
        server,
        dir,
        pids: pids as ClusterPids,
        ports,
        pki,
        logs,
        crds: crds.map((c) => c.metadata.name),
        ownerPid: opts.ownerPid,
        timings: {
          build: build.seconds,
          etcd: etcdS,
          apiserver: apiserverS,
          crds: crdsS,
          controllerManager: kcmS,
          total: since(t0),
        },
      };
      await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(info, null, 2));
      return info;
    } finally {
      api.close();
    }
  } catch (e) {
    await stopAll(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (e instanceof ClusterError) throw e;
    throw new ClusterError(`cluster:up failed: ${(e as Error).message}`, { cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Serializes starts on one directory across processes with an exclusive lock file holding the holder's PID. */
async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 30 * 60_000; // a first build may hold it for a long time
  while (true) {
    try {
      const f = await Deno.open(lock, { createNew: true, write: true });
      await f.write(new TextEncoder().encode(String(Deno.pid)));
      f.close();
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const holder = Number(await Deno.readTextFile(lock).catch(() => "0"));
      if (holder > 0 && !(await exists(`/proc/${holder}`))) await Deno.remove(lock).catch(() => {});
      else if (Date.now() > deadline) throw new ClusterError(`cluster: lock ${lock} held by PID ${holder}`);
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await Deno.remove(lock).catch(() => {});
  }
}

/**
 * Starts the control plane, or returns the healthy one already running in the directory (`reused: true`).
 * A stale state (dead PIDs, apiserver not ready) is cleaned up and replaced. Builds the binaries first if needed.
 */
export async function clusterUp(opts: ClusterUpOptions = {}): Promise<ClusterInfo> {
  const dir = opts.dir ?? await defaultClusterDir();
  const log = opts.log ?? ((l: string) => console.error(l));
  return await withDirLock(dir, async () => {
    const existing = await readClusterState(dir);
    if (existing && await clusterHealthy(existing)) return { ...existing, reused: true };
    if (existing || await exists(`${dir}/pids`)) {
      log(`cluster: ${dir} holds a stale or half-started cluster; cleaning up`);
      await stopAll(dir);
    }
    return await startWithFreshPorts(dir, opts, log);
  });
}

/** Attempts at a start whose probed free port was taken by another process before the daemon bound it. */
const PORT_RACE_ATTEMPTS = 3;

/** A daemon failed because a port it was given is in use: the race between {@link freePort} and its bind. */
export function isPortRace(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (/address already in use/i.test(c.message)) return true;
  }
  return false;
}

/** {@link startCluster}, again with new ports when a probed port was taken in the meantime. */
async function startWithFreshPorts(dir: string, opts: ClusterUpOptions, log: (l: string) => void) {
  for (let attempt = 1;; attempt++) {
    try {
      return await startCluster(dir, opts, log);
    } catch (e) {
      if (attempt >= PORT_RACE_ATTEMPTS || !isPortRace(e)) throw e;
      log(`cluster: a port was taken before its daemon bound it; starting again with new ports`);
    }
  }
}

/**
 * Stops the apiserver of a running cluster, awaits `down` (the API is unreachable meanwhile; etcd keeps the
 * state), then starts it again on the same port with the same arguments and waits until it is ready. The new PID
 * is recorded for cluster:down and the watchdog; returns the updated state. `down`'s error is rethrown after the
 * restart.
 */
export async function restartApiserver(info: ClusterInfo, down: () => Promise<void>): Promise<ClusterInfo> {
  await stopDaemon(info.pids.apiserver, BINARIES.kubeApiserver);
  let failure: unknown;
  await down().catch((e) => failure = e);
  const args = apiserverArgs(info.pki, info.ports.etcd, info.ports.apiserver);
  const pid = await startDaemon(BINARIES.kubeApiserver, args, info.logs.apiserver);
  await recordPid(info.dir, "apiserver", pid);
  const next: ClusterInfo = { ...info, pids: { ...info.pids, apiserver: pid } };
  await Deno.writeTextFile(`${info.dir}/state.json`, JSON.stringify(next, null, 2));
  const api = await ApiClient.fromKubeconfig(info.kubeconfig);
  try {
    await waitReady(
      "kube-apiserver /readyz",
      async () => (await api.request("GET", "/readyz")).status === 200,
      { pid, bin: BINARIES.kubeApiserver, logPath: info.logs.apiserver },
      READY_TIMEOUT_MS,
    );
  } finally {
    api.close();
  }
  if (failure) throw failure;
  return next;
}

/** Stops the cluster described by `info` (or the one in the default directory) and removes its directory. */
export async function clusterDown(info?: Pick<ClusterInfo, "dir">): Promise<void> {
  const dir = info?.dir ?? await defaultClusterDir();
  await stopAll(dir);
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** Export lines for a shell: KUBECONFIG and DN42OP_KUBECONFIG (which makes tests reuse this cluster). */
export function envLines(info: ClusterInfo): string[] {
  return [`export KUBECONFIG=${info.kubeconfig}`, `export DN42OP_KUBECONFIG=${info.kubeconfig}`];
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { dir: { type: "string" }, crds: { type: "string" } },
  });
  const dir = values.dir ?? await defaultClusterDir();
  switch (positionals[0]) {
    case "up": {
      const info = await clusterUp({ dir, crdDir: values.crds });
      const t = info.timings;
      console.error(
        info.reused
          ? `cluster: reusing the running cluster in ${dir} (${info.server})`
          : `cluster: up in ${t.total.toFixed(1)} s (build ${t.build.toFixed(1)}, etcd ${t.etcd.toFixed(1)}, ` +
            `apiserver ${t.apiserver.toFixed(1)}, crds ${t.crds.toFixed(1)} [${info.crds.length}], ` +
            `controller-manager ${t.controllerManager.toFixed(1)}) at ${info.server}`,
      );
      console.log(`KUBECONFIG=${info.kubeconfig}`);
      return 0;
    }
    case "down":
      await clusterDown({ dir });
      console.error(`cluster: down (${dir} removed)`);
      return 0;
    case "env":
    case "status": {
      const info = await readClusterState(dir);
      if (!info || !(await clusterHealthy(info))) {
        console.error(`cluster: none running in ${dir} (deno task cluster:up)`);
        return 1;
      }
      if (positionals[0] === "env") {
        for (const l of envLines(info)) console.log(l);
        return 0;
      }
      const { watchdog: _, ...daemons } = info.pids;
      for (const [name, pid] of Object.entries(daemons)) {
        console.log(
          `${name.padEnd(18)} pid ${String(pid).padEnd(8)} rss ${((rssKiB(pid) ?? 0) / 1024).toFixed(1)} MiB`,
        );
      }
      console.log(`server ${info.server}\nkubeconfig ${info.kubeconfig}`);
      return 0;
    }
    default:
      console.error("usage: cluster.ts up|down|env|status [--dir DIR] [--crds DIR]");
      return 2;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
