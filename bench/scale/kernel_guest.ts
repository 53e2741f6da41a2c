/**
 * Guest half of `deno task bench:scale:kernel` (kernel.ts boots the qemu kernel tier and runs this there): the node
 * layer of a wg-controller cold start on the KERNEL WireGuard backend, without Kubernetes.
 *
 * Ours: N devices shaped like bench:scale's WireGuardInterfaces (inline key, listen port 20000+i, default MTU, one
 * point-to-point address, one peer: the next device's public key) are brought about from scratch through
 * {@link WgNode.ensure}, exactly as the wg-controller's reconcile does it (desiredState from the spec, then ensure
 * with the link created in the agent's namespace, configured, and moved into the "container" namespace), with as
 * many concurrent workers as the controller runs by default. Then one more ensure pass over all of them (steady
 * state: each must find nothing to change). Per-device times are desiredState + ensure of one device.
 *
 * Peer (same guest, same N, same names, ports, keys and end state, in its own pair of namespaces): one shell per
 * device with iproute2 and wg(8) — `ip link add … type wireguard`, `wg set` (key file, port, peer), `ip link set
 * netns`, `ip addr add`, `ip link set up` — as many in parallel as our workers. One device of each is then compared
 * (link kind, MTU, flags, addresses, `wg showconf`); our ownership mark (alias, group) is the one expected difference.
 *
 * Usage (in the guest): deno run -A bench/scale/kernel_guest.ts --keys FILE [--count N] [--workers W] [--skip-peer]
 * The keys file is a JSON array of {priv, pub} (base64), one per device. The last line is one JSON object.
 */
import { parseArgs } from "node:util";
import { Netns } from "../../src/netlink/mod.ts";
import { desiredState } from "../../src/node/wireguard/desired.ts";
import { WgNode } from "../../src/node/wireguard/apply.ts";
import { Endpoint } from "../../src/wireguard/addr.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import { exec, run as sh } from "../../kit/proc.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../kit/netns.ts";
import { percentile } from "../stats.ts";
import { peerDeviceScript, peerLines } from "./peer.ts";
import { type ScaleKey, scaleName, scaleSpec } from "./spec.ts";

/** Runs `fn(0..n-1)` on `workers` concurrent loops, each taking the next index (the controller's worker model). */
async function pool(n: number, workers: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, workers) }, async () => {
    while (next < n) await fn(next++);
  }));
}

const parse = {
  endpoint: (t: string, f: string) => Endpoint.parse(t, f),
  publicKey: (t: string, f: string) => WireGuardKey.parse("public", t, f),
};

/** One ensure pass over every device: total seconds and per-device milliseconds (ascending). */
async function ensurePass(
  node: WgNode,
  ctr: { h: Netns; name: string },
  kk: readonly ScaleKey[],
  workers: number,
  cold: boolean,
): Promise<{ s: number; ms: number[] }> {
  const ms: number[] = new Array(kk.length);
  let done = 0;
  const t0 = performance.now();
  const progress = setInterval(() => console.log(`  ${done}/${kk.length} after ${elapsed(t0)} s`), 10_000);
  try {
    await pool(kk.length, workers, async (i) => {
      const t = performance.now();
      const spec = scaleSpec(i, kk, ctr.name, scaleName(i));
      const desired = desiredState(spec, {
        privateKey: WireGuardKey.parse("private", spec.privateKey!, "spec.privateKey"),
      }, parse);
      const r = await node.ensure(`dn42op-ks-bench/w${i}`, desired, ctr.h);
      ms[i] = performance.now() - t;
      const what = `${desired.name} (${cold ? "cold" : "steady"} pass)`;
      if (!r.converged) throw new Error(`${what}: not converged after ensure: ${r.actions.join("; ")}`);
      if (r.observed?.backend !== "kernel") throw new Error(`${what}: served by the ${r.observed?.backend} backend`);
      if (cold && !r.created) throw new Error(`${what}: not created (${r.actions.join("; ")})`);
      if (!cold && r.actions.length) throw new Error(`${what}: changed something: ${r.actions.join("; ")}`);
      done++;
    });
  } finally {
    clearInterval(progress);
  }
  return { s: (performance.now() - t0) / 1000, ms: ms.sort((a, b) => a - b) };
}

function elapsed(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}

