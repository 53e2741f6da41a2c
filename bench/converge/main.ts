/**
 * bench:converge — from `kubectl apply -f example/wgp/wgp1.yaml` to the first successful `ping 10.4.0.2` from
 * agent1 through the tunnel, on a fresh lab instance (`dn42op-bc-…`: agentx namespace, podman containers, the
 * controllers started exactly as `lab:up` starts them, a Kubernetes namespace of its own). Each run is followed by
 * `kubectl delete` and a wait until both WireGuard links are gone, so every run starts clean. One warm-up run
 * (informer caches, first wireguard-go start) is shown but not counted.
 *
 * Peer, measured in the same instance: the same two tunnel ends configured by hand with the commands an operator
 * would type (wireguard-go in agentx, `wg set` keys/ports/peers, `ip link set … netns`, addresses, MTU, up), from
 * the first command to the first successful ping. Both sides are timed by the same observer (`firstPing`), started
 * with their first command.
 *
 *   deno task bench:converge [--runs 10] [--prefix dn42op-bc-]
 *
 * `--prefix` names the instance (`dn42op-<tag>-`): leftovers of that prefix are swept at the start, so two runs at
 * once need two prefixes.
 *
 * Each of our runs is traced (src/log/trace.ts): the controllers run at -v 4, and their `trace` lines give every
 * phase's offset from the start of `kubectl apply`; the first handshake is read from the initiating device (UAPI,
 * nanoseconds). The median of each phase over the runs is printed as a table and goes into the JSON.
 *
 * Also measured, ours against by hand in the same instance: plan delete → both links gone (`kubectl delete` vs `ip
 * link del` of both ends), and a peer edit → the new peer in the device (`kubectl patch` of the WireGuardInterface
 * wg1 from example/wgi/lax1-wg1.yaml vs `wg set … peer`), with the edit's trace.
 *
 * The controllers' logs are kept in .out/bench-converge-logs/.
 *
 * Last line: {"runs", "p50_s", "p90_s", "p50_after_apply_s" (without kubectl's own run time), "peer_p50_s",
 * "peer_p90_s", "ratio_p50", "kubectl_to_plan_p50_s" (apply started → the plan controller's first pass),
 * "operator_p50_s" (that pass → first ping) and "operator_ratio_p50" (that part / the peer's whole run),
 * "kubectl_start_p50_s" (`kubectl version --client`: the client's start alone), "ratio_floor_p50" ((kubectl → plan +
 * the peer's run) / the peer's run: what an operator exactly as fast as the peer would measure), "delete_p50_s",
 * "peer_delete_p50_s", "delete_ratio_p50", "edit_p50_s",
 * "peer_edit_p50_s", "edit_ratio_p50", "edit_phases_ms" (the median edit's trace), "phases_p50_ms" (phase and object → median offset
 * from the apply), "loadavg"}; ratios = ours / peer.
 */
