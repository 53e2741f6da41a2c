/**
 * Executor: brings the kernel to a {@link DesiredInterface} with the minimal operations the pure diffs call for,
 * touching only links that carry this object's ownership mark. A link dn42op did not create is adopted (when it
 * already matches exactly), enslaved into or released from a bridge only when an administrator opted in for this
 * object (adoption.ts); otherwise that is a LinkConflict problem naming the link. In dry-run mode it computes and
 * reports the same actions but performs none.
 */
import type { LinkAddress } from "../../api/addresses.ts";
import {
  addAddress,
  type AddressSpec,
  createLink,
  deleteAddress,
  deleteLink,
  Errno,
  getLink,
  type LinkSpec,
  NetlinkError,
  setLink,
} from "../../netlink/mod.ts";
import { type AgentIdentity, classifyLink, isOwn, MANAGED_GROUP, ownerMark, type Ownership } from "../ownership.ts";
import { type Adoption, mayChange, notOursMessage } from "../adoption.ts";
import type { NsTarget } from "../placement.ts";
import type { DesiredEnd, DesiredInterface, DesiredParams } from "./desired.ts";
import { diffAddresses, diffSlaves, type LinkPlan, type ParamRefs, planLink } from "./diff.ts";
import { type ObservedEnd, observeEnd } from "./observe.ts";

/** A notable change (becomes a log line and, for create/recreate/adopt/heal, an Event). */
export interface Action {
  verb: "create" | "recreate" | "adopt" | "set" | "address-add" | "address-del" | "enslave" | "release" | "delete";
  link: string;
  detail: string;
}

/** Something that keeps the object from converging. */
export interface Problem {
  reason: "LinkConflict" | "DependencyNotFound" | "KernelError" | "KindUnsupported";
  message: string;
}

/**
 * The problem a kernel refusal of a link creation amounts to (pure). EOPNOTSUPP from RTM_NEWLINK means the kernel
 * has no such link kind (not built, or its module not loaded): KindUnsupported, naming spec.type. Anything else the
 * kernel refuses is a KernelError naming the operation and the errno.
 */
export function creationProblem(kind: string, where: string, e: NetlinkError): Problem {
  if (e.errno === Errno.EOPNOTSUPP) {
    return {
      reason: "KindUnsupported",
      message: `spec.type "${kind}": the kernel in ${where} does not support link kind ${kind} (${e.message}); ` +
        `retrying with backoff in case its module gets loaded`,
    };
  }
  return { reason: "KernelError", message: `the kernel in ${where} refused to create the link: ${e.message}` };
}

/** Outcome of one pass. */
export interface ApplyResult {
  actions: Action[];
  problems: Problem[];
  /** Every end as observed after the pass (for status). */
  ends: ObservedEnd[];
}

/** Per-pass settings. */
export interface ApplyOptions {
  /** Owner key `namespace/name`. */
  key: string;
  /** The agent whose mark the links get (kind `nl`). */
  agent: AgentIdentity;
  dryRun: boolean;
  /** Links dn42op did not create that an administrator lets this object take over (default: none). */
  adoption?: Adoption;
  /**
   * Runs after a pass that changed something, right before the final observation (the drift monitor's barrier,
   * src/node/monitor.ts: the events of the changes are then covered by that observation).
   */
  settle?: () => Promise<void>;
}

/** An address in the typed netlink API's shape. */
export function addressSpec(a: LinkAddress): AddressSpec {
  return a.peer === undefined ? { local: `${a.local}/${a.prefixlen}` } : {
    local: a.local,
    peer: `${a.peer}/${a.prefixlen}`,
  };
}

class Pass {
  readonly actions: Action[] = [];
  readonly problems: Problem[] = [];
  constructor(readonly o: ApplyOptions) {}

  async do(a: Action, fn: () => Promise<void>): Promise<void> {
    this.actions.push(a);
    if (!this.o.dryRun) await fn();
  }

  get mark(): string {
    return ownerMark(this.o.agent, this.o.key);
  }

