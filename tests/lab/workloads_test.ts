/** lab/workloads.ts: a pod template to podman's arguments, the kubelet's `$(VAR)` expansion, quantities. */
import assert from "node:assert/strict";
import { cpus, expandVars, memoryBytes, type PodContext, podmanRun } from "../../lab/workloads.ts";

const ctx: PodContext = {
  podName: "lab-wg-lax1",
  nodeName: "lax1",
  nodeNetns: "/run/netns/agentx",
  podNetns: "/run/netns/pod",
  hostPath: (p) => `/node${p}`,
  emptyDir: (v) => `/pod/volumes/${v}`,
  serviceAccountDir: "/sa",
  apiServer: { host: "127.0.0.1", port: 6443 },
  labels: { "io.dn42op.owner": "test" },
  logFile: "/logs/x.log",
};

// deno-lint-ignore no-explicit-any
function daemonSet(pod: any = {}, container: any = {}): any {
  return {
    kind: "DaemonSet",
    metadata: { name: "agent", namespace: "dn42op-system" },
    spec: {
      template: {
        spec: {
          serviceAccountName: "sa",
          hostNetwork: true,
          hostPID: true,
          tolerations: [{ operator: "Exists" }],
          containers: [{
            name: "agent",
            image: "dn42op:latest",
            command: ["/usr/local/bin/agent"],
            args: ["-nodename=$(NODE_NAME)", "-ns=$(POD_NS)", "-literal=$$(NODE_NAME)", "-unknown=$(NOPE)"],
            env: [
              { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              { name: "POD_NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
            ],
            ports: [{ name: "metrics", containerPort: 8080 }],
            livenessProbe: { httpGet: { path: "/healthz", port: "metrics" }, periodSeconds: 10 },
            readinessProbe: { httpGet: { path: "/readyz", port: 8080 } },
            resources: { requests: { cpu: "20m" }, limits: { memory: "512Mi" } },
            securityContext: { runAsUser: 0, readOnlyRootFilesystem: true, capabilities: { add: ["NET_ADMIN"] } },
            volumeMounts: [
              { name: "netns", mountPath: "/run/netns", mountPropagation: "HostToContainer" },
              { name: "tun", mountPath: "/dev/net/tun" },
              { name: "tmp", mountPath: "/tmp" },
            ],
            ...container,
          }],
          volumes: [
            { name: "netns", hostPath: { path: "/run/netns", type: "DirectoryOrCreate" } },
            { name: "tun", hostPath: { path: "/dev/net/tun", type: "CharDevice" } },
            { name: "tmp", emptyDir: {} },
          ],
          ...pod,
        },
      },
    },
  };
}

function pairs(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => a === flag ? [args[i + 1]] : []);
}

Deno.test("expandVars: defined variables replaced, $$ escapes, undefined kept", () => {
  const env = { A: "x", B: "y" };
  assert.deepEqual(expandVars("$(A)-$(B)", env), "x-y");
  assert.deepEqual(expandVars("$$(A)", env), "$(A)");
  assert.deepEqual(expandVars("$(C)", env), "$(C)");
  assert.deepEqual(expandVars("plain $A", env), "plain $A");
});

Deno.test("memoryBytes and cpus read Kubernetes quantities", () => {
  const cases: [string, number][] = [["512Mi", 536870912], ["1Gi", 2 ** 30], ["96M", 96e6], ["1000", 1000]];
  for (const [q, want] of cases) assert.deepEqual(memoryBytes(q), want, q);
  assert.throws(() => memoryBytes("lots"), /lots/);
  assert.deepEqual(cpus("500m"), 0.5);
  assert.deepEqual(cpus("2"), 2);
});

Deno.test("podmanRun: a host-network agent gets the node's network, host PID, caps, mounts, env and args", () => {
  const r = podmanRun(daemonSet(), ctx);
  const a = r.args;
  assert.deepEqual(pairs(a, "--network"), ["ns:/run/netns/agentx"]);
  assert.deepEqual(pairs(a, "--hostname"), ["lax1"]);
  assert.deepEqual(pairs(a, "--pid"), ["host"]);
  assert.deepEqual(pairs(a, "--user"), ["0"]);
  assert.deepEqual(pairs(a, "--cap-add"), ["NET_ADMIN"]);
  assert.ok(a.includes("--read-only") && a.includes("--read-only-tmpfs=false"));
  assert.deepEqual(pairs(a, "--security-opt"), ["seccomp=unconfined"], "no seccompProfile: the kubelet's Unconfined");
  assert.deepEqual(pairs(a, "--volume"), [
    "/node/run/netns:/run/netns:rslave",
    "/pod/volumes/tmp:/tmp:rprivate",
    "/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro",
  ]);
  assert.deepEqual(r.emptyDirs, ["/pod/volumes/tmp"]);
  assert.deepEqual(pairs(a, "--device"), ["/node/dev/net/tun:/dev/net/tun"]);
  assert.deepEqual(pairs(a, "--memory"), ["536870912"]);
  assert.deepEqual(pairs(a, "--stop-timeout"), ["30"]);
  assert.deepEqual(pairs(a, "--env"), [
    "NODE_NAME=lax1",
    "POD_NS=dn42op-system",
    "KUBERNETES_SERVICE_HOST=127.0.0.1",
    "KUBERNETES_SERVICE_PORT=6443",
  ]);
  const i = a.indexOf("dn42op:latest");
  assert.deepEqual(a.slice(i), [
    "dn42op:latest",
    "/usr/local/bin/agent",
    "-nodename=lax1",
    "-ns=dn42op-system",
    "-literal=$(NODE_NAME)",
    "-unknown=$(NOPE)",
  ]);
  assert.deepEqual(r.livenessProbe?.port, 8080, "a named port resolves through ports[]");
  assert.deepEqual(r.livenessProbe?.periodSeconds, 10);
  assert.deepEqual(r.readinessProbe?.path, "/readyz");
  assert.deepEqual(r.readinessProbe?.failureThreshold, 3, "the kubelet's default");
});

Deno.test("podmanRun: each container of a pod is a podman container; they share the pod's emptyDir directories", () => {
  const w = daemonSet();
  const pod = w.spec.template.spec;
  pod.containers.push({
    name: "helper",
    image: "dn42op:latest",
    command: ["/usr/local/bin/helper"],
    args: ["-node=$(NODE_NAME)"],
    env: [{ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
    securityContext: { capabilities: { add: ["SYS_ADMIN"] } },
    volumeMounts: [{ name: "tmp", mountPath: "/shared" }],
  });
  const main = podmanRun(w, ctx);
  const helper = podmanRun(w, ctx, "helper");
  assert.deepEqual([main.name, main.container], ["lab-wg-lax1", "agent"], "the first container is named after the pod");
  assert.deepEqual([helper.name, helper.container], ["lab-wg-lax1-helper", "helper"]);
  assert.deepEqual(pairs(helper.args, "--name"), ["lab-wg-lax1-helper"]);
  assert.deepEqual(pairs(helper.args, "--volume"), [
    "/pod/volumes/tmp:/shared:rprivate",
    "/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro",
  ]);
  assert.deepEqual(helper.emptyDirs, main.emptyDirs, "one directory for both");
  assert.deepEqual(pairs(helper.args, "--cap-add"), ["SYS_ADMIN"], "its own security context");
  assert.deepEqual(pairs(helper.args, "--pid"), ["host"], "the pod's host PID");
  assert.deepEqual(pairs(helper.args, "--network"), ["ns:/run/netns/agentx"], "the pod's host network");
  assert.deepEqual(helper.args.slice(-2), ["/usr/local/bin/helper", "-node=lax1"]);
  assert.equal(helper.readinessProbe, undefined);
  assert.throws(() => podmanRun(w, ctx, "nope"), /has no container nope/);
});

Deno.test("podmanRun: a host port offset shifts the declared ports in args and probes, nothing else", () => {
  const w = daemonSet({}, { args: ["-metrics-bind-address=:8080", "-other=:9090", "-nodename=$(NODE_NAME)"] });
  const r = podmanRun(w, { ...ctx, hostPortOffset: 100 });
  assert.deepEqual(r.args.slice(-3), ["-metrics-bind-address=:8180", "-other=:9090", "-nodename=lax1"]);
  assert.equal(r.readinessProbe?.port, 8180);
  assert.equal(r.livenessProbe?.port, 8180);
});

Deno.test("podmanRun: a pod-network Deployment as non-root with everything dropped", () => {
  const w = daemonSet(
    {
      hostNetwork: undefined,
      hostPID: undefined,
      terminationGracePeriodSeconds: 10,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: "RuntimeDefault" },
      },
    },
    { securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } },
  );
  w.kind = "Deployment";
  const a = podmanRun(w, ctx).args;
  assert.deepEqual(pairs(a, "--network"), ["ns:/run/netns/pod"]);
  assert.deepEqual(pairs(a, "--hostname"), ["lab-wg-lax1"]);
  assert.deepEqual(pairs(a, "--pid"), []);
  assert.deepEqual(pairs(a, "--user"), ["65532:65532"]);
  assert.deepEqual(pairs(a, "--cap-drop"), ["ALL"]);
  assert.deepEqual(pairs(a, "--security-opt"), ["no-new-privileges"], "RuntimeDefault is podman's default profile");
  const unconfined = daemonSet({}, { securityContext: { appArmorProfile: { type: "Unconfined" } } });
  assert.ok(podmanRun(unconfined, ctx).args.includes("apparmor=unconfined"));
  assert.deepEqual(pairs(a, "--stop-timeout"), ["10"]);
});