import { parseArgs } from "node:util";
import { exec, run } from "../../kit/proc.ts";
import { freshInstance, type Instance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { applyExamples, deleteExamples, inNetnsOf, kubectl } from "../../lab/scenario.ts";
import { generatePrivateKey, publicKeyOf, type WireGuardKey } from "../../src/wireguard/key.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { uapiCall } from "../../src/wireguard/uapi_socket.ts";
import { getLink, listAddresses, Netns } from "../../src/netlink/mod.ts";
import { daemonSocketDir } from "../../src/wireguard/wggo.ts";
import { keepLogs } from "../logs.ts";
import { percentile } from "../stats.ts";
import { medianTrace, parseTrace, phaseOffsets, splitRun } from "./trace.ts";
import { sleep, until } from "../../kit/wait.ts";

/** Name prefix of the instance (namespaces, containers, state) unless --prefix gives another (two runs at once). */
const DEFAULT_PREFIX = "dn42op-bc-";
const PLAN = ["example/wgp/wgp1.yaml"];
const TIMEOUT_MS = 60_000;

/** While the tunnel is not ready, agent1's namespace is looked at this often (in this process, over netlink). */
const READY_POLL_MS = 5;
/** Once it is, a new probe starts this often, whether or not the earlier ones have answered. */
const PROBE_EVERY_MS = 20;

/** Whether link `dev` of `ns` is up and has 10.4.0.1: only then can a ping from agent1 go through the tunnel. */
async function tunnelEndReady(ns: Netns, dev: string): Promise<boolean> {
  const link = await getLink(ns, dev).catch(() => null);
  return !!link?.up && (await listAddresses(ns, link.index)).some((a) => a.local === "10.4.0.1");
}

/**
 * The moment (performance.now()) the first ping from agent1 to 10.4.0.2 through link `dev` is answered. The same
 * observer for both sides, started with their first command: until the link is up with its address, it only looks
 * (netlink, no processes, so it takes no CPU from the work it times); then it pings (one echo per probe, 200 ms
 * timeout), a new probe every 20 ms whether or not the earlier ones have answered, so a probe sent before the
 * handshake, which may wait out its timeout, does not hide the next. Returns after the probes still out have ended:
 * when the link was seen ready and when the first answer came (performance.now()).
 */
async function firstPing(agent1: number, dev: string, t0: number): Promise<{ ready: number; answered: number }> {
  const late = () => performance.now() - t0 > TIMEOUT_MS;
  const ns = Netns.byPid(agent1);
  try {
    while (!await tunnelEndReady(ns, dev)) {
      if (late()) throw new Error(`${dev} not up with 10.4.0.1 in agent1 within ${TIMEOUT_MS} ms`);
      await sleep(READY_POLL_MS);
    }
  } finally {
    ns.close();
  }
  const ready = performance.now();
  let answeredAt: number | undefined;
  const out = new Set<Promise<void>>();
  while (answeredAt === undefined && !late()) {
    const probe: Promise<void> = inNetnsOf(agent1, ["ping", "-n", "-c", "1", "-W", "0.2", "10.4.0.2"])
      .then((r) => {
        if (r.code === 0) answeredAt ??= performance.now();
      })
      .finally(() => out.delete(probe));
    out.add(probe);
    await Promise.race([probe, sleep(PROBE_EVERY_MS)]);
  }
  await Promise.all(out);
  if (answeredAt === undefined) throw new Error(`no answer from 10.4.0.2 within ${TIMEOUT_MS} ms`);
  return { ready, answered: answeredAt };
}

/** `p`, awaited later: a rejection before then is held, not unhandled. */
function observed<T>(p: Promise<T>): () => Promise<T> {
  p.catch(() => {});
  return () => p;
}

async function linkGone(pid: number, dev: string): Promise<boolean> {
  return (await inNetnsOf(pid, ["ip", "link", "show", "dev", dev])).code !== 0;
}

/** Returns once every (container pid, link) is gone. */
async function linksGone(links: [number, string][]): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (const [pid, dev] of links) {
    while (!(await linkGone(pid, dev))) {
      if (Date.now() > deadline) throw new Error(`${dev} did not go away`);
      await sleep(20);
    }
  }
}

/** The UAPI socket directory of wireguard-go device `dev` started by one of the instance's agents. */
async function uapiSocketDir(stateDir: string, dev: string): Promise<string> {
  const dirs: string[] = [];
  for await (const e of Deno.readDir(stateDir)) {
    if (e.isDirectory) dirs.push(daemonSocketDir({ stateDir: `${stateDir}/${e.name}` })); // an agent's -wg-state-dir
  }
  for (const d of dirs) {
    if (await Deno.stat(`${d}/${dev}.sock`).then(() => true, () => false)) return d;
  }
  throw new Error(`no UAPI socket of ${dev} in ${dirs.join(", ")}`);
}

/** Wall-clock ms of the latest handshake of any peer of wireguard-go device `dev` (undefined: none yet). */
async function latestHandshake(stateDir: string, dev: string): Promise<number | undefined> {
  const reply = await uapiCall(dev, "get=1\n\n", await uapiSocketDir(stateDir, dev), 5_000);
  const sec = [...reply.matchAll(/^last_handshake_time_sec=(\d+)$/gm)].map((m) => Number(m[1]));
  const nsec = [...reply.matchAll(/^last_handshake_time_nsec=(\d+)$/gm)].map((m) => Number(m[1]));
  const at = sec.map((s, i) => s * 1000 + (nsec[i] ?? 0) / 1e6).filter((t) => t > 0);
  return at.length ? Math.max(...at) : undefined;
}

/** The plan, its two children (lax1's, lax2's): the objects a run traces. */
function tracedKeys(namespace: string): string[] {
  return [`${namespace}/wgp1`, `${namespace}/wg-lax1-lax2-0`, `${namespace}/wg-lax2-lax1-0`];
}

