/**
 * deploy/'s workloads as podman containers, read from the rendered manifests (`kubectl kustomize deploy/`) by ONE
 * function, {@link podmanRun}, so the lab runs exactly what the manifests declare: image, command and args (with
 * `$(VAR)` expanded as the kubelet does), environment (values and the downward API), user, read-only root, capabilities,
 * privilege escalation, seccomp, host network and PID, volumes (hostPath, emptyDir) with their mount propagation,
 * memory and CPU limits, the service account's token, probes and the termination grace period. A pod of several
 * containers is one podman container each (the first named after the pod, the others `<pod>-<container>`), sharing
 * what a pod's containers share here: the emptyDir volumes (one directory each, bind-mounted into every container
 * that mounts it) and, through hostNetwork and hostPID, the node's network and PIDs.
 *
 * A field it does not know makes it throw naming the field: a manifest change the lab cannot follow is an error, never
 * a silently different container. What the lab decides (the node's file system, network namespaces, the token) comes
 * in through {@link PodContext}.
 */
import { parseAllDocuments } from "yaml";
import { BINARIES } from "../scripts/controlplane/build.ts";
import { ROOT } from "../scripts/programs.ts";
import { run } from "../kit/proc.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Where the service account's token, CA and namespace are mounted (by the kubelet, and here). */
export const SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Kubernetes' default `terminationGracePeriodSeconds`. */
export const DEFAULT_GRACE_SECONDS = 30;

/** `kubectl kustomize <dir>` (default deploy/): the rendered objects. */
export async function renderManifests(dir = `${ROOT}deploy`, kubectl = BINARIES.kubectl): Promise<Obj[]> {
  return parseAllDocuments(await run([kubectl, "kustomize", dir])).map((d) => d.toJS()).filter(Boolean);
}

/** The DaemonSet or Deployment `name` among rendered objects; throws when absent. */
export function workload(objs: Obj[], name: string): Obj {
  const w = objs.find((o) => ["DaemonSet", "Deployment"].includes(o.kind) && o.metadata?.name === name);
  if (!w) throw new Error(`deploy/: no DaemonSet or Deployment named ${name}`);
  return w;
}

/** What the lab decides for one pod of a workload. */
export interface PodContext {
  /** Pod (and podman container) name. */
  podName: string;
  /** The node the pod runs on (`spec.nodeName`). */
  nodeName: string;
  /** Network namespace (path) of the node: hostNetwork pods join it. */
  nodeNetns: string;
  /** Network namespace (path) of this pod when it is not on the host network. */
  podNetns?: string;
  /** Where a hostPath of the manifests is on this machine (the lab's node file system). */
  hostPath(path: string): string;
  /** The directory of the pod's emptyDir volume `name` (one per pod, shared by its containers, as the kubelet's). */
  emptyDir(name: string): string;
  /** Added to a host-network pod's ports (its declared containerPorts, in args and probes): nodes sharing a network. */
  hostPortOffset?: number;
  /** Directory holding `token`, `ca.crt` and `namespace` of the pod's service account. */
  serviceAccountDir?: string;
  /** KUBERNETES_SERVICE_HOST and _PORT as the pod sees them. */
  apiServer?: { host: string; port: number };
  /** Labels of the container (`io.dn42op.owner`: lab, test; the lab's instance). */
  labels: Record<string, string>;
  /** Container log file (podman's k8s-file driver). */
  logFile?: string;
}

/** A kubelet-style HTTP probe, resolved to a port number. */
export interface HttpProbe {
  path: string;
  port: number;
  scheme: "HTTP" | "HTTPS";
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
  successThreshold: number;
  initialDelaySeconds: number;
}

/** One container of a pod as podman runs it. */
export interface PodmanRun {
  /** Podman container name. */
  name: string;
  /** The container's name in the pod template. */
  container: string;
  image: string;
  /** `podman run` arguments after `run` (image and command included). */
  args: string[];
  /** The pod's namespace (`metadata.namespace` of the workload). */
  namespace: string;
  serviceAccountName?: string;
  hostNetwork: boolean;
  /** Network namespace path the container joins. */
  netns: string;
  /** The hostPath volumes as mapped by the context, with their declared type (to create or check). */
  hostPaths: { source: string; type?: string }[];
  /** The emptyDir directories it mounts (to create, mode 0777 as the kubelet's). */
  emptyDirs: string[];
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  terminationGracePeriodSeconds: number;
}

