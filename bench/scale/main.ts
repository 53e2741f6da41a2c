/**
 * bench:scale — N WireGuardInterfaces (default 1000) on one node: cold start of wg-controller to all Ready.
 *
 * The objects (inline keys, one point-to-point address each, one peer, moved into one "container" namespace) are
 * created first; then wg-controller starts as a real process confined to a throwaway network namespace, against the
 * real API server. cold_start_s runs from the spawn to the moment every object reports Ready with
 * observedGeneration = generation. rss_mib is the controller process's peak RSS (VmHWM) at that moment. Readiness
 * is followed through one list + watch of the namespace's WireGuardInterfaces (the project's informer), so the
 * measuring costs the API server a watch stream, not a LIST of every object several times a second.
 *
 * Limits: each wireguard-go daemon holds an inotify instance, so fs.inotify.max_user_instances (128 by default)
 * caps N for the userspace backend. For a larger N the bench raises that host sysctl for its own run and says so
 * (bench/scale/inotify.ts); the previous value is restored when it ends.
 *
 * Backend honesty: this host has no WireGuard kernel module, so every device here is a wireguard-go daemon (one
 * process per device). Their memory is NOT in rss_mib (it is reported separately as daemons_rss_mib), and starting
 * 1000 daemons is most of the cold-start time. The kernel backend is not measured here: the qemu tier has no
 * network path to an API server.
 *
 * Peer figure (same run, same N, same namespaces): a shell loop per interface with the standard tools — start
 * wireguard-go in the host namespace, `wg set` key/port/peer, `ip link set netns`, `ip addr add`, `ip link set up`
 * — run 8-way parallel.
 *
 * Usage: deno task bench:scale [--count N] [--workers W (default: the controller's default)] [--skip-peer] [--log FILE]
 *                              [--tag T (network namespace and temp-file sub-prefix, default "ap")]
 */
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { exec } from "../../lab/exec.ts";
import { GROUP, KINDS, VERSION } from "../../src/api/constants.ts";
import type { KubeObject } from "../../src/kube/client.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Informer } from "../../src/kube/informer.ts";
import { DeviceNotFoundError } from "../../src/wireguard/errors.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { UAPI_GET } from "../../src/wireguard/uapi.ts";
import { uapiCall, uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { customApi, startAgent } from "../../tests/helpers/agent.ts";
import { cluster } from "../../tests/helpers/cluster.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../tests/helpers/netns.ts";
import { raiseInotifyInstances } from "./inotify.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "1000" },
    workers: { type: "string" },
    "skip-peer": { type: "boolean", default: false },
    log: { type: "string" },
    tag: { type: "string", default: "ap" },
  },
});
const TAG = args.values.tag;
const N = Number(args.values.count);
/** Reconcile workers; by default the controller's own default. */
const WORKERS = args.values.workers;
const WGI = { group: GROUP, version: VERSION, plural: KINDS.WireGuardInterface.plural };
const PREFIX = `wa${crypto.getRandomValues(new Uint8Array(1)).toHex()}`; // wa + 2 hex + 4 hex index = 8 chars

function name(i: number): string {
  return `${PREFIX}${i.toString(16).padStart(4, "0")}`;
}

/** The peer script's device names: `wp` + this run's random part + index. */
function peerName(i: number): string {
  return name(i).replace(/^wa/, "wp");
}

async function procKib(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
}

async function daemonsRssMib(ns: TestNetns): Promise<{ count: number; mib: number }> {
  const out = (await exec(["ip", "netns", "pids", ns.name])).stdout;
  let kib = 0;
  let count = 0;
  for (const p of out.split(/\s+/).filter(Boolean)) {
    if ((await Deno.readTextFile(`/proc/${p}/comm`).catch(() => "")).trim() !== "wireguard-go") continue;
    count++;
    kib += await procKib(Number(p), "VmRSS");
  }
  return { count, mib: kib / 1024 };
}

const METRICS_PORT = 18080;
/** Give up after this long (wireguard-go daemons start slowly on a loaded host). */
const LIMIT_S = Math.max(900, N * 1.5);

/** The controller's V8 heap (used/total) and external memory, from its own /metrics (prom-client). */
async function heapMib(host: TestNetns): Promise<Record<string, number>> {
  const text = await host.run("curl", "-s", `http://127.0.0.1:${METRICS_PORT}/metrics`).catch(() => "");
  const out: Record<string, number> = {};
  for (const m of ["nodejs_heap_size_used_bytes", "nodejs_heap_size_total_bytes", "nodejs_external_memory_bytes"]) {
    const v = new RegExp(`^${m} (\\S+)`, "m").exec(text)?.[1];
    if (v !== undefined) out[m.replace(/^nodejs_|_bytes$/g, "")] = +(Number(v) / 1048576).toFixed(1);
  }
  return out;
}