/** Phase offsets (ms from the apply) of one run, read from the controllers' logs; plus handshake and ping. */
async function traceOf(inst: Instance, wallT0: number, pingMs: number): Promise<Map<string, number>> {
  const events = [];
  for await (const e of Deno.readDir(inst.controllers.logDir)) {
    if (e.name.endsWith(".log")) {
      events.push(...parseTrace(await Deno.readTextFile(`${inst.controllers.logDir}/${e.name}`)));
    }
  }
  const offsets = phaseOffsets(events, wallT0, tracedKeys(inst.options.names.namespace));
  const hs = await latestHandshake(inst.options.topology.stateDir, "wg-lax2-lax1-0").catch(() => undefined);
  if (hs !== undefined) offsets.set("first-handshake", hs - wallT0);
  offsets.set("first-ping", pingMs);
  return offsets;
}

/** One run of ours: apply, ping, delete, wait clean. Returns seconds to the first ping and of the apply itself. */
async function oursOnce(
  inst: Instance,
): Promise<{ total: number; apply: number; del: number; trace: Map<string, number> }> {
  const { kubeconfig, names } = inst.options;
  const [a1, a2] = [await inst.pid("agent1"), await inst.pid("agent2")];
  const wallT0 = Date.now();
  const t0 = performance.now();
  const pinged = observed(firstPing(a1, "wg-lax1-lax2-0", t0));
  await applyExamples(kubeconfig, PLAN, names);
  const apply = (performance.now() - t0) / 1000;
  const ping = await pinged();
  const total = (ping.answered - t0) / 1000;
  const trace = await traceOf(inst, wallT0, total * 1000);
  trace.set("kubectl-apply-returned", apply * 1000);
  trace.set("tunnel-end-ready", ping.ready - t0);
  const d0 = performance.now();
  await deleteExamples(kubeconfig, PLAN, names, false);
  await linksGone([[a1, "wg-lax1-lax2-0"], [a2, "wg-lax2-lax1-0"]]);
  const del = (performance.now() - d0) / 1000;
  await deleteExamples(kubeconfig, PLAN, names); // and the objects with them, before the next run
  return { total, apply, del, trace };
}

const WGI = ["example/wgi/lax1-wg1.yaml"];

/** Returns once wireguard-go device `dev` of the instance lists the peer with public key `hex`. */
async function peerInDevice(stateDir: string, dev: string, hex: string): Promise<void> {
  const dir = await until(`${dev}'s socket`, () => uapiSocketDir(stateDir, dev).catch(() => undefined), TIMEOUT_MS, 5);
  await until(
    `peer ${hex} in ${dev}`,
    async () => (await uapiCall(dev, "get=1\n\n", dir, 5_000)).includes(`public_key=${hex}\n`),
    TIMEOUT_MS,
    5,
  );
}

/**
 * Peer edits: ours, `kubectl patch` adding a peer to the WireGuardInterface wg1 (example/wgi/lax1-wg1.yaml) → the
 * peer in wg1's device; by hand, `wg set … peer` on a wireguard-go device of its own → the same. Seconds per edit.
 */
