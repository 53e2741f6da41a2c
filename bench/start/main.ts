/**
 * bench:start — idle start of the node agents: wg-controller and nl-controller started against the real API server
 * with no objects, each as a real process confined to a throwaway network namespace (kit/agent.ts).
 *
 * sync_s runs from the spawn to the "caches synced" log line; rss_mib (VmRSS) and hwm_mib (VmHWM, the peak) are read
 * from /proc 2 s later. Each program is started `--runs` times (default 5); the medians are reported.
 *
 * Peer figure (same run, same API server): kubectl (client-go, like the Go reference's agents) watching the same
 * resource — `kubectl get <resource> --watch -v=6`: time to the answer to its watch request (after its list), RSS/peak
 * 2 s later.
 *
 * Usage: deno task bench:start [--runs N] [--program wg-controller,nl-controller] [--skip-peer]
 */
import { parseArgs } from "node:util";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { startAgent } from "../../kit/agent.ts";
import { cluster, withNamespace } from "../../kit/cluster.ts";
import { sleep } from "../../kit/wait.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    program: { type: "string", default: "wg-controller,nl-controller" },
    "skip-peer": { type: "boolean", default: false },
  },
});
const RUNS = Number(args.values.runs);
const PROGRAMS = args.values.program.split(",");
const RESOURCE: Record<string, string> = {
  "wg-controller": "wireguardinterfaces.networking.dn42.io",
  "nl-controller": "netlinkinterfaces.networking.dn42.io",
};
const LIMIT_MS = 120_000;

/** One start: seconds to the synced caches (or the peer's first answer), resident and peak memory in MiB. */
interface Sample {
  sync_s: number;
  rss_mib: number;
  hwm_mib: number;
}

async function memMib(pid: number): Promise<{ rss_mib: number; hwm_mib: number }> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss_mib: +(kib("VmRSS") / 1024).toFixed(1), hwm_mib: +(kib("VmHWM") / 1024).toFixed(1) };
}

/** Polls `cond` every 10 ms; the elapsed seconds since `t0` when it held. */
async function waitSince(t0: number, what: string, cond: () => Promise<boolean>): Promise<number> {
  while (!(await cond())) {
    if (performance.now() - t0 > LIMIT_MS) throw new Error(`no ${what} after ${LIMIT_MS} ms`);
    await sleep(10);
  }
  return +((performance.now() - t0) / 1000).toFixed(2);
}

async function agentStart(program: string, namespace: string): Promise<Sample> {
  const agent = await startAgent({ program, nodename: "kb-idle", namespace, netnsTag: "kb" });
  const t0 = performance.now(); // startAgent spawns the program last, after its namespace and API pipe are up
  try {
    const sync_s = await waitSince(t0, "caches synced", async () => {
      const log = await Deno.readTextFile(agent.logFile).catch(() => "");
      if (/level":"(error|fatal)|ERROR|FATAL/.test(log) && !log.includes("caches synced")) {
        throw new Error(`${program} failed:\n${log.slice(-2000)}`);
      }
      return log.includes("caches synced");
    });
    await sleep(2000);
    return { sync_s, ...await memMib(agent.pid) };
  } finally {
    await agent.dispose();
  }
}

async function peerStart(resource: string, namespace: string, kubeconfig: string): Promise<Sample> {
  const t0 = performance.now();
  const child = new Deno.Command(BINARIES.kubectl, {
    args: [`--kubeconfig=${kubeconfig}`, "get", resource, "-n", namespace, "--watch", "-v=6"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let seen = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) seen += c;
  };
  const reading = Promise.all([read(child.stdout), read(child.stderr)]);
  try {
    // -v=6 logs each response; the watch request is answered once the list is in (the informer-synced moment)
    const sync_s = await waitSince(
      t0,
      "kubectl watch",
      () => Promise.resolve(/verb="GET" url="[^"]*watch=true/.test(seen)),
    );
    await sleep(2000);
    return { sync_s, ...await memMib(child.pid) };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reading.catch(() => {});
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : +((s[s.length / 2 - 1] + s[s.length / 2]) / 2).toFixed(2);
}

function summary(samples: Sample[]): Sample {
  return {
    sync_s: median(samples.map((s) => s.sync_s)),
    rss_mib: median(samples.map((s) => s.rss_mib)),
    hwm_mib: median(samples.map((s) => s.hwm_mib)),
  };
}

const c = await cluster();
const result: Record<string, unknown> = {
  runs: RUNS,
  load_avg: (await Deno.readTextFile("/proc/loadavg")).split(" ")[0],
};
await withNamespace(async ({ namespace }) => {
  for (const program of PROGRAMS) {
    const ours: Sample[] = [];
    const peer: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await agentStart(program, namespace));
      if (!args.values["skip-peer"]) peer.push(await peerStart(RESOURCE[program], namespace, c.kubeconfigPath));
      console.log(`${program} run ${i + 1}: ours ${JSON.stringify(ours.at(-1))} peer ${JSON.stringify(peer.at(-1))}`);
    }
    const o = summary(ours);
    const entry: Record<string, unknown> = { ...o, samples: ours };
    if (peer.length) {
      const p = summary(peer);
      entry.peer = p;
      entry.ratio_hwm = +(o.hwm_mib / p.hwm_mib).toFixed(2);
      entry.ratio_sync = +(o.sync_s / p.sync_s).toFixed(2);
    }
    console.log(
      `${program} median: ours ${JSON.stringify(o)}${peer.length ? ` kubectl ${JSON.stringify(entry.peer)}` : ""}`,
    );
    result[program] = entry;
  }
}, { prefix: "dn42op-kb-" });
result.load_avg_end = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
console.log(JSON.stringify(result));
Deno.exit(0); // the agent helper's API pipe listener would keep the process alive
