/**
 * The benchmark's peer: the same mesh brought up without the operator, by a shell script per node that runs
 * `wireguard-go`, `wg set` and `ip` — what an operator would script by hand. "The same mesh" is literal: the
 * interfaces, ports, endpoints, keepalives and addresses come from the plan expansion (src/plan/expand.ts) of the
 * scenario's plan with keys generated here. Each node's script runs inside the node's namespace with the node's
 * own /run/wireguard (as the agents get), its tunnels in parallel, all nodes at once.
 */
import { expandPlan, type NodeKey } from "../../src/plan/expand.ts";
import type { GeneratedInterfaceSpec } from "../../src/plan/types.ts";
import { generatePrivateKey, publicKeyOf } from "../../src/wireguard/key.ts";
import { exec, processCmdline, run } from "../../kit/proc.ts";
import { type MeshNode, meshPlan } from "./model.ts";
import { until } from "../../kit/wait.ts";

/** A node's key pair (base64). */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** Fresh keys for every node. */
export async function meshKeys(nodes: MeshNode[]): Promise<Map<string, KeyPair>> {
  const out = new Map<string, KeyPair>();
  for (const n of nodes) {
    const priv = await generatePrivateKey();
    out.set(n.name, { privateKey: priv.toBase64(), publicKey: (await publicKeyOf(priv)).toBase64() });
  }
  return out;
}

/** The interfaces of the scenario's plan with these keys, per node. */
export function meshInterfaces(nodes: MeshNode[], keys: Map<string, KeyPair>): Map<string, GeneratedInterfaceSpec[]> {
  const spec = meshPlan(nodes, { plan: "peer", namespace: "peer", keySecret: "peer" }).spec as Parameters<
    typeof expandPlan
  >[0];
  const nodeKeys = new Map<string, NodeKey>(
    [...keys].map(([node, k]) => [node, { publicKey: k.publicKey, secretRef: { name: "peer", key: node } }]),
  );
  const expansion = expandPlan(spec, nodeKeys);
  if (expansion.problems.length) throw new Error(`peer mesh: ${expansion.problems.map((p) => p.message).join("; ")}`);
  const out = new Map<string, GeneratedInterfaceSpec[]>(nodes.map((n) => [n.name, []]));
  for (const d of expansion.interfaces) out.get(d.fromNode)!.push(d.spec);
  return out;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The script of one node: binds its socket directory ($1) over /run/wireguard, then per interface, in parallel:
 * wireguard-go, `wg set` (port, key from $2, the peer), addresses, MTU and up. Exits non-zero if any step failed.
 */
export function nodeScript(ifaces: GeneratedInterfaceSpec[]): string {
  const lines = [
    "set -u",
    'mkdir -p /run/wireguard && mount --bind "$1" /run/wireguard || exit 1',
    'key="$2"',
    'log="$3"',
    "pids=''",
  ];
  for (const i of ifaces) {
    const dev = quote(i.interfaceName);
    const p = i.peers[0];
    const peer = [
      "peer",
      p.publicKey,
      "allowed-ips",
      (p.allowedIPs ?? []).join(","),
      ...(p.endpoint ? ["endpoint", p.endpoint] : []),
      ...(p.persistentKeepalive ? ["persistent-keepalive", String(p.persistentKeepalive)] : []),
    ].map(quote).join(" ");
    // addresses are the model's own IP literals: nothing to quote
    const addrs = i.addresses.map((a) =>
      `ip addr add ${a.peer ? `${a.local} peer ${a.peer}` : a.local}/${a.prefixlen} dev ${dev}`
    );
    const steps = [
      `wireguard-go ${dev} >>"$log" 2>&1`,
      `wg set ${dev} listen-port ${i.listenPort} private-key "$key" ${peer}`,
      ...addrs,
      `ip link set dev ${dev} mtu ${i.mtu} up`,
    ];
    lines.push(`( ${steps.join(" && ")} ) & pids="$pids $!"`);
  }
  lines.push('fail=0; for p in $pids; do wait "$p" || fail=1; done; exit $fail');
  return lines.join("\n");
}

/** Where the peer keeps a node's files (socket directory, key, log). */
export interface PeerNode {
  node: string;
  netns: string;
  socketDir: string;
  /** A directory for the key file and the daemons' log. */
  workDir: string;
}

/** Brings the mesh up with `ifaces` on every node at once; throws with the failing node's output. */
export async function peerMeshUp(
  nodes: PeerNode[],
  keys: Map<string, KeyPair>,
  ifaces: Map<string, GeneratedInterfaceSpec[]>,
): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    await Deno.mkdir(n.socketDir, { recursive: true, mode: 0o700 });
    await Deno.mkdir(n.workDir, { recursive: true, mode: 0o700 });
    const keyFile = `${n.workDir}/private.key`;
    await Deno.writeTextFile(keyFile, keys.get(n.node)!.privateKey + "\n", { mode: 0o600 });
    const argv = ["ip", "netns", "exec", n.netns, "unshare", "--mount", "--propagation", "slave"];
    const script = nodeScript(ifaces.get(n.node) ?? []);
    const r = await exec(
      [...argv, "sh", "-c", script, "sh", n.socketDir, keyFile, `${n.workDir}/wireguard-go.log`],
      { env: { GOMAXPROCS: "1", LOG_LEVEL: "error" } },
    );
    if (r.code !== 0) throw new Error(`peer mesh on ${n.node}: exit ${r.code}: ${r.stderr.trim()}`);
  }));
}

/** Stops the peer's wireguard-go daemons (by PID, found in each node's namespace) and waits until their links are gone. */
export async function peerMeshDown(nodes: PeerNode[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    const pids = (await exec(["ip", "netns", "pids", n.netns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      if ((await processCmdline(pid))[0]?.endsWith("wireguard-go")) {
        try {
          Deno.kill(pid, "SIGTERM");
        } catch { /* gone */ }
      }
    }
    await until(
      `wireguard links gone in ${n.netns}`,
      async () => {
        const links = await run(["ip", "-n", n.netns, "-o", "link", "show"]);
        return /: wg-/.test(links) ? undefined : true;
      },
      30_000,
      50,
    );
  }));
}
