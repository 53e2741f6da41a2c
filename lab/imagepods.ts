/**
 * `lab:up --image`: deploy/'s workloads run as podman containers from the image (`deno task image`), each as
 * {@link podmanRun} reads it from the rendered manifests, doing what a kubelet would do around it:
 *
 * - the manifests' cluster objects (CRDs, admission policy, namespace, ServiceAccounts, Roles, RoleBindings) applied;
 * - a Node object per lab node and a Pod object per pod (nothing runs from them: there is no kubelet), so each pod's
 *   service-account token is bound to its Pod, and a node agent's token carries its node's name as the admission
 *   policy requires; token, CA and namespace mounted where the kubelet mounts them, with KUBERNETES_SERVICE_HOST/PORT;
 * - DaemonSet pods on every node, in the node's network namespace (the lab's agentx), hostPaths in the node's file
 *   system: `<stateDir>/nodes/<node>/<path>`, except what is machine-wide on one kernel (/run/netns, /dev/…) and the
 *   container runtime's socket (podman's Docker API); a pod's emptyDir volumes in `<stateDir>/pods/<pod>/volumes/`;
 * - each container of a pod, in the template's order (the kubelet's), as one podman container;
 * - Deployment pods (replicas of them) each in a network namespace of its own, with the API reachable on its loopback;
 * - the readiness probe called until it answers, and the time from `podman run` to Ready recorded.
 *
 * The lab's one deviation: its nodes share one network namespace (the examples put both nodes' endpoints on agentx),
 * so node i's host ports are shifted by 100·i (lax1 keeps the manifests' ports).
 */
import { stringify } from "yaml";
import { BINARIES } from "../scripts/controlplane/build.ts";
import { readKubeconfig } from "../scripts/controlplane/kubeconfig.ts";
import { ensureImage } from "../scripts/image/build.ts";
import { apiPort, startApiPipe } from "./controllers.ts";
import { exec, run } from "../kit/proc.ts";
import { OWNER_LABEL, Podman } from "./podman/podman.ts";
import { waitForProbe } from "./probe.ts";
import { type PodmanRun, podmanRun, renderManifests } from "./workloads.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Label holding the lab instance (its state directory) on every container started here. */
export const INSTANCE_LABEL = "io.dn42op.instance";

/** Host ports of lab node i are the manifests' plus this times i (the nodes share agentx). */
export const NODE_PORT_STEP = 100;

/** Options of {@link startImagePods}. */
export interface ImagePodsOptions {
  stateDir: string;
  /** The nodes' network namespace (name under /run/netns). */
  agentxNetns: string;
  kubeconfig: string;
  server: string;
  nodes: string[];
  /** Owner label value (lab, test). */
  owner: string;
  /** Prefix of container and network namespace names. */
  prefix: string;
  /** Path of podman's Docker API socket: the manifests' Docker socket hostPath. */
  dockerSocket: string;
  podman?: Podman;
  /** Rendered manifests (default: deploy/ rendered by kubectl kustomize). */
  objects?: Obj[];
  /** How long to wait for each pod's readiness probe. */
  readyTimeoutMs?: number;
}

/** A running container of a pod. */
export interface ImagePod {
  run: PodmanRun;
  /** Kubernetes namespace and name of its Pod object. */
  namespace: string;
  podObject: string;
  node?: string;
  /** Milliseconds from `podman run` to the first successful readiness probe (to running, without one). */
  readyMs: number;
  /** The container's main process (host PID). */
  pid: number;
}

/** Where a manifest's hostPath is on the lab machine for `node` (see the module comment). */
export function labHostPath(stateDir: string, node: string, dockerSocket: string): (path: string) => string {
  return (path) => {
    if (path === "/var/run/docker.sock" || path === "/run/docker.sock") return dockerSocket;
    if (path === "/run/netns" || path === "/dev" || path.startsWith("/dev/")) return path;
    return `${stateDir}/nodes/${node}${path}`;
  };
}

function kubectl(o: ImagePodsOptions, args: string[], stdin?: string) {
  return exec([BINARIES.kubectl, `--kubeconfig=${o.kubeconfig}`, ...args], { stdin }).then((r) => {
    if (r.code !== 0) throw new Error(`kubectl ${args.slice(0, 3).join(" ")}: ${r.stderr.trim()}`);
    return r.stdout;
  });
}

