/**
 * Ownership marks on the links the node agents manage (shared by wg-controller and nl-controller), and the pure rules
 * that decide from a mark whether a link is this agent's and whether a sweep may delete it.
 *
 * A managed link carries:
 *   - IFLA_IFALIAS `dn42op:<kind>:<node>:<scope>:<namespace>/<name>`: which agent made it (kind, `-nodename`, the
 *     watched namespace `-namespace`, `*` for all) and for which object. Several agents share network namespaces
 *     (the lab's lax1 and lax2 both put links into agent2; installs with another `-namespace` on the same host), so a
 *     mark must say whose it is, not only which object it serves. The alias survives moves between namespaces and
 *     restarts of the agent. When that text would exceed the kernel's 255 bytes (or the node name contains `:`, `/`,
 *     `#` or whitespace), the mark is `dn42op:<kind>:#<tag>:<digest>`: tag = first 16 hex digits of
 *     sha256(`<kind>:<node>:<scope>`) proves the agent without knowing the object, digest = sha256 hex of
 *     `<kind>:<node>:<scope>:<namespace>/<name>` proves the object when given its key.
 *   - link group {@link MANAGED_GROUP}, so all managed links of a namespace can be torn down with one request.
 *
 * Marks of the earlier format (`dn42op:<kind>:<namespace>/<name>`, `dn42op:<kind>:#<sha256 of the key>`) name no node:
 * they are "legacy". The reconcile of their object re-marks them (the object's spec.node proves the node); a sweep
 * never deletes them, because it cannot tell which agent made them.
 *
 * Rules: an agent modifies or deletes only links that carry its own mark (or the legacy mark of an object it
 * reconciles); an unmarked link with the wanted name is adopted only when it already matches the spec exactly (the
 * caller decides "matches" and then writes the mark), otherwise it is a conflict to report, never to touch. A sweep
 * deletes a link only when its mark is this agent's and the API proves its object gone or no longer wanting the link
 * ({@link sweepVerdict}).
 */
import { createHash } from "node:crypto";

/** Link group of every managed link (one constant for both agents; 0 is the kernel's default group). */
export const MANAGED_GROUP = 0xd42;

/** Prefix of every ownership mark. */
export const MARK_PREFIX = "dn42op:";

/** Which agent owns a link: `nl` (NetlinkInterface) or `wg` (WireGuardInterface). */
export type OwnerKind = "nl" | "wg";

/** The agent a mark names: kind, node (`-nodename`) and watched namespace (`-namespace`; "" means all). */
export interface AgentIdentity {
  kind: OwnerKind;
  node: string;
  namespace: string;
}