  /**
   * Whether `link` (in `where`) may be changed for `what`; when not, records the refusal as a LinkConflict problem.
   */
  may(what: string, link: { name: string; alias: string | null }, where: string): boolean {
    if (mayChange(link, this.o.agent, this.o.adoption ?? { key: this.o.key, links: new Set() })) return true;
    this.problems.push({ reason: "LinkConflict", message: notOursMessage(what, link.name, where, this.o.key) });
    return false;
  }
}

/** Whether an end's planned adoption of an unmarked link is allowed (an unfinished one of ours needs no opt-in). */
function mayAdopt(p: Pass, own: Ownership, plan: LinkPlan, obs: ObservedEnd): boolean {
  if (own !== "unmarked" || plan.action !== "update" || !plan.adopt) return true;
  return p.may("adopt", obs.link!, obs.target.label);
}

/**
 * Creates a link and then records `announce` (absent for a recreation, whose deletion is already recorded); a dry run
 * only records it. A kernel refusal (other than "exists"/"not found", which the next pass sorts out) becomes a
 * problem of this pass instead of an exception. False when no link was created.
 */
async function create(p: Pass, t: NsTarget, spec: LinkSpec, announce?: Action): Promise<boolean> {
  if (!p.o.dryRun) {
    try {
      await createLink(t.ns, spec);
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.alreadyExists || e.notFound) throw e;
      p.problems.push(creationProblem(spec.kind, t.label, e));
      return false;
    }
  }
  if (announce) p.actions.push(announce);
  return !p.o.dryRun;
}

async function indexOf(t: NsTarget, name: string | undefined): Promise<number | null | undefined> {
  if (name === undefined) return undefined;
  return (await getLink(t.ns, name))?.index ?? null;
}

/** Resolves vxlan dev / vlan+macvlan parent; a missing one is a DependencyNotFound problem. */
async function paramRefs(p: Pass, params: DesiredParams, t: NsTarget, end: string): Promise<ParamRefs | null> {
  const dep = params.kind === "vxlan"
    ? params.vxlan.dev
    : params.kind === "vlan" || params.kind === "macvlan"
    ? params.parent
    : undefined;
  const idx = await indexOf(t, dep);
  if (idx === null) {
    p.problems.push({
      reason: "DependencyNotFound",
      message: `link ${dep} (needed by ${end}) not found in ${t.label}`,
    });
    return null;
  }
  return params.kind === "vxlan" ? { dev: idx ?? null } : idx === undefined ? {} : { parent: idx };
}

function createSpec(
  p: Pass,
  params: DesiredParams,
  end: DesiredEnd,
  peer?: { end: DesiredEnd; t?: NsTarget },
): LinkSpec {
  const base = { name: end.name, mtu: end.mtu, up: end.up, alias: p.mark, group: MANAGED_GROUP };
  switch (params.kind) {
    case "veth": {
      const e = peer!.end;
      return {
        ...base,
        kind: "veth",
        peer: { name: e.name, mtu: e.mtu, up: e.up, alias: p.mark, group: MANAGED_GROUP, netns: peer!.t?.ns },
      } satisfies LinkSpec;
    }
    case "vxlan":
      return { ...base, kind: "vxlan", vxlan: params.vxlan } satisfies LinkSpec;
    case "vlan":
      return {
        ...base,
        kind: "vlan",
        parent: params.parent,
        vlanId: params.vlanId,
        protocol: params.protocol,
      } satisfies LinkSpec;
    case "macvlan":
      return { ...base, kind: "macvlan", parent: params.parent, mode: params.mode } satisfies LinkSpec;
    default:
      return { ...base, kind: params.kind } satisfies LinkSpec;
  }
}

async function convergeSlaves(p: Pass, want: string[] | undefined, obs: ObservedEnd, master: number) {
  const { ns, label } = obs.target;
  const { enslave, release } = diffSlaves(want, obs.slaves);
  for (const s of enslave) {
    const slave = await getLink(ns, s);
    if (slave === null) {
      p.problems.push({ reason: "DependencyNotFound", message: `bridge slave ${s} not found in ${label}` });
      continue;
    }
    if (!p.may(`enslave into ${obs.name}`, slave, label)) continue;
    await p.do({ verb: "enslave", link: obs.name, detail: s }, () => setLink(ns, s, { master }));
  }
  for (const s of release) {
    const slave = await getLink(ns, s);
    if (slave === null || !p.may(`release from ${obs.name}`, slave, label)) continue;
    await p.do({ verb: "release", link: obs.name, detail: s }, () => setLink(ns, s, { master: null }));
  }
}