function applyObjects(o: ImagePodsOptions, objs: Obj[]): Promise<string> {
  const yaml = objs.map((x) => stringify(x)).join("---\n");
  return kubectl(o, ["apply", "--server-side", "--force-conflicts", "--field-manager=dn42op-lab", "-f", "-"], yaml);
}

/** Writes the token (bound to Pod `pod`), CA and namespace of ServiceAccount `sa`; returns the directory. */
async function serviceAccountDir(o: ImagePodsOptions, ns: string, sa: string, pod: string): Promise<string> {
  const dir = `${o.stateDir}/pods/${pod}/serviceaccount`;
  await Deno.mkdir(dir, { recursive: true });
  const token = await kubectl(o, [
    "-n",
    ns,
    "create",
    "token",
    sa,
    "--duration=24h",
    "--bound-object-kind=Pod",
    `--bound-object-name=${pod}`,
  ]);
  const ca = readKubeconfig(await Deno.readTextFile(o.kubeconfig)).caPem;
  // Mode 0644 as the kubelet's projected volume: the plan controller reads it as a non-root user.
  for (const [f, text] of [["token", token.trim()], ["ca.crt", ca], ["namespace", ns]]) {
    await Deno.writeTextFile(`${dir}/${f}`, text, { mode: 0o644 });
    await Deno.chmod(`${dir}/${f}`, 0o644);
  }
  return dir;
}

/** Creates an emptyDir's directory as the kubelet does (mode 0777). */
async function prepareEmptyDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o777);
}

/** Creates what a hostPath volume's type demands (DirectoryOrCreate) and checks the rest. */
async function prepareHostPath(source: string, type: string | undefined): Promise<void> {
  const st = await Deno.stat(source).catch(() => undefined);
  if (type === "DirectoryOrCreate") {
    if (!st) await Deno.mkdir(source, { recursive: true, mode: 0o755 });
  } else if (type === "Socket" && !st?.isSocket) throw new Error(`hostPath ${source}: not a socket`);
  else if (type === "CharDevice" && !st?.isCharDevice) throw new Error(`hostPath ${source}: not a character device`);
  else if (type === "Directory" && !st?.isDirectory) throw new Error(`hostPath ${source}: not a directory`);
}

async function ensureNetns(name: string): Promise<string> {
  if (!await Deno.stat(`/run/netns/${name}`).then(() => true, () => false)) {
    await run(["ip", "netns", "add", name]);
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
  }
  return `/run/netns/${name}`;
}

/** The pods to run: every DaemonSet on every node, every Deployment's replicas. */
function plan(objs: Obj[], nodes: string[]): { w: Obj; podObject: string; node?: string; index: number }[] {
  const out: { w: Obj; podObject: string; node?: string; index: number }[] = [];
  for (const w of objs.filter((x) => x.kind === "DaemonSet")) {
    nodes.forEach((node, index) => out.push({ w, podObject: `${w.metadata.name}-${node}`, node, index }));
  }
  for (const w of objs.filter((x) => x.kind === "Deployment")) {
    for (let i = 0; i < (w.spec.replicas ?? 1); i++) out.push({ w, podObject: `${w.metadata.name}-${i}`, index: i });
  }
  return out;
}

/**
 * Applies the manifests' cluster objects and starts every pod (see the module comment); returns once each answers
 * its readiness probe. Builds the image when it is missing.
 */