/** Throws when `o` has keys outside `known`, naming the first one with its path. */
function onlyKnown(o: Obj, known: string[], where: string): void {
  for (const k of Object.keys(o ?? {})) {
    if (!known.includes(k)) throw new Error(`deploy/: ${where}.${k} is not mapped to podman by lab/workloads.ts`);
  }
}

/** The kubelet's `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`, the rest kept. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name) => {
    if (m === "$$") return "$";
    return name in env ? env[name] : m;
  });
}

/** A Kubernetes memory quantity as podman's `--memory` value (bytes). */
export function memoryBytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTE]i?|k|m)?$/.exec(String(q));
  if (!m) throw new Error(`deploy/: memory quantity ${q} not understood`);
  const unit = m[2] ?? "";
  const pow: Record<string, number> = {
    "": 1,
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Ei: 2 ** 60,
    m: 1e-3,
  };
  return Math.ceil(Number(m[1]) * pow[unit]);
}

/** A Kubernetes CPU quantity (`500m`, `2`) in CPUs. */
export function cpus(q: string | number): number {
  const s = String(q);
  return s.endsWith("m") ? Number(s.slice(0, -1)) / 1000 : Number(s);
}

/** The value of an env var's downward-API field reference for this pod. */
function fieldRef(path: string, w: Obj, ctx: PodContext): string {
  const values: Record<string, string | undefined> = {
    "spec.nodeName": ctx.nodeName,
    "metadata.name": ctx.podName,
    "metadata.namespace": w.metadata.namespace ?? "default",
    "spec.serviceAccountName": w.spec.template.spec.serviceAccountName ?? "default",
  };
  const v = values[path];
  if (v === undefined) throw new Error(`deploy/: env fieldRef ${path} is not mapped to podman by lab/workloads.ts`);
  return v;
}

