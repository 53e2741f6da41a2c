/**
 * `deno task bench:wgpoll` — cost of one steady-state wg-controller poll on the node side: `WgNode.ensure` of a
 * device that already matches its spec (nothing to change), with wireguard-go devices in a throwaway network
 * namespace (`dn42op-wp-…`).
 *
 * Ours: `ensure` reads link, addresses and device once and returns that reading as the observation.
 * Peer: the previous executor, which observed again after every ensure (getLink + addresses + device read once
 * more). Its cost is reproduced exactly in the same run as `ensure` followed by `observe`, the work it did on top.
 * Rounds alternate ours/peer (the machine is shared and noisy); the figure is the median ms per ensure. Syscalls of
 * this process per ensure are counted by `strace -c -f` attached for a separate pass of each (when strace exists).
 *
 * Last line: {"devices","ensures","ms_per_ensure","peer_ms_per_ensure","ratio","syscalls_per_ensure",
 * "peer_syscalls_per_ensure","load_avg_1m"}.
 */
import { parseArgs } from "node:util";
import { Netns } from "../../src/netlink/mod.ts";
import { desiredState, type WgDesired } from "../../src/node/wireguard/desired.ts";
import { WgNode } from "../../src/node/wireguard/apply.ts";
import { Endpoint } from "../../src/wireguard/addr.ts";
import { generatePrivateKey, publicKeyOf, WireGuardKey } from "../../src/wireguard/key.ts";
import { createNetns, deleteNetns } from "../../kit/netns.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    devices: { type: "string", default: "20" },
    rounds: { type: "string", default: "10" },
  },
});
const DEVICES = Number(values.devices);
const ROUNDS = Number(values.rounds);

const parse = {
  endpoint: (t: string, f: string) => Endpoint.parse(t, f),
  publicKey: (t: string, f: string) => WireGuardKey.parse("public", t, f),
};

async function desired(i: number): Promise<WgDesired> {
  const peer = (await publicKeyOf(await generatePrivateKey())).toBase64();
  return desiredState(
    {
      node: "bench",
      interfaceName: `wp${crypto.getRandomValues(new Uint8Array(3)).toHex()}`,
      listenPort: 52000 + i,
      mtu: 1420,
      addresses: [{ family: "inet", local: `10.77.${i >> 8}.${i & 255}`, prefixlen: 32 }],
      peers: [{ publicKey: peer, allowedIPs: [`10.78.${i >> 8}.${i & 255}/32`], endpoint: "127.0.0.1:9" }],
    },
    { privateKey: await generatePrivateKey() },
    parse,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Syscalls this process makes while `fn` runs (strace -c -f attached), or undefined without strace. */
async function syscalls(fn: () => Promise<void>): Promise<number | undefined> {
  const out = await Deno.makeTempFile({ prefix: "dn42op-wp-strace-" });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("strace", {
      args: ["-c", "-f", "-q", "-o", out, "-p", String(Deno.pid)],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    await Deno.remove(out);
    return undefined;
  }
  await new Promise((r) => setTimeout(r, 1500)); // attach to every thread
  await fn();
  child.kill("SIGINT");
  await child.status;
  const text = await Deno.readTextFile(out);
  await Deno.remove(out);
  const total = /^\S+\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total$/m.exec(text);
  return total ? Number(total[1]) : undefined;
}

const ns = await createNetns("wp");
const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wp-" });
const handle = Netns.byPath(ns.path, ns.name);
const node = new WgNode(handle, {
  agent: { node: "bench", namespace: "default" },
  backend: "userspace",
  wireguardGo: { stateDir },
});
const devices: WgDesired[] = [];
try {
  for (let i = 0; i < DEVICES; i++) devices.push(await desired(i + 1));
  for (const [i, d] of devices.entries()) {
    const r = await node.ensure(`bench/d${i}`, d, handle);
    if (!r.converged) throw new Error(`device ${d.name} did not converge: ${r.actions.join("; ")}`);
  }
  const ours = async () => {
    for (const [i, d] of devices.entries()) {
      const r = await node.ensure(`bench/d${i}`, d, handle);
      if (r.actions.length || !r.observed?.device) throw new Error(`steady ensure changed ${d.name}`);
    }
  };
  const peer = async () => {
    for (const [i, d] of devices.entries()) {
      await node.ensure(`bench/d${i}`, d, handle);
      await node.observe(handle, d.name);
    }
  };
  const timed = async (fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) / DEVICES;
  };
  const [mine, theirs]: number[][] = [[], []];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2) theirs.push(await timed(peer)), mine.push(await timed(ours));
    else mine.push(await timed(ours)), theirs.push(await timed(peer));
  }
  const sysOurs = await syscalls(async () => {
    for (let r = 0; r < 3; r++) await ours();
  });
  const sysPeer = await syscalls(async () => {
    for (let r = 0; r < 3; r++) await peer();
  });
  const perEnsure = (n?: number) => n === undefined ? null : Math.round(n / (3 * DEVICES));
  const result = {
    devices: DEVICES,
    ensures: ROUNDS * DEVICES,
    ms_per_ensure: +median(mine).toFixed(3),
    peer_ms_per_ensure: +median(theirs).toFixed(3),
    ratio: +(median(mine) / median(theirs)).toFixed(3),
    syscalls_per_ensure: perEnsure(sysOurs),
    peer_syscalls_per_ensure: perEnsure(sysPeer),
    load_avg_1m: Number(Deno.loadavg()[0].toFixed(1)),
  };
  console.log(
    `steady-state ensure of ${DEVICES} wireguard-go devices, median of ${ROUNDS} rounds: ` +
      `ours ${result.ms_per_ensure} ms (${result.syscalls_per_ensure ?? "?"} syscalls), ` +
      `ensure+observe (previous executor) ${result.peer_ms_per_ensure} ms ` +
      `(${result.peer_syscalls_per_ensure ?? "?"} syscalls), ratio ${result.ratio}, load ${result.load_avg_1m}`,
  );
  console.log(JSON.stringify(result));
} finally {
  for (const [i, d] of devices.entries()) await node.remove(`bench/d${i}`, d.name, handle).catch(() => {});
  handle.close();
  await deleteNetns(ns);
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
}
