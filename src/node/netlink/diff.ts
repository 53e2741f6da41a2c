/**
 * Desired vs observed link state → the minimal changes (pure; table-tested in tests/node/netlink/diff_test.ts).
 *
 * Address lists are exact except for the kernel's own IPv6 link-local addresses (src/node/linklocal.ts).
 */
import type { LinkAddress } from "../../api/addresses.ts";
import type { Address, Link, VxlanInfo } from "../../netlink/mod.ts";
import { isKernelLinkLocal } from "../linklocal.ts";
import type { Ownership } from "../ownership.ts";
import type { DesiredEnd, DesiredParams } from "./desired.ts";

/** Comparison key of an address: local, peer and prefix length. */
export function addressKey(a: { local: string; peer?: string | null; prefixlen: number }): string {
  return `${a.local}|${a.peer ?? ""}|${a.prefixlen}`;
}

/** Addresses to add and to remove so that `have` equals `want` (kernel link-locals excepted). */
export function diffAddresses(
  want: readonly LinkAddress[],
  have: readonly Address[],
  mac: string | null,
): { add: LinkAddress[]; remove: Address[] } {
  const wanted = new Set(want.map(addressKey));
  const present = new Set(have.map(addressKey));
  return {
    add: want.filter((a) => !present.has(addressKey(a))),
    remove: have.filter((a) => !wanted.has(addressKey(a)) && !isKernelLinkLocal(a, mac)),
  };
}

/** Slaves to enslave and to release; `want` undefined means slaves are not managed. */
export function diffSlaves(
  want: readonly string[] | undefined,
  have: readonly string[],
): { enslave: string[]; release: string[] } {
  if (want === undefined) return { enslave: [], release: [] };
  const w = new Set(want), h = new Set(have);
  return { enslave: want.filter((n) => !h.has(n)), release: have.filter((n) => !w.has(n)).sort() };
}

/** Kernel defaults for parameters a spec leaves unset (compared so that "unset" really means default). */
const VXLAN_DEFAULT_AGEING = 300;

/** Names of the vxlan parameters that differ; `devIndex` is the wanted underlay's ifindex (null: none wanted). */
export function vxlanDifferences(want: DesiredParams & { kind: "vxlan" }, have: VxlanInfo, devIndex: number | null) {
  const v = want.vxlan;
  const out: string[] = [];
  const cmp = (name: string, w: unknown, h: unknown) => {
    if (w !== h) out.push(`${name} ${h ?? "unset"} → ${w ?? "unset"}`);
  };
  cmp("vni", v.vni, have.vni);
  cmp("local", v.local ?? null, have.local);
  cmp("group", v.group ?? null, have.group);
  cmp("remote", v.remote ?? null, have.remote);
  cmp("dev", devIndex, have.dev);
  if (v.port !== undefined) cmp("port", v.port, have.port);
  cmp("learning", v.learning ?? true, have.learning ?? true);
  if (v.ttl !== undefined) cmp("ttl", v.ttl, have.ttl ?? 0);
  if (v.tos !== undefined) cmp("tos", v.tos, have.tos ?? 0);
  cmp("proxy", v.proxy ?? false, have.proxy ?? false);
  cmp("ageing", v.ageing ?? VXLAN_DEFAULT_AGEING, have.ageing ?? VXLAN_DEFAULT_AGEING);
  if (v.portRange !== undefined) {
    const h = have.portRange;
    cmp("portRange", `${v.portRange.low}-${v.portRange.high}`, h ? `${h.low}-${h.high}` : null);
  }
  return out;
}

/** ifindexes of the links a kind refers to in the end's namespace (null: not wanted or missing). */
export interface ParamRefs {
  /** vxlan underlay. */
  dev?: number | null;
  /** vlan / macvlan parent. */
  parent?: number | null;
}

/** Differences in kind and immutable parameters (each needs the link recreated). */
export function immutableDifferences(params: DesiredParams, have: Link, refs: ParamRefs = {}): string[] {
  if (have.kind !== params.kind) return [`kind ${have.kind ?? "none"} → ${params.kind}`];
  switch (params.kind) {
    case "vxlan":
      return have.vxlan ? vxlanDifferences(params, have.vxlan, refs.dev ?? null) : ["vxlan parameters unreadable"];
    case "vlan": {
      const out: string[] = [];
      if (have.vlan?.id !== params.vlanId) out.push(`vlan id ${have.vlan?.id} → ${params.vlanId}`);
      if (have.vlan?.protocol !== params.protocol) out.push(`protocol ${have.vlan?.protocol} → ${params.protocol}`);
      if (refs.parent !== undefined && have.link !== refs.parent) out.push(`parent → ${params.parent}`);
      return out;
    }
    case "macvlan": {
      const out: string[] = [];
      if (have.macvlan?.mode !== params.mode) out.push(`mode ${have.macvlan?.mode} → ${params.mode}`);
      if (refs.parent !== undefined && have.link !== refs.parent) out.push(`parent → ${params.parent}`);
      return out;
    }
    default:
      return [];
  }
}

/** Mutable link attributes to change (MTU only when wanted). */
export function linkChanges(end: Pick<DesiredEnd, "mtu" | "up">, have: Link): { mtu?: number; up?: boolean } {
  const ch: { mtu?: number; up?: boolean } = {};
  if (end.mtu !== undefined && have.mtu !== end.mtu) ch.mtu = end.mtu;
  if (have.up !== end.up) ch.up = end.up;
  return ch;
}

/** What to do with one link. */
export type LinkPlan =
  | { action: "create" }
  | { action: "recreate"; reason: string }
  | { action: "conflict"; reason: string }
  | { action: "update"; adopt: boolean; remark?: boolean; changes: { mtu?: number; up?: boolean } };

/**
 * The plan for one link end. `ownership` is the link's relation to the object (see ownership.ts);
 * `addressesMatch` tells whether its address list already equals the wanted one (adoption needs an exact match).
 */
export function planLink(
  end: DesiredEnd,
  params: DesiredParams,
  have: Link | null,
  ownership: Ownership,
  opts: { refs?: ParamRefs; addressesMatch?: boolean } = {},
): LinkPlan {
  if (!have || ownership === "absent") return { action: "create" };
  if (ownership === "other-owner") {
    return { action: "conflict", reason: `link ${end.name} is managed for another object (${have.alias})` };
  }
  const diffs = immutableDifferences(params, have, opts.refs);
  const changes = linkChanges(end, have);
  if (ownership === "unmarked") {
    const exact = diffs.length === 0 && Object.keys(changes).length === 0 && (opts.addressesMatch ?? false);
    if (exact) return { action: "update", adopt: true, changes };
    const why = diffs.length ? diffs.join(", ") : Object.keys(changes).length ? "mtu/state differ" : "addresses differ";
    return { action: "conflict", reason: `an unmanaged link ${end.name} exists and differs from the spec (${why})` };
  }
  if (diffs.length) return { action: "recreate", reason: diffs.join(", ") };
  if (ownership === "legacy") return { action: "update", adopt: false, remark: true, changes };
  return { action: "update", adopt: ownership === "unfinished", changes };
}