/** A WireGuardInterface as far as readiness goes. */
interface Wgi extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

/** Ready with observedGeneration = generation: the controller has acted on the current spec and it holds. */
function isReady(o: Wgi): boolean {
  return o.status?.observedGeneration === o.metadata.generation &&
    (o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
}

/**
 * Resolves when all `n` WireGuardInterfaces of `namespace` are Ready, followed through one list + watch; logs
 * progress every 5 s from `t0` and rejects after `limitS` seconds.
 */
async function allReady(informer: Informer<Wgi>, n: number, t0: number, limitS: number): Promise<void> {
  const ready = new Set<string>();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const track = (o: Wgi) => {
    const key = o.metadata.name!;
    if (isReady(o)) ready.add(key);
    else ready.delete(key);
    if (ready.size >= n) done();
  };
  informer.on({ add: track, update: (_, o) => track(o), delete: (o) => ready.delete(o.metadata.name!) });
  informer.start();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const progress = setInterval(() => {
    console.log(`  ${ready.size}/${n} Ready after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 5000);
  try {
    await Promise.race([
      finished,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${ready.size}/${n} Ready after ${limitS} s`)), limitS * 1000);
      }),
    ]);
  } finally {
    clearInterval(progress);
    clearTimeout(timer);
  }
}

/**
 * Removes the UAPI sockets of `names` that no daemon serves any more: SIGKILLed daemons (the bench's teardown)
 * cannot remove their own, and /var/run/wireguard is shared by every namespace. A socket that answers is left.
 */
async function removeDeadSockets(names: string[]): Promise<void> {
  for (const n of names) {
    const path = uapiSocketPath(n);
    try {
      await uapiCall(n, UAPI_GET, undefined, 500);
    } catch (e) {
      if (e instanceof DeviceNotFoundError) await Deno.remove(path).catch(() => {});
    }
  }
}

/**
 * Drops the finalizers of every WireGuardInterface in `namespace`. The bench deletes its namespace after the
 * controller is gone, so nothing else would, and the namespace would stay Terminating for ever.
 */
async function dropFinalizers(client: KubeClient, namespace: string): Promise<void> {
  let cont: string | undefined;
  do {
    const page = await client.list<Wgi>(WGI, { namespace, limit: 500, continue: cont });
    const held = page.items.filter((o) => o.metadata.finalizers?.length);
    for (let i = 0; i < held.length; i += 50) {
      await Promise.all(
        held.slice(i, i + 50).map((o) =>
          client.patch(WGI, namespace, o.metadata.name!, "merge", { metadata: { finalizers: null } })
        ),
      );
    }
    cont = page.metadata.continue || undefined;
  } while (cont);
}

async function keys(n: number) {
  const out: { priv: string; pub: string }[] = [];
  for (let i = 0; i < n; i++) {
    const k = await generatePrivateKey();
    out.push({ priv: k.toBase64(), pub: (await publicKeyOf(k)).toBase64() });
  }
  return out;
}

