/**
 * Link-level plan of a WireGuard link (pure): the minimal rtnetlink operations that bring an existing link's MTU,
 * exact address list and admin state to the desired values. Order: MTU first (IPv6 addresses need ≥ 1280), then
 * stale addresses out, missing ones in, then up.
 *
 * Kernel-generated IPv6 link-local addresses are kept (src/node/linklocal.ts; a WireGuard link has no MAC): the kernel
 * adds one to a TUN device (wireguard-go) when it comes up, with a random interface identifier; removing it would be
 * undone at the next up and is not what users mean by "exact list". Every other unlisted address is removed.
 */
import type { LinkAddress } from "../../api/addresses.ts";
import type { AddressProto } from "../../netlink/mod.ts";
import { isKernelLinkLocal } from "../linklocal.ts";
import { addressKey } from "./desired.ts";

/** The parts of an observed address the plan reads (as the netlink layer reports them; canonical IP text). */
export interface ObservedAddress {
  family: 4 | 6;
  local: string;
  peer: string | null;
  prefixlen: number;
  /** IFA_PROTO when the kernel reported one. */
  proto?: AddressProto | null;
}

/** One link-level operation. */
export type LinkOp =
  | { op: "set-mtu"; mtu: number }
  | { op: "del-address"; address: LinkAddress }
  | { op: "add-address"; address: LinkAddress }
  | { op: "set-up" };

/** The observed link state the plan reads. */
export interface ObservedLink {
  mtu: number;
  up: boolean;
  addresses: readonly ObservedAddress[];
}

/** The address in spec form. */
export function linkAddressOf(a: ObservedAddress): LinkAddress {
  return a.peer === null
    ? { family: a.family, local: a.local, prefixlen: a.prefixlen }
    : { family: a.family, local: a.local, peer: a.peer, prefixlen: a.prefixlen };
}

/** Operations that turn `actual` into `{mtu, addresses, up: true}`; `[]` when they match. */
export function planLink(desired: { mtu: number; addresses: readonly LinkAddress[] }, actual: ObservedLink): LinkOp[] {
  const ops: LinkOp[] = [];
  if (actual.mtu !== desired.mtu) ops.push({ op: "set-mtu", mtu: desired.mtu });
  const want = new Map(desired.addresses.map((a) => [addressKey(a), a]));
  const have = new Set<string>();
  for (const o of actual.addresses) {
    const a = linkAddressOf(o);
    const k = addressKey(a);
    have.add(k);
    if (!want.has(k) && !isKernelLinkLocal(o, null)) ops.push({ op: "del-address", address: a });
  }
  for (const [k, a] of want) if (!have.has(k)) ops.push({ op: "add-address", address: a });
  if (!actual.up) ops.push({ op: "set-up" });
  return ops;
}

/** A log- and Event-friendly text of one operation. */
export function describeLinkOp(op: LinkOp): string {
  switch (op.op) {
    case "set-mtu":
      return `set mtu ${op.mtu}`;
    case "set-up":
      return "set up";
    case "add-address":
      return `add address ${addressKey(op.address)}`;
    case "del-address":
      return `remove address ${addressKey(op.address)}`;
  }
}