/** The standard tools, one shell per device, `workers` in parallel; returns seconds. */
async function peer(host: TestNetns, ctr: TestNetns, kk: readonly ScaleKey[], workers: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-ks-peer-" });
  try {
    await Deno.writeTextFile(`${dir}/one.sh`, peerDeviceScript(host.name, ctr.name, dir));
    const lines = peerLines(kk, scaleName);
    const t0 = performance.now();
    const r = await exec(["xargs", "-P", String(workers), "-L", "1", "sh", `${dir}/one.sh`], { stdin: lines });
    const s = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`peer script failed: ${r.stderr.slice(0, 400)}`);
    return s;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** What must be equal between our device and the peer's: link kind, MTU, flags, addresses, WireGuard config. */
async function facts(ctr: TestNetns, name: string) {
  const [link] = JSON.parse(await ctr.ip("-j", "-d", "link", "show", "dev", name));
  const [addr] = JSON.parse(await ctr.ip("-j", "addr", "show", "dev", name));
  return {
    link: {
      kind: link.linkinfo?.info_kind,
      mtu: link.mtu,
      flags: [...link.flags].sort(),
      operstate: link.operstate,
      addresses: (addr.addr_info as Record<string, unknown>[]).map((a) => `${a.local} ${a.address} /${a.prefixlen}`),
    },
    markedOurs: typeof link.ifalias === "string" && link.ifalias.startsWith("dn42op:wg:"),
    showconf: await ctr.run("wg", "showconf", name),
  };
}

/**
 * Checks device `i` of ours against the peer's and that each side holds `n` WireGuard links. Never prints key
 * material: a showconf difference is reported by the names of the differing lines.
 */
async function compare(ours: TestNetns, theirs: TestNetns, i: number, n: number): Promise<string> {
  for (const ns of [ours, theirs]) {
    const links = (await ns.ip("-o", "link", "show", "type", "wireguard")).split("\n").filter(Boolean).length;
    if (links !== n) throw new Error(`${links} WireGuard links in ${ns.name}, expected ${n}`);
  }
  const name = scaleName(i);
  const [a, b] = [await facts(ours, name), await facts(theirs, name)];
  if (JSON.stringify(a.link) !== JSON.stringify(b.link)) {
    throw new Error(`${name} differs: ours ${JSON.stringify(a.link)}, peer ${JSON.stringify(b.link)}`);
  }
  if (a.showconf !== b.showconf) {
    const la = a.showconf.split("\n"), lb = b.showconf.split("\n");
    const keys = la.filter((l, j) => l !== lb[j]).map((l) => l.split("=")[0].trim());
    throw new Error(`${name}: wg showconf differs between ours and the peer's (lines: ${keys.join(", ")})`);
  }
  if (!a.markedOurs || b.markedOurs) throw new Error(`${name}: ownership mark not where expected`);
  return `${name}: ${JSON.stringify(a.link)}; wg showconf identical (${a.showconf.split("\n").length} lines)`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      keys: { type: "string" },
      count: { type: "string", default: "1000" },
      workers: { type: "string", default: "8" },
      "skip-peer": { type: "boolean", default: false },
    },
  });
  const n = Number(values.count);
  const workers = Number(values.workers);
  if (!values.keys || !(n > 0) || !(workers > 0)) throw new Error("usage: kernel_guest.ts --keys FILE [--count N]");
  const kk = (JSON.parse(await Deno.readTextFile(values.keys)) as ScaleKey[]).slice(0, n);
  if (kk.length !== n) throw new Error(`--keys holds ${kk.length} key pairs, need ${n}`);
  if (n > 0xffff || n > 256 * 63) throw new Error("--count: at most 16128 devices (names and addresses)");

  const made: TestNetns[] = [];
  const handles: Netns[] = [];
  try {
    const host = await createNetns("ks-h");
    made.push(host);
    const ctr = await createNetns("ks-c");
    made.push(ctr);
    const hostH = Netns.byPath(host.path, host.name);
    handles.push(hostH);
    const ctrH = Netns.byPath(ctr.path, ctr.name);
    handles.push(ctrH);
    // The wg-controller's default backend choice (auto): the kernel module here; ensurePass checks it was used.
    const node = new WgNode(hostH, { agent: { node: "bench", namespace: "default" }, backend: "auto" });

    console.log(`ours: ${n} devices through WgNode.ensure, ${workers} workers ...`);
    const cold = await ensurePass(node, { h: ctrH, name: ctr.name }, kk, workers, true);
    console.log(
      `ours: cold start ${cold.s.toFixed(2)} s; per device p50 ${percentile(cold.ms, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(cold.ms, 99).toFixed(1)} ms`,
    );
    const steady = await ensurePass(node, { h: ctrH, name: ctr.name }, kk, workers, false);
    console.log(
      `ours: steady pass ${steady.s.toFixed(2)} s (nothing changed); per device p50 ` +
        `${percentile(steady.ms, 50).toFixed(1)} ms, p99 ${percentile(steady.ms, 99).toFixed(1)} ms`,
    );

    let peerS: number | null = null;
    let equal: string | null = null;
    if (!values["skip-peer"]) {
      const ph = await createNetns("ks-ph");
      made.push(ph);
      const pc = await createNetns("ks-pc");
      made.push(pc);
      console.log(`peer: ${n} devices with ip + wg, ${workers} shells in parallel ...`);
      peerS = await peer(ph, pc, kk, workers);
      console.log(`peer: ${peerS.toFixed(2)} s`);
      equal = await compare(ctr, pc, n >> 1, n);
      console.log(`same end state: ${equal}`);
    }
    console.log(JSON.stringify({
      backend: "kernel",
      count: n,
      workers,
      kernel_cold_start_s: +cold.s.toFixed(2),
      per_device_p50_ms: +percentile(cold.ms, 50).toFixed(1),
      per_device_p99_ms: +percentile(cold.ms, 99).toFixed(1),
      steady_pass_s: +steady.s.toFixed(2),
      steady_p50_ms: +percentile(steady.ms, 50).toFixed(1),
      peer_cold_start_s: peerS === null ? null : +peerS.toFixed(2),
      ratio: peerS === null ? null : +(cold.s / peerS).toFixed(2),
      checked_equal: equal !== null,
    }));
  } finally {
    for (const h of handles) h.close();
    for (const ns of made.reverse()) await deleteNetns(ns);
    await sh(["ip", "netns", "list"]).then((l) => l.trim() && console.log(`netns left: ${l.trim()}`));
  }
}
