/**
 * bench:image — each program of the image started in its container, as deploy/'s manifests declare it (lab/imagepods.ts
 * on a fresh lab instance `dn42op-img-b…`, one node, one plan controller replica, the manifests moved into two test
 * namespaces), against the real API server with no objects.
 *
 * ready_s runs from `podman start` of the stopped container to its first successful readiness probe (the manifests'
 * httpGet, polled every 100 ms); wireguard-go-holder declares no probe (a kubelet counts it Ready once running), so its
 * ready_s runs to the first connection its socket accepts (wg-controller's requests wait for that). rss_mib is the
 * container's main process's VmRSS 3 s later. Each program is started `--runs` times (default 3); medians are
 * reported, with the image's size (image_bytes).
 *
 * Peer figure (same run, same API server, same network namespace, same ServiceAccount token): the same program with the
 * same arguments as a plain process of the pinned Deno (scripts/programs.ts programCommand) outside any container,
 * with a kubeconfig holding the pod's token instead of the mounted service account. ratio = container / process.
 *
 * Usage: deno task bench:image [--runs N]
 */
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import type { ImagePod } from "../../lab/imagepods.ts";
import type { PodmanRun } from "../../lab/workloads.ts";
import { freshInstance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { waitForProbe } from "../../lab/probe.ts";
import { rssKiB } from "../../kit/proc.ts";
import { until } from "../../kit/wait.ts";
import { IMAGE, imageSize } from "../../scripts/image/build.ts";
import { programCommand, type ProgramName } from "../../scripts/programs.ts";
import { percentile } from "../stats.ts";
import { baseFor } from "../../kit/deploy.ts";
import { withNamespace } from "../../kit/cluster.ts";

const { values } = parseArgs({ args: Deno.args, options: { runs: { type: "string", default: "3" } } });
const RUNS = Number(values.runs);
const PREFIX = "dn42op-img-b";
const KINDS = [
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
];
const IDLE_MS = 3000;

interface Sample {
  readyS: number;
  rssMiB: number;
}

const podman = new Podman();
const idle = () => new Promise((r) => setTimeout(r, IDLE_MS));

/** The program and its arguments as the container runs them (after the image's name). */
function programArgs(p: ImagePod): { name: ProgramName; args: string[] } {
  const rest = p.run.args.slice(p.run.args.lastIndexOf(p.run.image) + 1);
  return { name: rest[0].split("/").at(-1) as ProgramName, args: rest.slice(1) };
}

const SOCKET_FLAG = "-socket=";

/** Where `path` of the container is on the host (through its `--volume` mounts). */
function hostPathOf(run: PodmanRun, path: string): string {
  for (const [i, a] of run.args.entries()) {
    if (a !== "--volume") continue;
    const [source, target] = run.args[i + 1].split(":");
    if (path === target || path.startsWith(`${target}/`)) return source + path.slice(target.length);
  }
  throw new Error(`${run.name}: ${path} is on no volume`);
}

/** Resolves once the program is Ready: its readiness probe passes, or (the holder, no probe) `socket` accepts. */
async function ready(p: ImagePod, socket?: string): Promise<void> {
  if (p.run.readinessProbe) return void await waitForProbe(p.run.netns, p.run.readinessProbe, 180_000);
  if (!socket) throw new Error(`${p.run.name}: no readiness probe and no socket`);
  await until(
    `${socket} accepts`,
    async () => {
      (await Deno.connect({ transport: "unix", path: socket })).close();
      return true;
    },
    180_000,
    100,
  );
}

/** The socket the holder serves, as its container sees it (its `-socket` argument). */
function holderSocket(args: string[]): string | undefined {
  return args.find((a) => a.startsWith(SOCKET_FLAG))?.slice(SOCKET_FLAG.length);
}

async function inContainer(p: ImagePod): Promise<Sample> {
  const socket = holderSocket(programArgs(p).args);
  await podman.run("stop", p.run.name);
  const t0 = performance.now();
  await podman.run("start", p.run.name);
  await ready(p, socket && hostPathOf(p.run, socket));
  const readyS = (performance.now() - t0) / 1000;
  await idle();
  return { readyS, rssMiB: (rssKiB(await podman.pid(p.run.name)) ?? 0) / 1024 };
}

/** A kubeconfig with the pod's service-account token and CA (what the container gets mounted), for the process. */
async function tokenKubeconfig(stateDir: string, p: ImagePod, server: string): Promise<string> {
  const dir = `${stateDir}/pods/${p.podObject}/serviceaccount`;
  const path = `${dir}/../kubeconfig`;
  const ca = await Deno.readTextFile(`${dir}/ca.crt`);
  await Deno.writeTextFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server, "certificate-authority-data": btoa(ca) } }],
      users: [{ name: "sa", user: { tokenFile: `${dir}/token` } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "sa" } }],
      "current-context": "c",
    }),
    { mode: 0o600 },
  );
  return path;
}