/** Applies MTU/state/mark changes, the exact address list and (bridges) the exact slave list on an existing end. */
async function converge(p: Pass, end: DesiredEnd, params: DesiredParams, obs: ObservedEnd, plan: LinkPlan) {
  const { ns } = obs.target;
  const link = obs.link!;
  if (plan.action === "update" && plan.adopt) {
    await p.do(
      { verb: "adopt", link: end.name, detail: `matches the spec; marking it ${p.mark}` },
      () => setLink(ns, link.index, { alias: p.mark, group: MANAGED_GROUP }),
    );
  }
  if (plan.action === "update" && plan.remark) {
    await p.do(
      { verb: "set", link: end.name, detail: `mark ${link.alias} → ${p.mark}` },
      () => setLink(ns, link.index, { alias: p.mark, group: MANAGED_GROUP }),
    );
  }
  const changes = plan.action === "update" ? plan.changes : {};
  if (params.kind === "bridge") await convergeSlaves(p, params.slaves, obs, link.index);
  // A bridge's MTU follows its ports until set explicitly: compare after the slave changes.
  const mtuNow = params.kind === "bridge" && !p.o.dryRun ? (await getLink(ns, link.index))?.mtu : link.mtu;
  if (end.mtu !== undefined && mtuNow !== end.mtu) {
    await p.do(
      { verb: "set", link: end.name, detail: `mtu ${mtuNow} → ${end.mtu}` },
      () => setLink(ns, link.index, { mtu: end.mtu }),
    );
  }
  const { add, remove } = diffAddresses(end.addresses, obs.addresses, link.mac);
  for (const a of remove) {
    const spec = a.peer ? { local: a.local, peer: `${a.peer}/${a.prefixlen}` } : { local: `${a.local}/${a.prefixlen}` };
    await p.do(
      { verb: "address-del", link: end.name, detail: spec.peer ? `${a.local} peer ${spec.peer}` : spec.local },
      () => deleteAddress(ns, link.index, spec),
    );
  }
  for (const a of add) {
    const spec = addressSpec(a);
    await p.do(
      { verb: "address-add", link: end.name, detail: spec.peer ? `${a.local} peer ${spec.peer}` : spec.local },
      () => addAddress(ns, link.index, spec),
    );
  }
  if (changes.up !== undefined) {
    await p.do(
      { verb: "set", link: end.name, detail: changes.up ? "up" : "down" },
      () => setLink(ns, link.index, { up: changes.up }),
    );
  }
}

function sameAddresses(end: DesiredEnd, obs: ObservedEnd): boolean {
  if (!obs.link) return false;
  const d = diffAddresses(end.addresses, obs.addresses, obs.link.mac);
  return d.add.length === 0 && d.remove.length === 0;
}

async function applySingle(p: Pass, want: DesiredInterface, t: NsTarget): Promise<void> {
  const end = want.ends[0];
  const obs = await observeEnd(t, end.name, want.params.kind === "bridge");
  const refs = await paramRefs(p, want.params, t, end.name);
  if (!refs) return;
  const own = classifyLink(obs.link, p.o.agent, p.o.key);
  const plan = planLink(end, want.params, obs.link, own, { refs, addressesMatch: sameAddresses(end, obs) });
  if (plan.action === "conflict") {
    p.problems.push({ reason: "LinkConflict", message: plan.reason });
    return;
  }
  if (!mayAdopt(p, own, plan, obs)) return;
  if (plan.action === "recreate") {
    await p.do({ verb: "recreate", link: end.name, detail: plan.reason }, () => deleteLink(t.ns, obs.link!.index));
  }
  if (plan.action === "create" || plan.action === "recreate") {
    const announce: Action | undefined = plan.action === "create"
      ? { verb: "create", link: end.name, detail: `${want.params.kind} in ${t.label}` }
      : undefined;
    if (!(await create(p, t, createSpec(p, want.params, end), announce))) return;
    const fresh = await observeEnd(t, end.name, want.params.kind === "bridge");
    await converge(p, end, want.params, fresh, { action: "update", adopt: false, changes: {} });
    return;
  }
  await converge(p, end, want.params, obs, plan);
}

