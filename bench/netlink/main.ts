/**
 * `deno task bench:netlink` — veth throughput and event latency of our netlink layer against its peers, same run.
 *
 * In a fresh throwaway namespace per contender and round: create 1000 veth pairs and configure them (MTU 1400, up on
 * both ends) with (1) our layer — createLink per pair with MTU and link group, then one setLinkGroupUp —, (2) `ip
 * -batch` (3 commands per pair) and (3) a Go program on github.com/vishvananda/netlink v1.3.1 (bench/netlink/
 * vishvananda, built from the Go module proxy; LinkAdd with MTU and up, then LinkSetUp of the peer). For comparison,
 * our layer bringing each end up with its own request is timed too (`ours_per_link_create_s`). Every contender's result is verified (2000 links, MTU,
 * up) with a dump. Then our teardown of the 1000 managed links (one link-group delete) is timed, and the latency from
 * issuing a change to our monitor delivering its event is sampled. Rounds rotate the order; medians are reported.
 * Last, listing the addresses of one link in a namespace of `--crowd` links with two addresses each is timed: our
 * kernel-filtered dump (listAddresses(ns, link)), the old way (a dump of every address, filtered in JS) and the peer
 * `ip -o addr show dev X` (one process per call, as a script would do it). The last line is one JSON object.
 *
 *   deno task bench:netlink [--count 1000] [--rounds 5] [--events 300] [--crowd 1000] [--lookups 200]
 *                           [--only veth|addresses] [--tag nl]
 */
import { parseArgs } from "node:util";
import { createNetns, deleteNetns, type TestNetns } from "../../kit/netns.ts";
import { type NetlinkEvent, NetlinkMonitor } from "../../src/netlink/events.ts";
import { createLink, deleteLinkGroup, listLinks, setLink, setLinkGroupUp } from "../../src/netlink/link.ts";
import { listAddresses } from "../../src/netlink/addr.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { crowd } from "../../kit/crowd.ts";

const args = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
    events: { type: "string", default: "300" },
    crowd: { type: "string", default: "1000" },
    lookups: { type: "string", default: "200" },
    only: { type: "string" },
    tag: { type: "string", default: "nl" },
  },
});
const COUNT = Number(args.values.count);
const ROUNDS = Number(args.values.rounds);
const EVENTS = Number(args.values.events);
const CROWD = Number(args.values.crowd);
const LOOKUPS = Number(args.values.lookups);
const ONLY = args.values.only;
if (ONLY !== undefined && ONLY !== "veth" && ONLY !== "addresses") {
  throw new Error(`--only ${ONLY}: must be veth or addresses`);
}
const MTU = 1400;
const GROUP = 4242;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round3 = (x: number) => Math.round(x * 1000) / 1000;

async function run(cmd: string, args: string[], opts: Deno.CommandOptions = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...opts }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Checks that the namespace holds `COUNT` configured pairs; returns nothing or throws. */
async function verify(ns: Netns, who: string): Promise<void> {
  const links = (await listLinks(ns)).filter((l) => l.kind === "veth");
  const good = links.filter((l) => l.mtu === MTU && l.up);
  if (links.length !== 2 * COUNT || good.length !== 2 * COUNT) {
    throw new Error(
      `${who}: expected ${2 * COUNT} veth ends with MTU ${MTU} and up, got ${links.length}/${good.length}`,
    );
  }
}

/** Runs `fn` in a fresh namespace; afterwards removes the managed group (fast) and the namespace. */
async function inFreshNs<T>(fn: (ns: Netns, t: TestNetns) => Promise<T>): Promise<T> {
  const t = await createNetns(args.values.tag);
  const ns = Netns.byName(t.name);
  try {
    return await fn(ns, t);
  } finally {
    try {
      await deleteLinkGroup(ns, GROUP);
    } catch { /* nothing left */ }
    ns.close();
    await deleteNetns(t);
  }
}

/**
 * Our layer as a controller would drive it for a batch of managed links: one createLink per pair (MTU and link group
 * on both ends, admin down), then one setLinkGroupUp for the whole group. Teardown is one deleteLinkGroup.
 */
async function ours(): Promise<{ create: number; del: number }> {
  return await inFreshNs(async (ns) => {
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      await createLink(ns, {
        kind: "veth",
        name: `oa${i}`,
        mtu: MTU,
        group: GROUP,
        peer: { name: `ob${i}`, mtu: MTU, group: GROUP },
      });
    }
    await setLinkGroupUp(ns, GROUP, true);
    const create = (performance.now() - t0) / 1000;
    await verify(ns, "ours");
    const t1 = performance.now();
    await deleteLinkGroup(ns, GROUP);
    const del = (performance.now() - t1) / 1000;
    const left = (await listLinks(ns)).length;
    if (left !== 1) throw new Error(`ours: ${left - 1} links left after the group delete`);
    return { create, del };
  });
}