/** Maximum ifalias length (IFALIASZ - 1). */
const MAX_ALIAS_BYTES = 255;
/** Characters a node name may not have in a readable mark (they would make it ambiguous). */
const UNREADABLE_NODE = /[:/#\s]/;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const scopeOf = (namespace: string) => namespace === "" ? "*" : namespace;

/** The hashed marks' agent tag: proves kind, node and scope without the object. */
export function agentTag(a: AgentIdentity): string {
  return sha256(`${a.kind}:${a.node}:${scopeOf(a.namespace)}`).slice(0, 16);
}

/** The ownership mark (ifalias) of agent `a` for object `key` ("namespace/name"). */
export function ownerMark(a: AgentIdentity, key: string): string {
  const scope = scopeOf(a.namespace);
  const plain = `${MARK_PREFIX}${a.kind}:${a.node}:${scope}:${key}`;
  if (!UNREADABLE_NODE.test(a.node) && new TextEncoder().encode(plain).length <= MAX_ALIAS_BYTES) return plain;
  return `${MARK_PREFIX}${a.kind}:#${agentTag(a)}:${sha256(`${a.kind}:${a.node}:${scope}:${key}`)}`;
}

/** The mark of the earlier format (no node, no scope): what links made before node-aware marks carry. */
export function legacyMark(kind: OwnerKind, key: string): string {
  const plain = `${MARK_PREFIX}${kind}:${key}`;
  if (new TextEncoder().encode(plain).length <= MAX_ALIAS_BYTES) return plain;
  return `${MARK_PREFIX}${kind}:#${sha256(key)}`;
}

/** A parsed mark. */
export type ParsedMark =
  /** Readable: agent (node, scope `*` = all namespaces) and object key. */
  | { kind: OwnerKind; form: "plain"; node: string; scope: string; key: string }
  /** Hashed: agent tag and digest (see the module comment). */
  | { kind: OwnerKind; form: "hashed"; tag: string; digest: string }
  /** The earlier format; `key` is null when it was hashed. */
  | { kind: OwnerKind; form: "legacy"; key: string | null };

const PLAIN = /^dn42op:(nl|wg):([^:]*):([^:/]+):([^:/]+\/[^:/]+)$/;
const HASHED = /^dn42op:(nl|wg):#([0-9a-f]{16}):([0-9a-f]{64})$/;
const LEGACY_PLAIN = /^dn42op:(nl|wg):([^:/#][^:/]*\/[^:/]+)$/;
const LEGACY_HASHED = /^dn42op:(nl|wg):#([0-9a-f]{64})$/;

/** Parses an ifalias; null when it is not an ownership mark. */
export function parseOwnerMark(alias: string | null | undefined): ParsedMark | null {
  if (!alias?.startsWith(MARK_PREFIX)) return null;
  let m = PLAIN.exec(alias);
  if (m) return { kind: m[1] as OwnerKind, form: "plain", node: m[2], scope: m[3], key: m[4] };
  if ((m = HASHED.exec(alias))) return { kind: m[1] as OwnerKind, form: "hashed", tag: m[2], digest: m[3] };
  if ((m = LEGACY_PLAIN.exec(alias))) return { kind: m[1] as OwnerKind, form: "legacy", key: m[2] };
  if ((m = LEGACY_HASHED.exec(alias))) return { kind: m[1] as OwnerKind, form: "legacy", key: null };
  return null;
}

/**
 * What a mark says about agent `a`:
 *   - `ours`: this agent's (same kind, node and watched namespace);
 *   - `legacy`: the earlier format of this kind, which names no agent;
 *   - `foreign`: another agent's (another kind, node or install);
 *   - `none`: not an ownership mark.
 */
export type MarkRelation = "ours" | "legacy" | "foreign" | "none";

/** {@link MarkRelation} of `alias` for agent `a`. */
export function markRelation(alias: string | null | undefined, a: AgentIdentity): MarkRelation {
  const p = parseOwnerMark(alias);
  if (!p) return "none";
  if (p.kind !== a.kind) return "foreign";
  switch (p.form) {
    case "plain":
      return p.node === a.node && p.scope === scopeOf(a.namespace) ? "ours" : "foreign";
    case "hashed":
      return p.tag === agentTag(a) ? "ours" : "foreign";
    case "legacy":
      return "legacy";
  }
}

/**
 * The object key of a mark of agent `a`: read from a plain mark, or for a hashed one the candidate whose mark it is;
 * undefined when the mark is not `a`'s or no candidate matches.
 */
export function markedKey(alias: string | null | undefined, a: AgentIdentity, candidates: Iterable<string> = []) {
  if (markRelation(alias, a) !== "ours") return undefined;
  const p = parseOwnerMark(alias)!;
  if (p.form === "plain") return p.key;
  for (const k of candidates) if (ownerMark(a, k) === alias) return k;
  return undefined;
}

/** The parts of a link the ownership rules look at. */
export interface MarkedLink {
  alias: string | null;
  group: number;
}

/**
 * How a link relates to object `key` as agent `a` sees it:
 *   - `absent`: no such link;
 *   - `owned`: it carries `a`'s mark for this object;
 *   - `legacy`: it carries this object's mark of the earlier format: ours to re-mark (the caller reconciles the
 *     object, whose spec names this node);
 *   - `other-owner`: it carries another mark (another object, node, install or kind) — never touch it;
 *   - `unfinished`: no mark but in {@link MANAGED_GROUP}: an agent created it and was stopped before writing the mark
 *     (the group is sent with the creation request, the alias only in a second one) — the wanted name makes it ours;
 *   - `unmarked`: a foreign link — adopt only if it matches the spec exactly, else report a conflict.
 */
export type Ownership = "absent" | "owned" | "legacy" | "other-owner" | "unfinished" | "unmarked";

/** Classifies `link` with respect to object `key` of agent `a`. */
export function classifyLink(link: MarkedLink | null, a: AgentIdentity, key: string): Ownership {
  if (!link) return "absent";
  if (link.alias === ownerMark(a, key)) return "owned";
  if (link.alias === legacyMark(a.kind, key)) return "legacy";
  if (parseOwnerMark(link.alias)) return "other-owner";
  return !link.alias && link.group === MANAGED_GROUP ? "unfinished" : "unmarked";
}

/** True for the states in which a link is this object's to change or delete. */
export function isOwn(o: Ownership): boolean {
  return o === "owned" || o === "legacy" || o === "unfinished";
}

/**
 * What the API says about the owner of a link (see {@link sweepVerdict}):
 *   - `absent`: a live GET answered 404, or (hashed marks) no object in a live LIST of the scope has this mark;
 *   - `present`: the object exists; `node` is its spec.node, `wants` whether its spec wants this link here;
 *   - `unknown`: it could not be asked (API error), with the reason.
 */
export type OwnerFact =
  | { state: "absent" }
  | { state: "present"; node: string; wants: boolean }
  | { state: "unknown"; why: string };

/** A sweep's decision on one marked link, with the reason (for logs). */
export interface SweepVerdict {
  delete: boolean;
  why: string;
}

/**
 * Whether a sweep may delete a link marked `alias`, as agent `a`, given what the API says about its owner `key`
 * (`fact`; undefined when the mark is not `a`'s and nothing was asked). Deletes only `a`'s own marks whose owner is
 * gone, moved to another node, or no longer wants the link; keeps everything else — other agents' and installs'
 * marks, legacy marks, and any doubt.
 */
export function sweepVerdict(
  alias: string | null,
  a: AgentIdentity,
  key: string | undefined,
  fact: OwnerFact | undefined,
): SweepVerdict {
  switch (markRelation(alias, a)) {
    case "none":
      return { delete: false, why: "not an ownership mark" };
    case "foreign":
      return { delete: false, why: "another agent's mark (kind, node or install)" };
    case "legacy":
      return { delete: false, why: "a mark of the earlier format names no node; its object's reconcile re-marks it" };
  }
  const owner = key ?? "its object";
  if (!fact) return { delete: false, why: `nothing known about ${owner}` };
  switch (fact.state) {
    case "unknown":
      return { delete: false, why: `cannot tell whether ${owner} exists: ${fact.why}` };
    case "absent":
      return { delete: true, why: `owner ${owner} no longer exists` };
    case "present":
      if (fact.node !== a.node) return { delete: true, why: `owner ${owner} now belongs to node "${fact.node}"` };
      return fact.wants
        ? { delete: false, why: `owner ${owner} wants it` }
        : { delete: true, why: `owner ${owner} no longer wants this link` };
  }
}