async function ours(ctr: TestNetns, kk: { priv: string; pub: string }[]) {
  const c = await cluster();
  const core = c.kc.makeApiClient(k8s.CoreV1Api);
  const api = await customApi();
  const client = new KubeClient(c.kc);
  const namespace = `dn42op-${TAG}-bench-${crypto.randomUUID().slice(0, 8)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const stateDir = await Deno.makeTempDir({ prefix: `dn42op-${TAG}-bench-` });
  try {
    console.log(`creating ${N} WireGuardInterfaces in ${namespace} ...`);
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => {
        const x = i + j;
        return api.createNamespacedCustomObject({
          ...WGI,
          namespace,
          body: {
            apiVersion: "networking.dn42.io/v1alpha1",
            kind: "WireGuardInterface",
            metadata: { name: `w${x}`, namespace },
            spec: {
              node: "bench",
              moveToContainer: true,
              container: { netns: { name: ctr.name } },
              interfaceName: name(x),
              privateKey: kk[x].priv,
              listenPort: 20000 + x,
              addresses: [{
                family: "inet",
                local: `10.${64 + (x >> 8)}.${x & 255}.1`,
                peer: "10.127.0.1",
                prefixlen: 32,
              }],
              peers: [{ publicKey: kk[(x + 1) % N].pub, allowedIPs: [`10.200.${x >> 8}.${x & 255}/32`] }],
            },
          },
        });
      }));
    }
    const t0 = performance.now();
    const agent = await startAgent({
      program: "src/cmd/wg-controller.ts",
      netnsTag: TAG,
      nodename: "bench",
      namespace,
      args: [
        ...(WORKERS ? [`-num-workers=${WORKERS}`] : []),
        "-wg-backend=userspace",
        `-wg-state-dir=${stateDir}`,
        "-v=0",
        `-metrics-bind-address=127.0.0.1:${METRICS_PORT}`,
      ],
    });
    const informer = new Informer<Wgi>(client, { resource: WGI, namespace, name: "bench readiness" });
    try {
      await allReady(informer, N, t0, LIMIT_S);
      const coldS = (performance.now() - t0) / 1000;
      const hwm = await procKib(agent.pid, "VmHWM");
      const heap = await heapMib(agent.host);
      const daemons = await daemonsRssMib(agent.host);
      const links = (await ctr.ip("-o", "link", "show")).split("\n").filter((l) => l.includes(`: ${PREFIX}`)).length;
      if (links !== N) throw new Error(`${links} links in the container, expected ${N}`);
      return { coldS, rssMib: hwm / 1024, daemons, heap };
    } finally {
      await informer.stop();
      if (args.values.log) await Deno.copyFile(agent.logFile, args.values.log);
      await agent.dispose(); // kills the controller and every daemon in its host namespace
      await removeDeadSockets(Array.from({ length: N }, (_, i) => name(i)));
    }
  } finally {
    await dropFinalizers(client, namespace).catch((e) => console.log(`bench:scale: cleanup: ${e}`));
    await core.deleteNamespace({ name: namespace }).catch(() => {});
    client.close();
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

/** The standard tools, one shell script per interface, 8-way parallel. */
async function peer(host: TestNetns, ctr: TestNetns, kk: { priv: string; pub: string }[]): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: `dn42op-${TAG}-bench-peer-` });
  try {
    const script = `
set -e
i=$1; n=$2; key=$3; pub=$4
printf '%s' "$key" > ${dir}/$n.key
ip netns exec ${host.name} wireguard-go $n >/dev/null 2>&1
ip netns exec ${host.name} wg set $n private-key ${dir}/$n.key listen-port $((30000 + i)) \\
  peer $pub allowed-ips 10.200.$((i >> 8)).$((i & 255))/32
ip -n ${host.name} link set $n mtu 1420
ip -n ${host.name} link set $n netns ${ctr.name}
ip -n ${ctr.name} addr add 10.$((64 + (i >> 8))).$((i & 255)).1 peer 10.127.0.1/32 dev $n
ip -n ${ctr.name} link set $n up
`;
    await Deno.writeTextFile(`${dir}/one.sh`, script);
    const lines = kk.map((k, i) => `${i} ${peerName(i)} ${k.priv} ${kk[(i + 1) % N].pub}`);
    const t0 = performance.now();
    const r = await exec(["xargs", "-P", "8", "-L", "1", "sh", `${dir}/one.sh`], undefined, lines.join("\n") + "\n");
    const s = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`peer script failed: ${r.stderr.slice(0, 400)}`);
    return s;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const inotify = await raiseInotifyInstances(N, "bench:scale");
let result: Record<string, unknown>;
try {
  const kk = await keys(N);
  const ctr = await createNetns(`${TAG}-benchc`);
  try {
    const o = await ours(ctr, kk);
    console.log(
      `ours: ${N} WGIs Ready ${o.coldS.toFixed(1)} s after the controller started; controller peak RSS ` +
        `${o.rssMib.toFixed(0)} MiB (V8 heap MiB: ${JSON.stringify(o.heap)}); ` +
        `${o.daemons.count} wireguard-go daemons using ${o.daemons.mib.toFixed(0)} MiB`,
    );
    let peerS: number | null = null;
    if (!args.values["skip-peer"]) {
      const host = await createNetns(`${TAG}-benchh`);
      const ctr2 = await createNetns(`${TAG}-benchc`);
      try {
        peerS = await peer(host, ctr2, kk);
        console.log(`peer (wireguard-go + wg + ip, 8-way parallel, no Kubernetes): ${peerS.toFixed(1)} s`);
      } finally {
        await deleteNetns(ctr2);
        await deleteNetns(host); // kills the peer's daemons
        await removeDeadSockets(Array.from({ length: N }, (_, i) => peerName(i)));
      }
    }
    result = {
      cold_start_s: +o.coldS.toFixed(2),
      rss_mib: +o.rssMib.toFixed(1),
      count: N,
      backend: "userspace",
      daemons_rss_mib: +o.daemons.mib.toFixed(0),
      controller_heap_used_mib: o.heap.heap_size_used ?? null,
      inotify_limit_raised: inotify.raised,
      peer_shell_s: peerS === null ? null : +peerS.toFixed(2),
      ratio_vs_peer: peerS === null ? null : +(o.coldS / peerS).toFixed(2),
    };
  } finally {
    await deleteNetns(ctr);
  }
} finally {
  inotify.restore();
}
console.log(JSON.stringify(result));
Deno.exit(0);