/** For comparison only: our layer bringing every end up with its own request (createLink with up on both ends). */
async function oursPerLink(): Promise<number> {
  return await inFreshNs(async (ns) => {
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      await createLink(ns, {
        kind: "veth",
        name: `pa${i}`,
        mtu: MTU,
        up: true,
        group: GROUP,
        peer: { name: `pb${i}`, mtu: MTU, up: true },
      });
    }
    const s = (performance.now() - t0) / 1000;
    await verify(ns, "ours (per link)");
    return s;
  });
}

async function ipBatch(): Promise<number> {
  const lines: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    lines.push(`link add name ia${i} group ${GROUP} type veth peer name ib${i}`);
    lines.push(`link set dev ia${i} mtu ${MTU} up`);
    lines.push(`link set dev ib${i} mtu ${MTU} up`);
  }
  const file = await Deno.makeTempFile({ prefix: "dn42op-nl-bench-" });
  try {
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    return await inFreshNs(async (ns, t) => {
      const t0 = performance.now();
      await run("ip", ["-n", t.name, "-batch", file]);
      const s = (performance.now() - t0) / 1000;
      await verify(ns, "ip -batch");
      return s;
    });
  } finally {
    await Deno.remove(file);
  }
}

async function buildGo(dir: string): Promise<string> {
  const src = new URL("./vishvananda/", import.meta.url).pathname;
  const bin = `${dir}/vishvananda`;
  const go = Deno.env.get("GO") ?? "/usr/local/go/bin/go";
  await run(go, ["build", "-o", bin, "."], { cwd: src });
  return bin;
}

async function vishvananda(bin: string): Promise<number> {
  return await inFreshNs(async (ns, t) => {
    const out = await run(bin, [
      "-netns",
      t.path,
      "-count",
      String(COUNT),
      "-mtu",
      String(MTU),
      "-group",
      String(GROUP),
    ]);
    await verify(ns, "vishvananda");
    return JSON.parse(out.trim().split("\n").pop()!).create_s;
  });
}

/** Latency from issuing an MTU change with our layer to our monitor delivering the matching event. */
async function eventLatency(): Promise<number[]> {
  return await inFreshNs(async (ns) => {
    await createLink(ns, { kind: "veth", name: "ev0", up: true, group: GROUP, peer: { name: "ev1", up: true } });
    let want: { mtu: number; resolve: (at: number) => void } | null = null;
    const mon = NetlinkMonitor.start(ns, (e: NetlinkEvent) => {
      if (want && e.type === "link" && e.link.name === "ev0" && e.link.mtu === want.mtu) want.resolve(e.at);
    }, { groups: ["link"] });
    const samples: number[] = [];
    try {
      for (let i = 0; i < EVENTS; i++) {
        const mtu = 1300 + (i % 2) * 100;
        const seen = new Promise<number>((resolve) => (want = { mtu, resolve }));
        const t0 = performance.now();
        await setLink(ns, "ev0", { mtu });
        samples.push((await seen) - t0);
        want = null;
      }
    } finally {
      await mon.stop();
    }
    return samples;
  });
}

/** Per-call milliseconds of listing one link's addresses among `CROWD` links with 2 addresses each. */
async function addressLookup(): Promise<{ filtered: number[]; full: number[]; ip: number[]; messages: number }> {
  return await inFreshNs(async (ns, t) => {
    const { links, addresses } = await crowd(t, CROWD / 2, "bc");
    const name = `bca${Math.floor(CROWD / 4)}`;
    const index = (await listLinks(ns)).find((l) => l.name === name)!.index;
    const want = JSON.stringify(await listAddresses(ns, index));
    const ms = { filtered: [] as number[], full: [] as number[], ip: [] as number[], messages: 0 };
    const all = await listAddresses(ns);
    if (all.length < addresses) throw new Error(`crowd: ${all.length} addresses on ${links} links, want ${addresses}`);
    for (let i = 0; i < LOOKUPS; i++) {
      let t0 = performance.now();
      const before = ns.route.received;
      const mine = await listAddresses(ns, index);
      ms.filtered.push(performance.now() - t0);
      ms.messages = ns.route.received - before;
      t0 = performance.now();
      const old = (await listAddresses(ns)).filter((a) => a.index === index);
      ms.full.push(performance.now() - t0);
      t0 = performance.now();
      const shown = await run("ip", ["-n", t.name, "-o", "addr", "show", "dev", name]);
      ms.ip.push(performance.now() - t0);
      const lines = shown.trim().split("\n").length;
      if (JSON.stringify(mine) !== want || JSON.stringify(old) !== want || lines !== mine.length) {
        throw new Error(`address lookup of ${name}: results differ (${mine.length} / ${old.length} / ip ${lines})`);
      }
    }
    return ms;
  });
}