function probe(p: Obj, ports: Obj[], where: string, offset: number): HttpProbe | undefined {
  if (!p) return undefined;
  onlyKnown(
    p,
    ["httpGet", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold", "initialDelaySeconds"],
    where,
  );
  if (!p.httpGet) throw new Error(`deploy/: ${where} is not an httpGet probe`);
  onlyKnown(p.httpGet, ["path", "port", "scheme", "host"], `${where}.httpGet`);
  // The lab probes 127.0.0.1 inside the pod's network namespace (lab/probe.ts), which is what a host-network pod's
  // `host: 127.0.0.1` asks the kubelet for; any other host is not mapped.
  if (p.httpGet.host !== undefined && p.httpGet.host !== "127.0.0.1") {
    throw new Error(`deploy/: ${where}.httpGet.host ${p.httpGet.host} is not mapped to podman by lab/workloads.ts`);
  }
  const port = typeof p.httpGet.port === "number"
    ? p.httpGet.port
    : ports.find((x) => x.name === p.httpGet.port)?.containerPort;
  if (typeof port !== "number") throw new Error(`deploy/: ${where}.httpGet.port ${p.httpGet.port} names no port`);
  return {
    path: p.httpGet.path ?? "/",
    port: port + offset,
    scheme: p.httpGet.scheme ?? "HTTP",
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
    successThreshold: p.successThreshold ?? 1,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
  };
}

const PROPAGATION: Record<string, string> = { None: "rprivate", HostToContainer: "rslave", Bidirectional: "rshared" };

/**
 * The podman container of container `container` (default: the first) of one pod of workload `w` (a rendered DaemonSet
 * or Deployment) on the lab's node `ctx`. Throws on anything in the pod template it cannot reproduce.
 */
export function podmanRun(w: Obj, ctx: PodContext, container?: string): PodmanRun {
  const where = `${w.kind}/${w.metadata.name}`;
  const pod = w.spec.template.spec;
  onlyKnown(pod, [
    "serviceAccountName",
    "automountServiceAccountToken",
    "hostNetwork",
    "hostPID",
    "tolerations", // scheduling: the lab places pods itself
    "nodeSelector",
    "priorityClassName",
    "dnsPolicy",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "securityContext",
    "containers",
    "volumes",
  ], `${where} spec.template.spec`);
  const c = container === undefined ? pod.containers[0] : pod.containers.find((x: Obj) => x.name === container);
  if (!c) throw new Error(`deploy/: ${where} has no container ${container}`);
  const cw = `${where} container ${c.name}`;
  const name = c === pod.containers[0] ? ctx.podName : `${ctx.podName}-${c.name}`;
  onlyKnown(c, [
    "name",
    "image",
    "imagePullPolicy", // the image is local
    "command",
    "args",
    "env",
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "resources",
    "securityContext",
    "volumeMounts",
  ], cw);
  const psc = pod.securityContext ?? {};
  const csc = c.securityContext ?? {};
  onlyKnown(
    psc,
    ["runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "appArmorProfile"],
    `${where} pod securityContext`,
  );
  onlyKnown(csc, [
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "capabilities",
    "allowPrivilegeEscalation",
    "privileged",
    "seccompProfile",
    "appArmorProfile",
  ], `${cw} securityContext`);
  const sc = { ...psc, ...csc };
  const args: string[] = ["--detach", "--name", name];
  for (const [k, v] of Object.entries(ctx.labels)) args.push("--label", `${k}=${v}`);

  // Environment: plain values and downward-API fields, then the in-cluster API service.
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    onlyKnown(e, ["name", "value", "valueFrom"], `${cw} env ${e.name}`);
    if (e.valueFrom) {
      onlyKnown(e.valueFrom, ["fieldRef"], `${cw} env ${e.name}.valueFrom`);
      env[e.name] = fieldRef(e.valueFrom.fieldRef.fieldPath, w, ctx);
    } else env[e.name] = expandVars(String(e.value ?? ""), env);
  }
  const automount = pod.automountServiceAccountToken !== false;
  if (automount && ctx.apiServer) {
    env.KUBERNETES_SERVICE_HOST = ctx.apiServer.host;
    env.KUBERNETES_SERVICE_PORT = String(ctx.apiServer.port);
  }
  for (const [k, v] of Object.entries(env)) args.push("--env", `${k}=${v}`);

  // Identity and confinement.
  const uid = sc.runAsUser;
  if (sc.runAsNonRoot && (uid === undefined || uid === 0)) {
    throw new Error(`deploy/: ${cw}: runAsNonRoot with runAsUser ${uid ?? "unset"} (the kubelet refuses to start it)`);
  }
  if (uid !== undefined) args.push("--user", sc.runAsGroup !== undefined ? `${uid}:${sc.runAsGroup}` : String(uid));
  if (sc.privileged) throw new Error(`deploy/: ${cw} is privileged; the lab does not run privileged containers`);
  if (sc.readOnlyRootFilesystem) args.push("--read-only", "--read-only-tmpfs=false");
  onlyKnown(sc.capabilities, ["add", "drop"], `${cw} securityContext.capabilities`);
  for (const cap of sc.capabilities?.drop ?? []) args.push("--cap-drop", cap);
  for (const cap of sc.capabilities?.add ?? []) args.push("--cap-add", cap);
  if (sc.allowPrivilegeEscalation === false) args.push("--security-opt", "no-new-privileges");
  const seccomp = sc.seccompProfile?.type ?? "Unconfined"; // the kubelet's default without --seccomp-default
  if (seccomp === "Unconfined") args.push("--security-opt", "seccomp=unconfined");
  else if (seccomp !== "RuntimeDefault") {
    throw new Error(`deploy/: ${cw} seccompProfile ${seccomp} is not mapped to podman by lab/workloads.ts`);
  }

  const apparmor = sc.appArmorProfile?.type ?? "RuntimeDefault";
  if (apparmor === "Unconfined") args.push("--security-opt", "apparmor=unconfined");
  else if (apparmor !== "RuntimeDefault") {
    throw new Error(`deploy/: ${cw} appArmorProfile ${apparmor} is not mapped to podman by lab/workloads.ts`);
  }

  // Namespaces.
  const hostNetwork = pod.hostNetwork === true;
  const netns = hostNetwork ? ctx.nodeNetns : ctx.podNetns;
  if (!netns) throw new Error(`deploy/: ${where} is not on the host network and the lab gave it no pod network`);
  args.push("--network", `ns:${netns}`, "--hostname", hostNetwork ? ctx.nodeName : ctx.podName);
  if (pod.hostPID) args.push("--pid", "host");

  // Volumes.
  const volumes = new Map<string, Obj>((pod.volumes ?? []).map((v: Obj) => [v.name, v]));
  const hostPaths: { source: string; type?: string }[] = [];
  const emptyDirs: string[] = [];
  for (const m of c.volumeMounts ?? []) {
    onlyKnown(m, ["name", "mountPath", "readOnly", "mountPropagation"], `${cw} volumeMount ${m.name}`);
    const v = volumes.get(m.name);
    if (!v) throw new Error(`deploy/: ${cw} mounts volume ${m.name}, which the pod does not declare`);
    onlyKnown(v, ["name", "hostPath", "emptyDir"], `${where} volume ${v.name}`);
    const ro = m.readOnly ? ",ro" : "";
    const propagation = PROPAGATION[m.mountPropagation ?? "None"];
    if (!propagation) throw new Error(`deploy/: ${cw} mountPropagation ${m.mountPropagation} unknown`);
    if (v.hostPath) {
      onlyKnown(v.hostPath, ["path", "type"], `${where} volume ${v.name}.hostPath`);
      const source = ctx.hostPath(v.hostPath.path);
      hostPaths.push({ source, type: v.hostPath.type });
      if (v.hostPath.type === "CharDevice") args.push("--device", `${source}:${m.mountPath}${m.readOnly ? ":r" : ""}`);
      else args.push("--volume", `${source}:${m.mountPath}:${propagation}${ro}`);
    } else if (v.emptyDir) {
      // sizeLimit: the kubelet evicts a pod over it (it is no mount option); the lab's directories are on /run.
      onlyKnown(v.emptyDir, ["sizeLimit"], `${where} volume ${v.name}.emptyDir`);
      const source = ctx.emptyDir(v.name);
      emptyDirs.push(source);
      args.push("--volume", `${source}:${m.mountPath}:${propagation}${ro}`);
    } else throw new Error(`deploy/: ${where} volume ${v.name} has no hostPath or emptyDir`);
  }
  if (automount && ctx.serviceAccountDir) args.push("--volume", `${ctx.serviceAccountDir}:${SERVICE_ACCOUNT_MOUNT}:ro`);

  // Resources: limits are enforced; requests only schedule.
  onlyKnown(c.resources, ["requests", "limits"], `${cw} resources`);
  onlyKnown(c.resources?.limits, ["memory", "cpu"], `${cw} resources.limits`);
  if (c.resources?.limits?.memory) args.push("--memory", String(memoryBytes(c.resources.limits.memory)));
  if (c.resources?.limits?.cpu) args.push("--cpus", String(cpus(c.resources.limits.cpu)));

  // Lifecycle: restartPolicy Always (the only one of DaemonSets and Deployments), the grace period, logs.
  const grace = pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  args.push("--restart", "always", "--stop-timeout", String(grace));
  if (ctx.logFile) args.push("--log-driver", "k8s-file", "--log-opt", `path=${ctx.logFile}`);

  if (!c.command?.length) throw new Error(`deploy/: ${cw} has no command (the image has no entry point)`);
  const offset = hostNetwork ? ctx.hostPortOffset ?? 0 : 0;
  // Shifted: the declared ports and the ports the probes use (node agents declare none: they listen on the node's
  // loopback only).
  const probed = [c.livenessProbe, c.readinessProbe, c.startupProbe].map((p) => p?.httpGet?.port);
  const ports: number[] = [
    ...(c.ports ?? []).map((p: Obj) => p.containerPort),
    ...probed.filter((p): p is number => typeof p === "number"),
  ];
  const shift = (s: string) => {
    const m = /^(.*:)(\d+)$/.exec(s);
    return m && offset && ports.includes(Number(m[2])) ? `${m[1]}${Number(m[2]) + offset}` : s;
  };
  args.push(c.image, ...c.command.map((s: string) => expandVars(s, env)));
  args.push(...(c.args ?? []).map((s: string) => shift(expandVars(String(s), env))));
  return {
    name,
    container: c.name,
    image: c.image,
    args,
    namespace: w.metadata.namespace ?? "default",
    serviceAccountName: pod.serviceAccountName,
    hostNetwork,
    netns,
    hostPaths,
    emptyDirs,
    livenessProbe: probe(c.livenessProbe, c.ports ?? [], `${cw} livenessProbe`, offset),
    readinessProbe: probe(c.readinessProbe, c.ports ?? [], `${cw} readinessProbe`, offset),
    startupProbe: probe(c.startupProbe, c.ports ?? [], `${cw} startupProbe`, offset),
    terminationGracePeriodSeconds: grace,
  };
}
