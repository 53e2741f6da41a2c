/**
 * deploy/ as a whole: the CRD copies are current, the programs accept the flags the manifests pass, the probes point
 * at the ops server's port, and the whole base applies with a server-side dry run against the real API server.
 */
import assert from "node:assert/strict";
import { renderPolicyFiles } from "../../src/api/admission.ts";
import { renderCrdFiles } from "../../src/api/crds.ts";
import { programCommand } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl } from "../../kit/cluster.ts";
import { stringify } from "yaml";
import { baseFor, DEPLOY_DIR, type Obj, renderBase, SERVICE_ACCOUNTS, withNamespaces } from "../../kit/deploy.ts";

Deno.test("deploy: deploy/crds/ and the admission policies hold exactly what `deno task crds` generates", async () => {
  const files = renderCrdFiles();
  assert.ok(files.size >= 3);
  for (const [name, text] of files) {
    assert.equal(await Deno.readTextFile(`${DEPLOY_DIR}/crds/${name}`), text, `deploy/crds/${name} is stale`);
  }
  const kust = await Deno.readTextFile(`${DEPLOY_DIR}/kustomization.yaml`);
  for (const [name] of files) assert.ok(kust.includes(`crds/${name}`), `kustomization.yaml lists crds/${name}`);
  for (const [name, text] of renderPolicyFiles()) {
    assert.equal(await Deno.readTextFile(`${DEPLOY_DIR}/${name}`), text, `deploy/${name} is stale`);
    assert.ok(kust.includes(`- ${name}`), `kustomization.yaml lists ${name}`);
  }
});

/** The programs the base deploys (the CLI is not one of them). */
type Deployed = keyof typeof SERVICE_ACCOUNTS;