Deno.test("podmanRun: what the lab cannot reproduce is an error naming the field", () => {
  const cases: [string, ReturnType<typeof daemonSet>, string][] = [
    ["unknown pod field", daemonSet({ hostIPC: true }), "spec.template.spec.hostIPC"],
    ["unknown container field", daemonSet({}, { lifecycle: {} }), "container agent.lifecycle"],
    ["unknown securityContext field", daemonSet({}, { securityContext: { procMount: "Unmasked" } }), "procMount"],
    ["privileged", daemonSet({}, { securityContext: { privileged: true } }), "privileged"],
    ["runAsNonRoot as root", daemonSet({}, { securityContext: { runAsNonRoot: true, runAsUser: 0 } }), "runAsNonRoot"],
    ["localhost seccomp", daemonSet({ securityContext: { seccompProfile: { type: "Localhost" } } }), "Localhost"],
    ["exec probe", daemonSet({}, { livenessProbe: { exec: { command: ["true"] } } }), "livenessProbe.exec"],
    [
      "unknown env field",
      daemonSet({}, { env: [{ name: "X", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }] }),
      "status.podIP",
    ],
    ["other volume kind", daemonSet({ volumes: [{ name: "netns", configMap: { name: "x" } }] }), "configMap"],
    [
      "memory emptyDir",
      daemonSet({ volumes: [{ name: "tmp", emptyDir: { medium: "Memory" } }] }, {
        volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
      }),
      "emptyDir.medium",
    ],
  ];
  for (const [what, w, field] of cases) {
    assert.throws(() => podmanRun(w, ctx), (e: Error) => e.message.includes(field), what);
  }
});
