/** NetlinkInterface status from one reconcile pass (pure): observed facts, conditions, observedGeneration. */
import { formatLinkAddress } from "../../api/addresses.ts";
import { MAX_OBSERVED, type NetlinkStatus } from "../../api/common.ts";
import type { ConditionReason } from "../../api/constants.ts";
import type { NetlinkInterfaceStatus } from "../../api/netlink_interface.ts";
import type { Address, Link } from "../../netlink/mod.ts";
import type { ObservedEnd } from "../../node/netlink/observe.ts";
import { conditionsFor, type Outcome, problemsMessage } from "../conditions.ts";

const IFF = { UP: 0x1, BROADCAST: 0x2, LOOPBACK: 0x8, POINTOPOINT: 0x10, RUNNING: 0x40, MULTICAST: 0x1000 };
const FLAG_ORDER = ["UP", "BROADCAST", "POINTOPOINT", "MULTICAST", "RUNNING", "LOOPBACK"] as const;
/** Go net.Flags bits as the reference reports them. */
const GO_FLAGS: [number, number][] = [
  [IFF.UP, 1],
  [IFF.BROADCAST, 2],
  [IFF.LOOPBACK, 4],
  [IFF.POINTOPOINT, 8],
  [IFF.MULTICAST, 16],
  [IFF.RUNNING, 32],
];

/** Status flag names of a link, in the reference's order. */
export function flagNames(flags: number): (typeof FLAG_ORDER)[number][] {
  return FLAG_ORDER.filter((f) => (flags & IFF[f]) !== 0);
}

/** Status text of a kernel address. */
export function addressText(a: Address): string {
  return formatLinkAddress({ family: a.family, local: a.local, peer: a.peer ?? undefined, prefixlen: a.prefixlen });
}

const OPER = new Set(["unknown", "not-present", "down", "lower-layer-down", "testing", "dormant", "up"]);
type OperState = NonNullable<NetlinkInterfaceStatus["operState"]>;

function operState(l: Link): OperState {
  const s = l.operstate.toLowerCase().replace(/_/g, "-");
  return (OPER.has(s) ? s : "unknown") as OperState;
}

function netlinkStatus(l: Link): NetlinkStatus {
  const s: NetlinkStatus = {
    index: l.index,
    name: l.name,
    mtu: l.mtu,
    rawFlags: l.flags,
    flags: GO_FLAGS.reduce((acc, [iff, go]) => (l.flags & iff ? acc | go : acc), 0),
  };
  if (l.kind) s.kind = l.kind;
  if (l.mac) s.hardwareAddr = l.mac;
  if (l.master !== null) s.masterIndex = l.master;
  if (l.link !== null && l.linkNetnsId === null) s.parentIndex = l.link;
  if (l.alias) s.alias = l.alias;
  return s;
}

/** What the pass found wrong, if anything (the first problem decides the reason). */
export interface StatusProblem {
  reason: ConditionReason;
  message: string;
}

/** Text of the Degraded condition for `problems` (in order, bounded: see {@link problemsMessage}). */
function degradedMessage(problems: StatusProblem[]): string {
  return problemsMessage(problems.map((x) => x.message));
}

/** True when `status` already reports exactly `problems` as Degraded (so they were announced before; pure). */
export function problemsShown(status: NetlinkInterfaceStatus | undefined, problems: StatusProblem[]): boolean {
  const d = status?.conditions?.find((c) => c.type === "Degraded");
  return problems.length > 0 && d?.status === "True" && d.reason === problems[0].reason &&
    d.message === degradedMessage(problems);
}

/** Inputs of {@link buildStatus}. */
export interface StatusInput {
  previous: NetlinkInterfaceStatus | undefined;
  generation: number;
  nodename: string;
  hostname: string;
  /** Observed ends (local/main first); empty when the placement could not be resolved. */
  ends: ObservedEnd[];
  problems: StatusProblem[];
  now: Date;
}

/** The status to write: facts of the main/local end, veth peer and bridge slaves, and the three conditions. */
export function buildStatus(i: StatusInput): NetlinkInterfaceStatus {
  const converged = i.problems.length === 0 && i.ends.length > 0 && i.ends.every((e) => e.link !== null);
  const s: NetlinkInterfaceStatus = { hostname: i.hostname, nodename: i.nodename };
  const prevGen = i.previous?.observedGeneration;
  if (converged) s.observedGeneration = i.generation;
  else if (prevGen !== undefined) s.observedGeneration = prevGen;
  const [main, peer] = i.ends;
  if (main?.link) {
    s.mtu = main.link.mtu;
    s.operState = operState(main.link);
    s.flags = flagNames(main.link.flags);
    s.addresses = main.addresses.slice(0, MAX_OBSERVED).map(addressText);
    s.netlink = netlinkStatus(main.link);
    if (main.link.kind === "bridge") s.bridge = { enslavedLinks: main.slaves.slice(0, MAX_OBSERVED) };
  }
  if (peer?.link) {
    s.veth = {
      peer: {
        interfaceName: peer.name,
        addresses: peer.addresses.slice(0, MAX_OBSERVED).map(addressText),
        mtu: peer.link.mtu,
        flags: flagNames(peer.link.flags),
        operState: operState(peer.link),
      },
    };
  }
  const p = i.problems[0];
  const outcome: Outcome = converged
    ? { kind: "converged" }
    : p
    ? { kind: "degraded", reason: p.reason, message: degradedMessage(i.problems) }
    : { kind: "progressing", message: "links missing" };
  s.conditions = conditionsFor(i.previous?.conditions, outcome, i.generation, i.now);
  return s;
}