async function asProcess(p: ImagePod, kubeconfig: string, stateDir: string): Promise<Sample> {
  await podman.run("stop", p.run.name);
  const { name, args } = programArgs(p);
  const socket = holderSocket(args) && `${stateDir}/bench-holder/holder.sock`;
  const extra = name === "wg-controller"
    ? [`-wg-state-dir=${stateDir}/bench-wireguard-go`, `-kubeconfig=${kubeconfig}`]
    : socket
    ? [`${SOCKET_FLAG}${socket}`]
    : [`-kubeconfig=${kubeconfig}`];
  const argv = ["nsenter", `--net=${p.run.netns}`, ...programCommand(name, [...args, ...extra])];
  const t0 = performance.now();
  const child = new Deno.Command(argv[0], { args: argv.slice(1), stdout: "null", stderr: "null", stdin: "null" })
    .spawn();
  try {
    await ready(p, socket);
    const readyS = (performance.now() - t0) / 1000;
    await idle();
    // nsenter execs the program: the child is the program itself.
    return { readyS, rssMiB: (rssKiB(child.pid) ?? 0) / 1024 };
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await podman.run("start", p.run.name);
    const served = holderSocket(args);
    await ready(p, served && hostPathOf(p.run, served));
  }
}

const results: Record<string, Record<string, number>> = {};
await sweepInstances(PREFIX);
await withNamespace(async (system) => {
  await withNamespace(async (watched) => {
    const ns = { system: system.namespace, watched: watched.namespace };
    const manifests = (await baseFor(ns, [...KINDS, "DaemonSet", "Deployment"])).map((o) =>
      o.kind === "Deployment" ? { ...o, spec: { ...o.spec, replicas: 1 } } : o
    );
    const o = {
      ...freshInstance(PREFIX, watched.namespace, watched.kubeconfigPath, watched.server),
      nodes: ["lax1"],
      image: true,
      manifests,
    };
    try {
      const inst = await instanceUp(o);
      for (const p of inst.pods!) {
        const { name } = programArgs(p);
        const kc = await tokenKubeconfig(o.topology.stateDir, p, watched.server);
        const c: Sample[] = [];
        const q: Sample[] = [];
        for (let i = 0; i < RUNS; i++) {
          c.push(await inContainer(p));
          q.push(await asProcess(p, kc, o.topology.stateDir));
        }
        const m = (xs: Sample[], k: keyof Sample) => percentile(xs.map((x) => x[k]).sort((a, b) => a - b), 50);
        results[name] = {
          container_ready_s: m(c, "readyS"),
          process_ready_s: m(q, "readyS"),
          ready_ratio: m(c, "readyS") / m(q, "readyS"),
          container_rss_mib: m(c, "rssMiB"),
          process_rss_mib: m(q, "rssMiB"),
          rss_ratio: m(c, "rssMiB") / m(q, "rssMiB"),
        };
        const r = results[name];
        console.log(
          `${name}: Ready ${r.container_ready_s.toFixed(2)} s in the container vs ${r.process_ready_s.toFixed(2)} s ` +
            `as a process (×${r.ready_ratio.toFixed(2)}); RSS ${r.container_rss_mib.toFixed(0)} vs ` +
            `${r.process_rss_mib.toFixed(0)} MiB (×${r.rss_ratio.toFixed(2)}); median of ${RUNS}`,
        );
      }
    } finally {
      await instanceDown(o);
    }
  }, { prefix: "dn42op-img-" });
}, { prefix: "dn42op-img-" });
const imageBytes = await imageSize(podman, IMAGE);
console.log(`image ${IMAGE}: ${(imageBytes / 2 ** 20).toFixed(0)} MiB`);
const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
console.log(`load average ${load}`);
console.log(JSON.stringify({ bench: "image", runs: RUNS, load, image_bytes: imageBytes, programs: results }));
