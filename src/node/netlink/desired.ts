/**
 * NetlinkInterface spec → desired kernel state (pure). One or two link ends (veth: local + peer), each with its
 * placement, name, MTU, admin state and exact address list, plus the kind-specific parameters: bridge slaves,
 * vxlan parameters (all of them, `local` included — the reference ignored it: docs/reference.md#vxlan-local), vlan id/parent, macvlan
 * mode/parent. Bad input becomes a {@link SpecError} naming the field.
 */
import { AddressError, type LinkAddress, parseNetlinkAddress } from "../../api/addresses.ts";
import type { NetlinkAddress, NetlinkInterfaceSpec } from "../../api/netlink_interface.ts";
import { type Placement, placementOf, vethEnds } from "../../api/placement.ts";
import type { MacvlanMode, VxlanParams } from "../../netlink/mod.ts";
import { isMulticast, parseIp } from "../../netlink/ip.ts";

/** A spec the controller cannot act on; `field` is the spec path. */
export class SpecError extends Error {
  override name = "SpecError";
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
  }
}

/** One link end as wanted. */
export interface DesiredEnd {
  /** `main` for single-link kinds; `local`/`peer` for veth. */
  role: "main" | "local" | "peer";
  name: string;
  placement: Placement;
  /** Managed only when set. */
  mtu?: number;
  up: boolean;
  addresses: LinkAddress[];
}

/** Kind-specific parameters. vxlan, vlan and macvlan parameters are immutable (a change recreates the link). */
export type DesiredParams =
  | { kind: "dummy" }
  | { kind: "veth" }
  /** `slaves` undefined: slaves are not managed; [] releases every slave. */
  | { kind: "bridge"; slaves?: string[] }
  /** `vxlan.dev` is a link name in the same namespace. */
  | { kind: "vxlan"; vxlan: VxlanParams & { dev?: string } }
  | { kind: "vlan"; parent: string; vlanId: number; protocol: "802.1Q" | "802.1ad" }
  | { kind: "macvlan"; parent: string; mode: MacvlanMode };

/** The whole desired state of one NetlinkInterface. */
export interface DesiredInterface {
  params: DesiredParams;
  /** One end, or two for veth (local first). */
  ends: DesiredEnd[];
}

function addresses(list: NetlinkAddress[] | undefined, field: string): LinkAddress[] {
  return (list ?? []).map((a, i) => {
    try {
      const la = parseNetlinkAddress(a, `${field}[${i}]`);
      // canonical text, so "FE80::1" and "fe80::1" compare equal to what the kernel reports
      const local = parseIp(la.local, "address", `${field}[${i}]`).address;
      const peer = la.peer === undefined ? undefined : parseIp(la.peer, "address", `${field}[${i}]`).address;
      return peer === undefined ? { ...la, local } : { ...la, local, peer };
    } catch (e) {
      if (e instanceof AddressError) throw new SpecError(e.field, e.message.slice(e.field.length + 2));
      throw new SpecError(`${field}[${i}]`, (e as Error).message);
    }
  });
}

function ip(text: string, field: string): { address: string; bytes: Uint8Array } {
  try {
    const p = parseIp(text, "parse", field);
    if (p.hasPrefix) throw new Error("no prefix length allowed");
    return p;
  } catch (e) {
    throw new SpecError(field, `"${text}": ${(e as Error).message}`);
  }
}

function vxlanParams(spec: NetlinkInterfaceSpec): VxlanParams & { dev?: string } {
  const v = spec.vxlan;
  if (!v) throw new SpecError("spec.vxlan", "required when spec.type is vxlan");
  const out: VxlanParams & { dev?: string } = { vni: v.vni, learning: !(v.noLearning ?? false) };
  if (v.local) out.local = ip(v.local, "spec.vxlan.local").address;
  if (v.group) {
    const g = ip(v.group, "spec.vxlan.group");
    // a unicast "group" is the single remote VTEP, as in the reference
    if (isMulticast(g.bytes)) out.group = g.address;
    else out.remote = g.address;
  }
  if (v.dev) out.dev = v.dev;
  if (v.port) out.port = v.port;
  if (v.ttl !== undefined) out.ttl = v.ttl;
  if (v.tos !== undefined) out.tos = v.tos;
  out.proxy = v.proxyARP ?? false;
  if (v.noAge) out.ageing = 0;
  if (v.portRange !== undefined) {
    if (v.portRange.length !== 2 || v.portRange[0] > v.portRange[1]) {
      throw new SpecError("spec.vxlan.portRange", "must be exactly [low, high] with low <= high");
    }
    out.portRange = { low: v.portRange[0], high: v.portRange[1] };
  }
  return out;
}

function params(spec: NetlinkInterfaceSpec): DesiredParams {
  switch (spec.type) {
    case "dummy":
    case "veth":
      return { kind: spec.type };
    case "bridge":
      return { kind: "bridge", slaves: spec.bridge?.slaves ? [...spec.bridge.slaves].sort() : undefined };
    case "vxlan":
      return { kind: "vxlan", vxlan: vxlanParams(spec) };
    case "vlan":
      if (!spec.vlan) throw new SpecError("spec.vlan", "required when spec.type is vlan");
      return { kind: "vlan", parent: spec.vlan.link, vlanId: spec.vlan.id, protocol: spec.vlan.protocol ?? "802.1Q" };
    case "macvlan":
      if (!spec.macvlan) throw new SpecError("spec.macvlan", "required when spec.type is macvlan");
      return { kind: "macvlan", parent: spec.macvlan.link, mode: spec.macvlan.mode ?? "bridge" };
    default:
      throw new SpecError("spec.type", `unsupported NetlinkInterface type "${(spec as { type: string }).type}"`);
  }
}

/** The desired state of a NetlinkInterface spec of an object in `namespace`. Throws {@link SpecError}. */
export function desiredInterface(spec: NetlinkInterfaceSpec, namespace: string): DesiredInterface {
  if (!spec?.interfaceName) throw new SpecError("spec.interfaceName", "required");
  const p = params(spec);
  const up = spec.up ?? true;
  if (p.kind !== "veth") {
    return {
      params: p,
      ends: [{
        role: "main",
        name: spec.interfaceName,
        placement: placementOf(spec.container, namespace),
        mtu: spec.mtu,
        up,
        addresses: addresses(spec.addresses, "spec.addresses"),
      }],
    };
  }
  const { local, peer } = vethEnds(spec, namespace);
  const localField = spec.veth?.local?.addresses ? "spec.veth.local.addresses" : "spec.addresses";
  return {
    params: p,
    ends: [
      { role: "local", name: local.interfaceName, placement: local.placement, mtu: spec.mtu, up, addresses: [] },
      { role: "peer", name: peer.interfaceName, placement: peer.placement, mtu: spec.mtu, up, addresses: [] },
    ].map((e, i) => ({
      ...e,
      role: e.role as "local" | "peer",
      addresses: i === 0
        ? addresses(local.addresses, localField)
        : addresses(peer.addresses, "spec.veth.peer.addresses"),
    })),
  };
}
