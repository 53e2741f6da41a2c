/**
 * The mesh's check: an all-pairs reachability matrix. Every node pings every other node's tunnel address of their
 * link (N×(N−1) pings, one shell per node running its pings in parallel), the links with persistent keepalive
 * show a live session, and — when a plan drives the mesh — the plan is Ready for its current generation.
 * Printed as a table (one row per node, ✓/✗ cells) and as JSON.
 *
 * Handshake freshness: WireGuard renews a session's keys only every 120 s (REKEY_AFTER_TIME) and drops a session
 * 180 s after its handshake (REJECT_AFTER_TIME), so a link kept alive by keepalive shows a latest handshake of up
 * to 180 s plus one keepalive interval, never "younger than the keepalive". A link passes when it has had a
 * handshake no older than {@link HANDSHAKE_BOUND_S}: its session is current.
 */
import { decodeUapiGet, UAPI_GET } from "../../src/wireguard/uapi.ts";
import { uapiCall } from "../../src/wireguard/uapi_socket.ts";
import { exec } from "../../kit/proc.ts";
import { kubectl } from "../scenario.ts";
import { type MeshNode, NAT_KEEPALIVE_SECONDS, tunnelAddress } from "./model.ts";

/** REJECT_AFTER_TIME (180 s) plus the plan's keepalive interval. */
export const HANDSHAKE_BOUND_S = 180 + NAT_KEEPALIVE_SECONDS;

/** One ping of the matrix. */
export interface MatrixCell {
  from: string;
  to: string;
  /** The tunnel address pinged (to's address on its link with from). */
  address: string;
  ok: boolean;
}

/** The latest handshake of one keepalive link. */
export interface HandshakeCheck {
  node: string;
  interfaceName: string;
  /** Seconds since the latest handshake; null when there was none. */
  ageSeconds: number | null;
  ok: boolean;
}

/** The plan's readiness. */
export interface PlanCheck {
  name: string;
  generation: number;
  observedGeneration: number | null;
  ready: boolean;
  message: string;
  ok: boolean;
}

/** A whole check. */
export interface MatrixResult {
  nodes: string[];
  cells: MatrixCell[];
  handshakes: HandshakeCheck[];
  plan?: PlanCheck;
  ok: boolean;
}

/** What the matrix needs from a running mesh. */
export interface MatrixTarget {
  nodes: MeshNode[];
  /** Node name → network namespace. */
  netns: Record<string, string>;
  /** Node name → directory of its wireguard-go UAPI sockets. */
  socketDir(node: string): string;
  /** Admin kubeconfig, namespace and name of the plan; absent for a mesh made without the operator. */
  plan?: { kubeconfig: string; namespace: string; name: string };
}

/** Which pairs to ping (default all). */
export type PairFilter = (from: MeshNode, to: MeshNode) => boolean;

/** Pings from `from` to each target, in parallel inside its namespace; returns the targets that answered. */
async function pingAll(netns: string, targets: string[]): Promise<Set<string>> {
  if (!targets.length) return new Set();
  const script = 'for t in "$@"; do (ping -n -q -c 2 -i 0.3 -W 1 "$t" >/dev/null 2>&1 && echo "$t") & done; wait';
  const r = await exec(["ip", "netns", "exec", netns, "sh", "-c", script, "sh", ...targets]);
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/** The ping matrix over the pairs `filter` selects. */
export async function pingMatrix(t: MatrixTarget, filter: PairFilter = () => true): Promise<MatrixCell[]> {
  const rows = await Promise.all(t.nodes.map(async (from) => {
    const pairs = t.nodes.filter((to) => to !== from && filter(from, to)).map((to) => ({
      to,
      address: tunnelAddress(to, from),
    }));
    const answered = await pingAll(t.netns[from.name], pairs.map((p) => p.address));
    return pairs.map((p) => ({ from: from.name, to: p.to.name, address: p.address, ok: answered.has(p.address) }));
  }));
  return rows.flat();
}

/**
 * Latest handshakes of the nodes without underlay (their links have keepalive): one entry per link to another node
 * of the mesh; a link whose device cannot be read counts as failed.
 */
export async function keepaliveHandshakes(t: MatrixTarget, now = Date.now()): Promise<HandshakeCheck[]> {
  const out: HandshakeCheck[] = [];
  for (const node of t.nodes.filter((n) => !n.hostname)) {
    const dir = t.socketDir(node.name);
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".sock")) names.push(e.name.slice(0, -5));
    } catch { /* no daemon started yet */ }
    for (const other of t.nodes.filter((o) => o !== node)) {
      const name = names.find((n) => n.startsWith(`wg-${node.name}-${other.name}-`));
      const state = name
        ? await uapiCall(name, UAPI_GET, dir, 5_000).then((r) => decodeUapiGet(name, r), () => null)
        : null;
      const last = state?.peers[0]?.lastHandshake;
      const age = last ? (now - last.getTime()) / 1000 : null;
      out.push({
        node: node.name,
        interfaceName: name ?? `wg-${node.name}-${other.name}-?`,
        ageSeconds: age === null ? null : Math.round(age),
        ok: age !== null && age <= HANDSHAKE_BOUND_S,
      });
    }
  }
  return out;
}