async function peerEdits(inst: Instance, rounds: number) {
  const { kubeconfig, names, topology } = inst.options;
  const ours: number[] = [];
  const peer: number[] = [];
  const traces: Map<string, number>[] = [];
  const newKey = async () => await publicKeyOf(await generatePrivateKey());
  await applyExamples(kubeconfig, WGI, names);
  try {
    // Adds a peer to wg1; returns the generation the patch made.
    const addPeer = async (key: WireGuardKey, prefix: string) => {
      const op = { op: "add", path: "/spec/peers/-", value: { publicKey: key.toBase64(), allowedIPs: [prefix] } };
      const args = ["patch", "-n", names.namespace, "wireguardinterface", "wg1", "--type=json", "-p"];
      const r = await kubectl(kubeconfig, [...args, JSON.stringify([op]), "-o", "jsonpath={.metadata.generation}"]);
      if (r.code !== 0) throw new Error(`kubectl patch: ${r.stderr}`);
      return r.stdout.trim();
    };
    // The agent's pass of an edit is over (status written) before the next edit starts: no trace line of one edit
    // is counted for the next.
    const settled = async (generation: string) => {
      const jsonpath = `jsonpath={.status.observedGeneration}=${generation}`;
      const r = await kubectl(kubeconfig, [
        "wait",
        "-n",
        names.namespace,
        "wireguardinterface/wg1",
        `--for=${jsonpath}`,
      ]);
      if (r.code !== 0) throw new Error(`kubectl wait: ${r.stderr}`);
    };
    const first = await newKey();
    const g0 = await addPeer(first, "10.99.0.0/24");
    await peerInDevice(topology.stateDir, "wg1", first.toHex());
    await settled(g0);
    for (let i = 1; i <= rounds; i++) {
      const key = await newKey();
      const wallT0 = Date.now();
      const t0 = performance.now();
      const generation = await addPeer(key, `10.99.${i}.0/24`);
      await peerInDevice(topology.stateDir, "wg1", key.toHex());
      const ms = performance.now() - t0;
      ours.push(ms / 1000);
      const events = [];
      for await (const e of Deno.readDir(inst.controllers.logDir)) {
        if (e.name.startsWith("wg-controller")) {
          events.push(...parseTrace(await Deno.readTextFile(`${inst.controllers.logDir}/${e.name}`)));
        }
      }
      const t = phaseOffsets(events, wallT0, [`${names.namespace}/wg1`]);
      t.set("peer-in-device", ms);
      traces.push(t);
      await settled(generation);
    }
  } finally {
    await deleteExamples(kubeconfig, WGI, names);
  }
  const ax = topology.agentxNetns;
  const dev = `bp${crypto.randomUUID().slice(0, 6)}`;
  const daemon = new Deno.Command("ip", {
    args: ["netns", "exec", ax, "wireguard-go", "-f", dev],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    while ((await exec(["ip", "netns", "exec", ax, "wg", "show", dev])).code !== 0) await sleep(5);
    for (let i = 1; i <= rounds; i++) {
      const key = (await newKey()).toBase64();
      const t0 = performance.now();
      await run(["ip", "netns", "exec", ax, "wg", "set", dev, "peer", key, "allowed-ips", `10.98.${i}.0/24`]);
      peer.push((performance.now() - t0) / 1000);
      const shown = await exec(["ip", "netns", "exec", ax, "wg", "show", dev, "peers"]);
      if (!shown.stdout.includes(key)) throw new Error(`wg set did not add the peer to ${dev}`);
    }
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
  }
  return { ours, peer, trace: traces[ours.indexOf(percentile([...ours].sort((a, b) => a - b), 50))] };
}

/**
 * One run of the peer: the same tunnel by hand with wireguard-go, wg and ip. Returns seconds to the first ping, and
 * from `ip link del` of both ends to both links gone.
 */
async function peerOnce(inst: Instance): Promise<{ up: number; readyToPing: number; del: number }> {
  const ax = inst.options.topology.agentxNetns;
  const [a1, a2] = [await inst.pid("agent1"), await inst.pid("agent2")];
  const id = crypto.randomUUID().slice(0, 6);
  const [n1, n2] = [`bc${id}a`, `bc${id}b`];
  const keys = await Promise.all([generatePrivateKey(), generatePrivateKey()]);
  const pubs = await Promise.all(keys.map(publicKeyOf));
  const dir = await Deno.makeTempDir({ prefix: "dn42op-bc-keys-" });
  await Deno.writeTextFile(`${dir}/1`, keys[0].toBase64(), { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/2`, keys[1].toBase64(), { mode: 0o600 });
  const daemons: Deno.ChildProcess[] = [];
  const wgGo = async (name: string) => {
    const p = new Deno.Command("ip", {
      args: ["netns", "exec", ax, "wireguard-go", "-f", name],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    daemons.push(p);
    while ((await exec(["ip", "netns", "exec", ax, "wg", "show", name])).code !== 0) await sleep(5);
  };
  const wg = (...args: string[]) => run(["ip", "netns", "exec", ax, "wg", ...args]);
  const inNs = (pid: number, ...cmd: string[]) => run(["nsenter", "-t", String(pid), "-n", ...cmd]);
  try {
    const t0 = performance.now();
    const pinged = observed(firstPing(a1, n1, t0));
    await Promise.all([wgGo(n1), wgGo(n2)]);
    await wg(
      "set",
      n1,
      "listen-port",
      "52820",
      "private-key",
      `${dir}/1`,
      "peer",
      pubs[1].toBase64(),
      "allowed-ips",
      "0.0.0.0/0,::/0",
    );
    await wg(
      "set",
      n2,
      "listen-port",
      "51800",
      "private-key",
      `${dir}/2`,
      "peer",
      pubs[0].toBase64(),
      "allowed-ips",
      "0.0.0.0/0,::/0",
      "endpoint",
      "192.168.65.3:52820",
      "persistent-keepalive",
      "25",
    );
    await run(["ip", "-n", ax, "link", "set", "dev", n1, "netns", String(a1)]);
    await run(["ip", "-n", ax, "link", "set", "dev", n2, "netns", String(a2)]);
    await inNs(a1, "ip", "addr", "add", "10.4.0.1", "peer", "10.4.0.2/32", "dev", n1);
    await inNs(a2, "ip", "addr", "add", "10.4.0.2", "peer", "10.4.0.1/32", "dev", n2);
    await inNs(a1, "ip", "link", "set", "dev", n1, "mtu", "1420", "up");
    await inNs(a2, "ip", "link", "set", "dev", n2, "mtu", "1420", "up");
    const ping = await pinged();
    const up = (ping.answered - t0) / 1000;
    const readyToPing = (ping.answered - ping.ready) / 1000;
    const d0 = performance.now();
    await inNs(a1, "ip", "link", "del", "dev", n1);
    await inNs(a2, "ip", "link", "del", "dev", n2);
    await linksGone([[a1, n1], [a2, n2]]);
    return { up, readyToPing, del: (performance.now() - d0) / 1000 };
  } finally {
    for (const d of daemons) {
      try {
        d.kill("SIGTERM");
      } catch { /* exited */ }
      await d.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "10" }, prefix: { type: "string", default: DEFAULT_PREFIX } },
  });
  const prefix = values.prefix;
  const runs = Number(values.runs);
  if (!(runs >= 1)) throw new TypeError(`--runs ${values.runs}: expected a positive integer`);
  await sweepInstances(prefix);
  await withNamespace(async (k) => {
    const o = freshInstance(prefix, k.namespace, k.kubeconfigPath, k.server);
    try {
      const inst = await instanceUp(o);
      const warm = await oursOnce(inst);
      console.log(`warm-up: ${warm.total.toFixed(2)} s (not counted)`);
      const ours: number[] = [];
      const afterApply: number[] = [];
      const oursDel: number[] = [];
      const traces: Map<string, number>[] = [];
      for (let i = 1; i <= runs; i++) {
        const r = await oursOnce(inst);
        ours.push(r.total);
        afterApply.push(r.total - r.apply);
        oursDel.push(r.del);
        traces.push(r.trace);
        console.log(
          `ours run ${i}: ${r.total.toFixed(2)} s to the first ping (kubectl apply ${r.apply.toFixed(2)} s); ` +
            `delete → links gone ${r.del.toFixed(2)} s`,
        );
      }
      const peer: number[] = [];
      const peerDel: number[] = [];
      const peerReadyToPing: number[] = [];
      for (let i = 1; i <= runs; i++) {
        const r = await peerOnce(inst);
        peer.push(r.up);
        peerDel.push(r.del);
        peerReadyToPing.push(r.readyToPing);
        console.log(`peer run ${i}: ${r.up.toFixed(2)} s to the first ping, ip link del → gone ${r.del.toFixed(2)} s`);
      }
      const edits = await peerEdits(inst, runs);
      // kubectl's own start, no request (`version --client`): part of every run of ours that no operator can shorten.
      const kubectlStart: number[] = [];
      for (let i = 1; i <= runs; i++) {
        const t0 = performance.now();
        const r = await kubectl(inst.options.kubeconfig, ["version", "--client"]);
        if (r.code !== 0) throw new Error(`kubectl version --client: ${r.stderr}`);
        kubectlStart.push((performance.now() - t0) / 1000);
      }
      const p50Of = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
      console.log(
        `delete → links gone: ours p50 ${p50Of(oursDel).toFixed(2)} s, by hand (ip link del) ${
          p50Of(peerDel).toFixed(2)
        } s`,
      );
      console.log(
        `peer edit → in the device: ours (kubectl patch) p50 ${p50Of(edits.ours).toFixed(3)} s, by hand (wg set) ` +
          `${p50Of(edits.peer).toFixed(3)} s; trace of the median edit (ms after kubectl patch started):`,
      );
      for (const [label, ms] of [...edits.trace].sort((x, y) => x[1] - y[1])) {
        console.log(`  ${String(Math.round(ms)).padStart(6)}  ${label.replace(`${k.namespace}/`, "")}`);
      }
      const byRun = [...ours];
      ours.sort((a, b) => a - b);
      afterApply.sort((a, b) => a - b);
      peer.sort((a, b) => a - b);
      const r2 = (x: number) => Number(x.toFixed(2));
      const [p50, p90, q50, q90] = [
        percentile(ours, 50),
        percentile(ours, 90),
        percentile(peer, 50),
        percentile(peer, 90),
      ];
      console.log(
        `ours p50 ${p50.toFixed(2)} s p90 ${p90.toFixed(2)} s; peer p50 ${q50.toFixed(2)} s p90 ${q90.toFixed(2)} s`,
      );
      const phases = medianTrace(traces);
      const oursReadyToPing = traces.map((t) => (t.get("first-ping")! - t.get("tunnel-end-ready")!) / 1000);
      console.log(
        `agent1's end up with its address → first ping: ours p50 ${(p50Of(oursReadyToPing) * 1000).toFixed(0)} ms, ` +
          `by hand ${(p50Of(peerReadyToPing) * 1000).toFixed(0)} ms`,
      );
      const median = traces[byRun.indexOf(percentile(ours, 50))];
      console.log("\nconvergence trace, ms after kubectl apply started: the median run, and each phase's median");
      for (const [label, ms] of [...median].sort((x, y) => x[1] - y[1])) {
        const name = label.replace(`${k.namespace}/`, "");
        console.log(`  ${String(Math.round(ms)).padStart(6)}  ${String(phases.get(label)).padStart(6)}  ${name}`);
      }
      // Ours in two parts: kubectl until the plan controller has the plan (the client's own run, the API server's
      // write and the watch), and from there to the first ping (what the operator does).
      const split = traces.map(splitRun).filter((x) => x !== undefined);
      const [toPlan, operator] = [split.map((x) => x.toPlan), split.map((x) => x.operator)];
      console.log(
        `ours in two parts: kubectl apply until the plan controller has the plan p50 ` +
          `${(p50Of(toPlan) * 1000).toFixed(0)} ms; from there to the first ping p50 ` +
          `${(p50Of(operator) * 1000).toFixed(0)} ms = ${(p50Of(operator) / q50).toFixed(2)}x the peer's whole run`,
      );
      // The least ratio this machine allows: kubectl's part as measured, and an operator whose own part took exactly
      // as long as the peer's whole run.
      const floor = (p50Of(toPlan) + q50) / q50;
      console.log(
        `kubectl alone (version --client, no request) p50 ${(p50Of(kubectlStart) * 1000).toFixed(0)} ms; an ` +
          `operator as fast as the peer would measure (kubectl → plan + peer) / peer = ${floor.toFixed(2)}x`,
      );
      console.log(
        `ratio (ours/peer) p50 ${(p50 / q50).toFixed(2)}x; goal ≤ 1.5: ${p50 / q50 <= 1.5 ? "met" : "missed"}`,
      );
      console.log(JSON.stringify({
        runs,
        p50_s: r2(p50),
        p90_s: r2(p90),
        p50_after_apply_s: r2(percentile(afterApply, 50)),
        peer_p50_s: r2(q50),
        peer_p90_s: r2(q90),
        ratio_p50: r2(p50 / q50),
        kubectl_to_plan_p50_s: Number(p50Of(toPlan).toFixed(3)),
        operator_p50_s: Number(p50Of(operator).toFixed(3)),
        operator_ratio_p50: r2(p50Of(operator) / q50),
        kubectl_start_p50_s: Number(p50Of(kubectlStart).toFixed(3)),
        ratio_floor_p50: r2(floor),
        delete_p50_s: r2(p50Of(oursDel)),
        peer_delete_p50_s: r2(p50Of(peerDel)),
        delete_ratio_p50: r2(p50Of(oursDel) / p50Of(peerDel)),
        edit_p50_s: Number(p50Of(edits.ours).toFixed(3)),
        peer_edit_p50_s: Number(p50Of(edits.peer).toFixed(3)),
        edit_ratio_p50: r2(p50Of(edits.ours) / p50Of(edits.peer)),
        edit_phases_ms: Object.fromEntries(
          [...edits.trace].map(([l, ms]) => [l.replace(`${k.namespace}/`, ""), Math.round(ms)]),
        ),
        phases_p50_ms: Object.fromEntries([...phases].map(([l, ms]) => [l.replace(`${k.namespace}/`, ""), ms])),
        loadavg: (await Deno.readTextFile("/proc/loadavg")).split(" ")[0],
      }));
    } finally {
      await deleteExamples(k.kubeconfigPath, PLAN, o.names).catch(() => {});
      await keepLogs(`${o.topology.stateDir}/logs`, "bench-converge-logs");
      await instanceDown(o);
    }
  }, { prefix: prefix });
}