/** The workload objects (DaemonSets and Deployment) of the base, by program. */
function workloads(objs: Obj[]): Map<Deployed, Obj> {
  const out = new Map<Deployed, Obj>();
  for (const o of objs.filter((o) => o.kind === "DaemonSet" || o.kind === "Deployment")) {
    const c = o.spec.template.spec.containers[0];
    out.set(c.command[0].replace(/^.*\//, "") as Deployed, o);
  }
  return out;
}

Deno.test({
  name: "deploy: every container's flags are accepted by its program (run through programCommand with -h)",
  ignore: skipUnless("cluster"),
  fn: async () => {
    const objs = await renderBase();
    const w = workloads(objs);
    assert.deepEqual([...w.keys()].sort(), ["nl-controller", "wg-controller", "wgplan-controller"]);
    for (const [name, o] of w) {
      const c = o.spec.template.spec.containers[0];
      const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, `value-of-${e.name.toLowerCase()}`]));
      const args: string[] = c.args.map((a: string) => a.replace(/\$\((\w+)\)/g, (_, v) => env[v] ?? `$(${v})`));
      assert.ok(args.every((a) => !a.includes("$(")), `${name}: every $(VAR) in args is a declared env var`);
      const cmd = programCommand(name, [...args, "-h"]);
      const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${name} rejected ${args.join(" ")}: ${stderr}`);
      assert.match(stderr, new RegExp(`Usage of ${name}:`));
      // The pod's ServiceAccount is the program's own.
      assert.equal(o.spec.template.spec.serviceAccountName, SERVICE_ACCOUNTS[name]);
    }
  },
});

Deno.test({
  name: "deploy: probes hit /healthz and /readyz on the port of -metrics-bind-address; node agents get host access",
  ignore: skipUnless("cluster"),
  fn: async () => {
    const objs = await renderBase();
    for (const [name, o] of workloads(objs)) {
      const pod = o.spec.template.spec;
      const c = pod.containers[0];
      const address = c.args.find((a: string) => a.startsWith("-metrics-bind-address="))?.split("=")[1];
      const port = Number(address?.split(":").at(-1));
      assert.ok(port > 0, `${name}: explicit metrics port`);
      // Hardening common to all: seccomp RuntimeDefault, read-only root, no capability beyond the listed ones.
      assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" }, name);
      for (const k of pod.containers) {
        assert.equal(k.securityContext.readOnlyRootFilesystem, true, `${name}/${k.name}`);
        assert.deepEqual(k.securityContext.capabilities.drop, ["ALL"], `${name}/${k.name}`);
        // A second container (wg-controller's wireguard-go-holder) reads the first one's /proc/<pid>/fd: the kernel
        // lets it only when its capabilities include the first one's.
        for (const cap of c.securityContext.capabilities.add ?? []) {
          assert.ok(k.securityContext.capabilities.add?.includes(cap), `${name}/${k.name} lacks ${cap}`);
        }
      }
      if (name === "wgplan-controller") {
        assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port }, name);
        assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port }, name);
        assert.equal(o.kind, "Deployment");
        assert.equal(o.spec.replicas, 2);
        assert.ok(c.args.includes("-leader-elect=true"));
        assert.equal(pod.hostNetwork, undefined);
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] });
        // Its metrics port is reachable only from namespaces labelled as scrapers.
        const np = objs.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "dn42op-wgplan-controller");
        assert.deepEqual(np.spec.podSelector.matchLabels, o.spec.selector.matchLabels);
        assert.deepEqual(np.spec.ingress, [{
          from: [{ namespaceSelector: { matchLabels: { "networking.dn42.io/metrics-scraper": "true" } } }],
          ports: [{ protocol: "TCP", port }],
        }]);
        continue;
      }
      // Node agents share the node's network: metrics and probes on the node's loopback only.
      assert.equal(address, `127.0.0.1:${port}`, name);
      assert.deepEqual(c.livenessProbe.httpGet, { host: "127.0.0.1", path: "/healthz", port }, name);
      assert.deepEqual(c.readinessProbe.httpGet, { host: "127.0.0.1", path: "/readyz", port }, name);
      assert.equal(c.ports, undefined, `${name}: no port published`);
      assert.equal(o.kind, "DaemonSet");
      assert.equal(pod.hostNetwork, true);
      assert.equal(pod.hostPID, true);
      assert.deepEqual(c.securityContext.capabilities.add, ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"]);
      assert.ok(c.args.includes("-nodename=$(NODE_NAME)"));
      assert.deepEqual(c.env.find((e: Obj) => e.name === "NODE_NAME").valueFrom, {
        fieldRef: { fieldPath: "spec.nodeName" },
      });
      const netns = c.volumeMounts.find((m: Obj) => m.mountPath === "/run/netns");
      assert.equal(netns.mountPropagation, "HostToContainer");
      const sock = pod.volumes.find((v: Obj) =>
        v.name === c.volumeMounts.find((m: Obj) => m.mountPath === "/var/run/docker.sock").name
      );
      assert.equal(sock.hostPath.path, "/var/run/docker.sock");
    }
  },
});

Deno.test({
  name: "deploy: components/no-container-runtime leaves the node agents without the container runtime socket",
  ignore: skipUnless("cluster"),
  fn: async () => {
    // kustomize takes only relative resource paths: the overlay sits next to a link to deploy/.
    const dir = await Deno.makeTempDir({ prefix: "dn42op-ten-overlay-" });
    try {
      await Deno.symlink(DEPLOY_DIR, `${dir}/deploy`);
      await Deno.mkdir(`${dir}/overlay`);
      await Deno.writeTextFile(
        `${dir}/overlay/kustomization.yaml`,
        stringify({
          apiVersion: "kustomize.config.k8s.io/v1beta1",
          kind: "Kustomization",
          resources: ["../deploy"],
          components: ["../deploy/components/no-container-runtime"],
        }),
      );
      const agents = [...workloads(await renderBase(`${dir}/overlay`))].filter(([name]) =>
        name !== "wgplan-controller"
      );
      assert.equal(agents.length, 2);
      for (const [name, o] of agents) {
        const text = JSON.stringify(o);
        assert.ok(!text.includes("docker.sock"), `${name}: ${text}`);
        assert.ok(o.spec.template.spec.volumes.some((v: Obj) => v.hostPath?.path === "/run/netns"), name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deploy: the whole base applies with a server-side dry run (moved into three test namespaces)",
  ignore: skipUnless("cluster"),
  fn: () =>
    withNamespaces(async (ns) => {
      const base = await renderBase();
      const objs = await baseFor(ns, [...new Set(base.map((o) => o.kind))].filter((k) => k !== "Namespace"));
      // --force-conflicts: the test cluster's CRDs were installed by another field manager; a dry run changes nothing.
      const r = await kubectl(["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-"], {
        stdin: objs.map((o) => stringify(o)).join("---\n"),
        check: false,
      });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, base.filter((o) => o.kind !== "Namespace").length, r.stdout);
      assert.ok(lines.every((l) => l.endsWith("serverside-applied (server dry run)")), r.stdout);
      for (const kind of ["validatingadmissionpolicy", "validatingadmissionpolicybinding", "daemonset", "deployment"]) {
        assert.ok(lines.some((l) => l.startsWith(`${kind}.`)), `${kind} in ${r.stdout}`);
      }
    }),
});

/** `namespace/kind/name` of the base's namespaced objects, and RoleBinding subjects as `→ namespace/name`. */
function layout(objs: Obj[]): string[] {
  return objs.filter((o) => o.metadata.namespace).map((o) => {
    const subjects = (o.subjects ?? []).map((s: Obj) => ` → ${s.namespace}/${s.name}`).join("");
    return `${o.metadata.namespace}/${o.kind}/${o.metadata.name}${subjects}`;
  }).sort();
}

/** The container args of the base's workloads, by program. */
function argsOf(objs: Obj[]): Record<string, string[]> {
  return Object.fromEntries([...workloads(objs)].map(([name, o]) => [name, o.spec.template.spec.containers[0].args]));
}

Deno.test({
  name:
    "deploy: workloads in dn42op-system act on `default` (-namespace=default), whose Roles bind dn42op-system's SAs",
  ignore: skipUnless("cluster"),
  fn: async () => {
    const objs = await renderBase();
    const wg = "dn42op-wg-controller", nl = "dn42op-nl-controller", plan = "dn42op-wgplan-controller";
    const le = `${plan}-leader-election`, hb = "dn42op-node-heartbeats";
    assert.deepEqual(
      layout(objs),
      [
        `dn42op-heartbeats/Role/${hb}`,
        `dn42op-heartbeats/Role/${plan}-heartbeats`,
        `dn42op-heartbeats/RoleBinding/${hb} → dn42op-system/${wg} → dn42op-system/${nl}`,
        `dn42op-heartbeats/RoleBinding/${plan}-heartbeats → dn42op-system/${plan}`,
        `default/Role/${nl}`,
        `default/Role/${wg}`,
        `default/Role/${plan}`,
        `default/RoleBinding/${nl} → dn42op-system/${nl}`,
        `default/RoleBinding/${wg} → dn42op-system/${wg}`,
        `default/RoleBinding/${plan} → dn42op-system/${plan}`,
        `dn42op-system/DaemonSet/${nl}`,
        `dn42op-system/DaemonSet/${wg}`,
        `dn42op-system/Deployment/${plan}`,
        `dn42op-system/NetworkPolicy/${plan}`,
        `dn42op-system/Role/${le}`,
        `dn42op-system/RoleBinding/${le} → dn42op-system/${plan}`,
        `dn42op-system/ServiceAccount/${nl}`,
        `dn42op-system/ServiceAccount/${wg}`,
        `dn42op-system/ServiceAccount/${plan}`,
      ].sort(),
    );
    for (const [name, args] of Object.entries(argsOf(objs))) {
      assert.equal(args[0], "-namespace=default", `${name}: the watched namespace is the first argument`);
      assert.equal(args.filter((a) => a.startsWith("-namespace=")).length, 1, name);
    }
    // The Lease stays with the plan controller's pods; every program names the heartbeats' namespace.
    assert.ok(argsOf(objs)["wgplan-controller"].includes("-leader-elect-namespace=$(POD_NAMESPACE)"));
    for (const [name, args] of Object.entries(argsOf(objs))) {
      assert.ok(args.includes("-heartbeat-namespace=dn42op-heartbeats"), name);
    }
    // Lease rules: the leader Lease's in dn42op-system, the heartbeats' in dn42op-heartbeats; the watched Roles none.
    const leaseRules = objs.filter((o) =>
      o.kind === "Role" && o.rules.some((r: Obj) => r.resources.includes("leases"))
    );
    assert.deepEqual(
      leaseRules.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort(),
      [`dn42op-heartbeats/${hb}`, `dn42op-heartbeats/${plan}-heartbeats`, `dn42op-system/${le}`],
    );
  },
});

/** The overlay shown in deploy/README.md (the YAML block after `<!-- overlay:watched-namespace -->`). */
async function readmeOverlay(): Promise<string> {
  const readme = await Deno.readTextFile(`${DEPLOY_DIR}/README.md`);
  const m = /<!-- overlay:watched-namespace -->\s*```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, "deploy/README.md shows the watched-namespace overlay");
  return m[1];
}

Deno.test({
  name: "deploy: README's overlay moves the watched Roles and -namespace to `net`; the rest and the subjects stay",
  ignore: skipUnless("cluster"),
  fn: async () => {
    const base = await renderBase();
    // The overlay names deploy/ as "../deploy": put it in a temporary directory next to a link to deploy/.
    const dir = await Deno.makeTempDir({ prefix: "dn42op-sh-overlay-" });
    try {
      await Deno.symlink(DEPLOY_DIR, `${dir}/deploy`);
      await Deno.mkdir(`${dir}/overlay`);
      await Deno.writeTextFile(`${dir}/overlay/kustomization.yaml`, await readmeOverlay());
      const objs = await renderBase(`${dir}/overlay`);
      const expected = layout(base).map((l) => l.replace(/^default\//, "net/")).sort();
      assert.deepEqual(layout(objs), expected);
      assert.equal(objs.length, base.length);
      for (const [name, args] of Object.entries(argsOf(objs))) {
        assert.deepEqual(args, [`-namespace=net`, ...argsOf(base)[name].slice(1)], name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
