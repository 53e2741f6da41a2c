/**
 * bench:heal — drift repair latency of nl-controller. A real controller process (confined to a throwaway network
 * namespace, talking to a real kube-apiserver) manages veth pairs in another throwaway namespace (bridges cannot
 * leave their namespace, so "moved away" needs a movable kind); the bench mutates them from outside (link deleted,
 * address removed, MTU changed, link down, moved away) and times each mutation until the kernel shows the spec
 * again (re-checked on each rtnetlink notification in that namespace, not by busy polling). The informer resync is
 * 1 h, so every repair comes from rtnetlink events. The controller runs with its default -num-workers.
 *
 * Peer: the reference implementation has no event subscription; it notices drift only on its informer resync
 * (default 30 s), so its repair latency is uniform in [0, 30 s] plus its reconcile time — computed, not run
 * (it is a Go program we do not build here): p50 = 15 000 ms, p99 = 29 700 ms.
 *
 * Last line: {"p50_ms", "p99_ms", "mutations", "healed", "peer_p50_ms", "peer_p99_ms", "ratio_p50", "ratio_p99"}.
 */
import { parseArgs } from "node:util";
import { withNamespace } from "../../kit/cluster.ts";
import { withNetns } from "../../kit/netns.ts";
import { startAgent } from "../../kit/agent.ts";
import { create, customApi, isReady, nli, read } from "../../kit/nl_agent.ts";
import {
  deleteAddress,
  deleteLink,
  getLink,
  listAddresses,
  NetlinkMonitor,
  Netns,
  setLink,
} from "../../src/netlink/mod.ts";
import { percentile } from "../stats.ts";
import { until } from "../../kit/wait.ts";

const args = parseArgs({
  options: {
    mutations: { type: "string", default: "250" },
    links: { type: "string", default: "10" },
    args: { type: "string", default: "" },
    log: { type: "string" },
  },
});
const MUTATIONS = Number(args.values.mutations);
const LINKS = Number(args.values.links);
const TIMEOUT_MS = 10_000;
/** Heals slower than this are listed with their start time (to find them in the agent's log, see --log). */
const SLOW_MS = 150;
const PEER = { p50: 15_000, p99: 29_700 };

type Kind = "link deleted" | "address removed" | "MTU changed" | "link down" | "moved away";
const KINDS: Kind[] = ["link deleted", "address removed", "MTU changed", "link down", "moved away"];

async function healthy(ns: Netns, i: number): Promise<boolean> {
  const l = await getLink(ns, `hb${i}`);
  if (!l || l.mtu !== 1400 || !l.up || !l.alias?.startsWith("dn42op:nl:")) return false;
  const as = await listAddresses(ns, l.index);
  return as.some((a) => a.local === `10.20.${i}.1` && a.prefixlen === 24) &&
    (await getLink(ns, `hb${i}-peer`)) !== null;
}

function mutate(kind: Kind, a: Netns, away: Netns, i: number): Promise<void> {
  const name = `hb${i}`;
  switch (kind) {
    case "link deleted":
      return deleteLink(a, name);
    case "address removed":
      return deleteAddress(a, name, { local: `10.20.${i}.1/24` });
    case "MTU changed":
      return setLink(a, name, { mtu: 1300 });
    case "link down":
      return setLink(a, name, { up: false });
    case "moved away":
      return setLink(a, name, { netns: away });
  }
}

await withNamespace(async ({ namespace }) => {
  await withNetns(async (target, scratch) => {
    const agent = await startAgent({
      program: "src/cmd/nl-controller.ts",
      netnsTag: "ap",
      nodename: "bench",
      namespace,
      args: ["-default-resync-period=3600", "-v=0", ...args.values.args.split(" ").filter(Boolean)],
    });
    const a = Netns.byName(target.name), away = Netns.byName(scratch.name);
    // Re-check on every kernel change in the namespace (no busy polling that would compete with the controller for
    // CPU); a 50 ms fallback tick covers anything the subscription might not report.
    let wake = () => {};
    let changes = 0;
    const monitor = NetlinkMonitor.start(a, () => (changes++, wake()));
    const kernelChange = () =>
      new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        wake = () => (clearTimeout(t), r());
      });
    try {
      const api = await customApi();
      for (let i = 0; i < LINKS; i++) {
        await create(
          api,
          nli(namespace, `hb${i}`, {
            node: "bench",
            interfaceName: `hb${i}`,
            type: "veth",
            up: true,
            mtu: 1400,
            addresses: [{ ipcidr: `10.20.${i}.1/24` }],
            container: { netns: { name: target.name } },
          }),
        );
      }
      for (let i = 0; i < LINKS; i++) {
        await until(`hb${i} Ready`, async () => isReady(await read(api, namespace, `hb${i}`)), 120_000);
      }
      const times: number[] = [];
      const perKind = new Map<Kind, number[]>();
      let healed = 0;
      for (let m = 0; m < MUTATIONS; m++) {
        const kind = KINDS[m % KINDS.length];
        const i = Math.floor(m / KINDS.length) % LINKS;
        const t0 = performance.now();
        await mutate(kind, a, away, i);
        const deadline = t0 + TIMEOUT_MS;
        let ok = false;
        while (performance.now() < deadline) {
          const seen = changes;
          if (await healthy(a, i)) {
            ok = true;
            break;
          }
          if (changes === seen) await kernelChange(); // else something changed while checking: check again
        }
        const ms = performance.now() - t0;
        if (ok) {
          healed++;
          times.push(ms);
          perKind.set(kind, [...(perKind.get(kind) ?? []), ms]);
          if (ms > SLOW_MS) {
            console.log(`slow: ${kind} on hb${i} ${ms.toFixed(0)} ms from ${new Date(Date.now() - ms).toISOString()}`);
          }
        } else console.log(`not healed within ${TIMEOUT_MS} ms: ${kind} on hb${i}`);
        if (kind === "moved away") await deleteLink(away, `hb${i}`).catch(() => {});
      }
      times.sort((x, y) => x - y);
      for (const [k, v] of perKind) {
        v.sort((x, y) => x - y);
        console.log(
          `${k.padEnd(16)} n=${v.length} p50=${percentile(v, 50).toFixed(1)} ms p99=${percentile(v, 99).toFixed(1)} ms`,
        );
      }
      const p50 = percentile(times, 50), p99 = percentile(times, 99);
      console.log(`ours: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, healed ${healed}/${MUTATIONS}`);
      console.log(`peer (reference, 30 s resync, computed): p50 ${PEER.p50} ms, p99 ${PEER.p99} ms`);
      console.log(`ratio (peer/ours): p50 ${(PEER.p50 / p50).toFixed(0)}x, p99 ${(PEER.p99 / p99).toFixed(0)}x`);
      console.log(JSON.stringify({
        p50_ms: Number(p50.toFixed(2)),
        p99_ms: Number(p99.toFixed(2)),
        mutations: MUTATIONS,
        healed,
        peer_p50_ms: PEER.p50,
        peer_p99_ms: PEER.p99,
        ratio_p50: Number((PEER.p50 / p50).toFixed(1)),
        ratio_p99: Number((PEER.p99 / p99).toFixed(1)),
      }));
    } finally {
      await monitor.stop();
      a.close();
      away.close();
      if (args.values.log) await Deno.copyFile(agent.logFile, args.values.log);
      await agent.dispose();
    }
  }, { count: 2, tag: "ap" });
}, { prefix: "dn42op-ap-" });
Deno.exit(0);