interface Condition {
  type: string;
  status: string;
  message?: string;
  observedGeneration?: number;
}

/** The plan's Ready condition against its current generation. */
export async function planCheck(p: NonNullable<MatrixTarget["plan"]>): Promise<PlanCheck> {
  const r = await kubectl(p.kubeconfig, ["get", "-n", p.namespace, "wireguardnetworkplan", p.name, "-o", "json"]);
  if (r.code !== 0) {
    return { name: p.name, generation: 0, observedGeneration: null, ready: false, message: r.stderr.trim(), ok: false };
  }
  const obj = JSON.parse(r.stdout);
  const generation = obj.metadata.generation as number;
  const ready = (obj.status?.conditions as Condition[] | undefined)?.find((c) => c.type === "Ready");
  const observedGeneration = (obj.status?.observedGeneration as number | undefined) ?? null;
  const current = observedGeneration === generation && ready?.observedGeneration === generation;
  const isReady = ready?.status === "True";
  return {
    name: p.name,
    generation,
    observedGeneration,
    ready: isReady,
    message: ready?.message ?? "no Ready condition",
    ok: isReady && current,
  };
}

/** One full check: matrix, keepalive handshakes, plan. */
export async function checkMesh(t: MatrixTarget, filter?: PairFilter): Promise<MatrixResult> {
  const [cells, handshakes, plan] = await Promise.all([
    pingMatrix(t, filter),
    keepaliveHandshakes(t),
    t.plan ? planCheck(t.plan) : Promise.resolve(undefined),
  ]);
  const ok = cells.every((c) => c.ok) && handshakes.every((h) => h.ok) && (plan?.ok ?? true);
  return { nodes: t.nodes.map((n) => n.name), cells, handshakes, plan, ok };
}

/** Repeats {@link checkMesh} until it passes or `timeoutMs` has passed; returns the last result. */
export async function waitForMesh(t: MatrixTarget, timeoutMs: number, filter?: PairFilter): Promise<MatrixResult> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const r = await checkMesh(t, filter);
    if (r.ok || Date.now() >= deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The matrix as a table: one row per node (pinging), one column per node (pinged), then handshakes and plan. */
export function formatMatrix(r: MatrixResult): string {
  const cell = new Map(r.cells.map((c) => [`${c.from} ${c.to}`, c.ok ? "✓" : "✗"]));
  const w = Math.max(4, ...r.nodes.map((n) => n.length));
  const pad = (s: string) => s.padEnd(w);
  const lines = [
    [pad("from\\to"), ...r.nodes.map(pad)].join(" ").trimEnd(),
    ...r.nodes.map((from) =>
      [pad(from), ...r.nodes.map((to) => pad(from === to ? "·" : cell.get(`${from} ${to}`) ?? " "))].join(" ")
        .trimEnd()
    ),
  ];
  const pings = r.cells.filter((c) => c.ok).length;
  lines.push(`pings: ${pings}/${r.cells.length} answered`);
  const bad = r.handshakes.filter((h) => !h.ok);
  lines.push(
    `keepalive handshakes: ${r.handshakes.length - bad.length}/${r.handshakes.length} within ${HANDSHAKE_BOUND_S} s` +
      (bad.length
        ? ` (stale: ${bad.map((h) => `${h.interfaceName} ${h.ageSeconds === null ? "none" : `${h.ageSeconds} s`}`)})`
        : ""),
  );
  if (r.plan) {
    const p = r.plan;
    lines.push(
      `plan ${p.name}: Ready=${p.ready} generation ${p.generation} observed ${p.observedGeneration ?? "-"} ` +
        `(${p.message}) ${p.ok ? "✓" : "✗"}`,
    );
  }
  lines.push(`matrix: ${r.ok ? "green" : "NOT green"}`);
  return lines.join("\n");
}