export async function startImagePods(o: ImagePodsOptions): Promise<ImagePod[]> {
  const podman = o.podman ?? new Podman();
  await ensureImage(undefined, podman);
  const objs = o.objects ?? await renderManifests();
  await applyObjects(o, objs.filter((x) => !["DaemonSet", "Deployment"].includes(x.kind)));
  const pods = plan(objs, o.nodes);
  // Node and Pod objects: a token bound to a Pod on a Node carries the node's name. Deployment pods stay
  // unscheduled (nothing evicts them while no kubelet reports).
  await applyObjects(o, [
    ...o.nodes.map((n) => ({ apiVersion: "v1", kind: "Node", metadata: { name: n } })),
    ...pods.map((p) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: p.podObject, namespace: p.w.metadata.namespace },
      spec: {
        ...(p.node ? { nodeName: p.node } : {}),
        serviceAccountName: p.w.spec.template.spec.serviceAccountName,
        tolerations: p.w.spec.template.spec.tolerations,
        containers: p.w.spec.template.spec.containers.map((c: Obj) => ({ name: c.name, image: c.image })),
      },
    })),
  ]);
  const podNetns = new Map<string, string>();
  const shortName = (podObject: string) => podObject.replace(/^dn42op-/, "");
  for (const p of pods.filter((p) => !p.w.spec.template.spec.hostNetwork)) {
    podNetns.set(p.podObject, await ensureNetns(`${o.prefix}pod-${shortName(p.podObject)}`));
  }
  await startApiPipe(o.stateDir, o.server, o.agentxNetns, "api-pipe-agentx");
  for (const [pod, path] of podNetns) {
    await startApiPipe(o.stateDir, o.server, path.slice("/run/netns/".length), `api-pipe-${pod}`);
  }
  const env = await podman.env();
  await Deno.mkdir(`${o.stateDir}/logs`, { recursive: true });
  const started: { run: PodmanRun; p: (typeof pods)[number]; t0: number }[] = [];
  for (const p of pods) {
    const name = shortName(p.podObject);
    const ctx = {
      podName: `${o.prefix}${name}`,
      nodeName: p.node ?? "",
      nodeNetns: `/run/netns/${o.agentxNetns}`,
      podNetns: podNetns.get(p.podObject),
      hostPath: labHostPath(o.stateDir, p.node ?? "", o.dockerSocket),
      emptyDir: (volume: string) => `${o.stateDir}/pods/${p.podObject}/volumes/${volume}`,
      hostPortOffset: p.node ? NODE_PORT_STEP * p.index : 0,
      serviceAccountDir: await serviceAccountDir(
        o,
        p.w.metadata.namespace,
        p.w.spec.template.spec.serviceAccountName,
        p.podObject,
      ),
      apiServer: { host: "127.0.0.1", port: apiPort(o.server) },
      labels: { [OWNER_LABEL]: o.owner, [INSTANCE_LABEL]: o.stateDir },
    };
    for (const c of p.w.spec.template.spec.containers) {
      const first = c === p.w.spec.template.spec.containers[0];
      const logFile = `${o.stateDir}/logs/${name}${first ? "" : `-${c.name}`}.log`;
      const run = podmanRun(p.w, { ...ctx, logFile }, c.name);
      for (const h of run.hostPaths) await prepareHostPath(h.source, h.type);
      for (const d of run.emptyDirs) await prepareEmptyDir(d);
      await exec(["podman", "rm", "--force", "--ignore", run.name], { env });
      const t0 = performance.now();
      const r = await exec(["podman", "run", ...run.args], { env });
      if (r.code !== 0) throw new Error(`podman run ${run.name}: ${r.stderr.trim()}`);
      started.push({ run, p, t0 });
    }
  }
  // All probed at once, so each pod's time to Ready is its own.
  return await Promise.all(started.map(async ({ run, p, t0 }): Promise<ImagePod> => {
    if (run.readinessProbe) await waitForProbe(run.netns, run.readinessProbe, o.readyTimeoutMs ?? 180_000);
    const readyMs = performance.now() - t0;
    return {
      run,
      namespace: p.w.metadata.namespace,
      podObject: p.podObject,
      node: p.node,
      readyMs,
      pid: await podman.pid(run.name),
    };
  }));
}

/**
 * Stops the containers of the lab instance at `stateDir` (each within its own stop timeout: the manifests' grace
 * period), removes them and the pods' network namespaces `<prefix>pod-…`. Idempotent.
 */
export async function stopImagePods(stateDir: string, prefix: string, podman = new Podman()): Promise<void> {
  if (await podman.unusableReason() !== null) return;
  const names =
    (await podman.run("ps", "--all", "--filter", `label=${INSTANCE_LABEL}=${stateDir}`, "--format", "{{.Names}}"))
      .split("\n").map((s) => s.trim()).filter(Boolean);
  if (names.length) {
    await podman.run("stop", ...names);
    await podman.run("rm", "--force", "--ignore", ...names);
  }
  const netns = await Array.fromAsync(Deno.readDir("/run/netns")).catch(() => []);
  for (const e of netns.filter((e) => e.name.startsWith(`${prefix}pod-`))) await exec(["ip", "netns", "del", e.name]);
}