async function applyVeth(p: Pass, want: DesiredInterface, tl: NsTarget, tp: NsTarget): Promise<void> {
  const [le, pe] = want.ends;
  const [lo, po] = await Promise.all([observeEnd(tl, le.name), observeEnd(tp, pe.name)]);
  const lOwn = classifyLink(lo.link, p.o.agent, p.o.key);
  let pOwn = classifyLink(po.link, p.o.agent, p.o.key);
  // The peer gets its mark (and group) in a second request: a peer left unmarked by an interrupted creation, next
  // to our local end, is ours.
  if (pOwn === "unmarked" && po.link?.kind === "veth" && isOwn(lOwn)) {
    pOwn = "unfinished";
  }
  for (const [own, obs] of [[lOwn, lo], [pOwn, po]] as const) {
    if (own === "other-owner" || (own === "unmarked" && obs.link?.kind !== "veth")) {
      p.problems.push({ reason: "LinkConflict", message: `link ${obs.name} in ${obs.target.label} is not ours` });
      return;
    }
  }
  const lPlan = planLink(le, want.params, lo.link, lOwn, { addressesMatch: sameAddresses(le, lo) });
  const pPlan = planLink(pe, want.params, po.link, pOwn, { addressesMatch: sameAddresses(pe, po) });
  const broken = (lo.link === null) !== (po.link === null);
  if (lPlan.action === "conflict" || pPlan.action === "conflict") {
    p.problems.push({
      reason: "LinkConflict",
      message: lPlan.action === "conflict" ? lPlan.reason : (pPlan as { reason: string }).reason,
    });
    return;
  }
  if (!mayAdopt(p, lOwn, lPlan, lo) || !mayAdopt(p, pOwn, pPlan, po)) return;
  if (broken) {
    // One end vanished (deleted with a move, or moved away): the other end belongs to a different pair now.
    const left = lo.link ? lo : po;
    const own = lo.link ? lOwn : pOwn;
    if (!isOwn(own)) {
      p.problems.push({ reason: "LinkConflict", message: `link ${left.name} in ${left.target.label} is not ours` });
      return;
    }
    await p.do(
      { verb: "recreate", link: le.name, detail: `${left === lo ? pe.name : le.name} is missing; recreating the pair` },
      () => deleteLink(left.target.ns, left.link!.index),
    );
  }
  if (lo.link === null || po.link === null) {
    const announce: Action | undefined = broken
      ? undefined
      : { verb: "create", link: le.name, detail: `veth ${le.name} (${tl.label}) ↔ ${pe.name} (${tp.label})` };
    const spec = createSpec(p, want.params, le, { end: pe, t: tp.id === tl.id ? undefined : tp });
    if (!(await create(p, tl, spec, announce))) return;
    const [l2, p2] = await Promise.all([observeEnd(tl, le.name), observeEnd(tp, pe.name)]);
    await converge(p, le, want.params, l2, { action: "update", adopt: false, changes: {} });
    await converge(p, pe, want.params, p2, { action: "update", adopt: false, changes: {} });
    return;
  }
  await converge(p, le, want.params, lo, lPlan);
  await converge(p, pe, want.params, po, pPlan);
}

/**
 * One reconcile pass for a NetlinkInterface. `targets` are the resolved namespaces of `want.ends` (same order).
 * Returns what was done (or, in dry-run mode, what would be done), the problems met, and the observed ends.
 */
export async function applyInterface(
  want: DesiredInterface,
  targets: NsTarget[],
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const p = new Pass(opts);
  if (want.params.kind === "veth") await applyVeth(p, want, targets[0], targets[1]);
  else await applySingle(p, want, targets[0]);
  if (p.actions.length && !opts.dryRun) await opts.settle?.();
  const ends = await Promise.all(
    want.ends.map((e, i) => observeEnd(targets[i], e.name, want.params.kind === "bridge")),
  );
  return { actions: p.actions, problems: p.problems, ends };
}