/** The veth part: creation by every contender, group delete, event latency. Returns the summary keys. */
async function vethBench(): Promise<Record<string, number>> {
  const tmp = await Deno.makeTempDir({ prefix: "dn42op-nl-bench-" });
  try {
    const bin = await buildGo(tmp);
    const res = {
      ours: [] as number[],
      del: [] as number[],
      perLink: [] as number[],
      ip: [] as number[],
      vish: [] as number[],
    };
    const contenders: [string, () => Promise<void>][] = [
      ["ours", async () => {
        const r = await ours();
        res.ours.push(r.create);
        res.del.push(r.del);
      }],
      ["ours (per link)", async () => void res.perLink.push(await oursPerLink())],
      ["ip -batch", async () => void res.ip.push(await ipBatch())],
      ["vishvananda", async () => void res.vish.push(await vishvananda(bin))],
    ];
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const [name, fn] = contenders[(r + k) % contenders.length];
        await fn();
        console.log(`round ${r + 1}: ${name} done`);
      }
    }
    const lat = await eventLatency();
    const oursS = median(res.ours), ipS = median(res.ip), vishS = median(res.vish);
    const summary = {
      ours_create_s: round3(oursS),
      ip_batch_create_s: round3(ipS),
      vishvananda_create_s: round3(vishS),
      ratio_vs_fastest: round3(oursS / Math.min(ipS, vishS)),
      delete_s: round3(median(res.del)),
      event_p50_ms: round3(quantile(lat, 0.5)),
      event_p99_ms: round3(quantile(lat, 0.99)),
      ours_per_link_create_s: round3(median(res.perLink)),
    };
    console.log(`${COUNT} veth pairs, MTU ${MTU}, up on both ends; medians of ${ROUNDS} rounds (seconds):`);
    console.log(`  ours          ${res.ours.map(round3).join(" ")}   (createLink ×${COUNT} + one setLinkGroupUp)`);
    console.log(
      `  ours per link ${res.perLink.map(round3).join(" ")}   (createLink with up on both ends, no group request)`,
    );
    console.log(`  ip -batch     ${res.ip.map(round3).join(" ")}`);
    console.log(`  vishvananda   ${res.vish.map(round3).join(" ")}`);
    console.log(`  group delete  ${res.del.map(round3).join(" ")}`);
    console.log(
      `  event latency over ${EVENTS} changes: p50 ${summary.event_p50_ms} ms, p99 ${summary.event_p99_ms} ms`,
    );
    return summary;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The address part: one link's addresses among a crowd, filtered vs full dump vs `ip`. Returns the summary keys. */
async function addressBench(): Promise<Record<string, number>> {
  const r = await addressLookup();
  const filtered = median(r.filtered), full = median(r.full), ip = median(r.ip);
  const summary = {
    addr_one_link_filtered_ms: round3(filtered),
    addr_one_link_full_dump_ms: round3(full),
    addr_one_link_ip_ms: round3(ip),
    addr_filtered_vs_ip_ratio: round3(filtered / ip),
    addr_full_vs_filtered_ratio: round3(full / filtered),
    addr_filtered_messages: r.messages,
  };
  console.log(`addresses of one link among ${CROWD} links with ${2 * CROWD} addresses; medians of ${LOOKUPS} (ms):`);
  console.log(`  ours, kernel-filtered dump  ${summary.addr_one_link_filtered_ms}   (${r.messages} messages)`);
  console.log(`  full dump, filtered in JS   ${summary.addr_one_link_full_dump_ms}`);
  console.log(`  ip -o addr show dev X       ${summary.addr_one_link_ip_ms}   (one process per call)`);
  return summary;
}

const summary = {
  ...(ONLY === "addresses" ? {} : await vethBench()),
  ...(ONLY === "veth" ? {} : await addressBench()),
};
console.log(JSON.stringify(summary));
