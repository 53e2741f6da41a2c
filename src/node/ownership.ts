/**
 * Ownership marks on the links the node agents manage (shared by wg-controller and nl-controller).
 *
 * A managed link carries:
 *   - IFLA_IFALIAS `dn42op:<kind>:<namespace>/<name>` — the owning object; the alias survives moves between
 *     namespaces and restarts of the agent. When that text would exceed the kernel's 255 bytes, the mark is
 *     `dn42op:<kind>:#<sha256 of namespace/name, hex>`, which can be matched but not read back.
 *   - link group {@link MANAGED_GROUP}, so all managed links of a namespace can be torn down with one request.
 *
 * Rules (see {@link classifyLink}): an agent modifies or deletes only links that carry its own kind's mark; an
 * unmarked link with the wanted name is adopted only when it already matches the spec exactly (the caller decides
 * "matches" and then writes the mark), otherwise it is a conflict to report, never to touch.
 */
import { createHash } from "node:crypto";

/** Link group of every managed link (one constant for both agents; 0 is the kernel's default group). */
export const MANAGED_GROUP = 0xd42;

/** Prefix of every ownership mark. */
export const MARK_PREFIX = "dn42op:";

/** Which agent owns a link: `nl` (NetlinkInterface) or `wg` (WireGuardInterface). */
export type OwnerKind = "nl" | "wg";

/** Maximum ifalias length (IFALIASZ - 1). */
const MAX_ALIAS_BYTES = 255;

/** The ownership mark (ifalias) for object `key` ("namespace/name") of `kind`. */
export function ownerMark(kind: OwnerKind, key: string): string {
  const plain = `${MARK_PREFIX}${kind}:${key}`;
  if (new TextEncoder().encode(plain).length <= MAX_ALIAS_BYTES) return plain;
  return `${MARK_PREFIX}${kind}:#${createHash("sha256").update(key).digest("hex")}`;
}

/** A parsed mark: the owning kind and, unless the mark is hashed, the object key. */
export interface ParsedMark {
  kind: OwnerKind;
  /** "namespace/name", or null for a hashed mark (match it with {@link ownerMark}). */
  key: string | null;
}

/** Parses an ifalias; null when it is not an ownership mark. */
export function parseOwnerMark(alias: string | null | undefined): ParsedMark | null {
  const m = alias ? /^dn42op:(nl|wg):(.+)$/.exec(alias) : null;
  if (!m) return null;
  const rest = m[2];
  if (rest.startsWith("#")) return { kind: m[1] as OwnerKind, key: null };
  return rest.includes("/") ? { kind: m[1] as OwnerKind, key: rest } : null;
}

/** The parts of a link the ownership rules look at. */
export interface MarkedLink {
  alias: string | null;
  group: number;
}

/**
 * How a link relates to object `key` of `kind`:
 *   - `absent`: no such link;
 *   - `owned`: it carries this object's mark;
 *   - `other-owner`: it carries the mark of another object (of either agent) — never touch it;
 *   - `unfinished`: no mark but in {@link MANAGED_GROUP}: an agent created it and was stopped before writing the mark
 *     (the group is sent with the creation request, the alias only in a second one) — the wanted name makes it ours;
 *   - `unmarked`: a foreign link — adopt only if it matches the spec exactly, else report a conflict.
 */
export type Ownership = "absent" | "owned" | "other-owner" | "unfinished" | "unmarked";

/** Classifies `link` with respect to object `key` of `kind`. */
export function classifyLink(link: MarkedLink | null, kind: OwnerKind, key: string): Ownership {
  if (!link) return "absent";
  if (link.alias === ownerMark(kind, key)) return "owned";
  if (parseOwnerMark(link.alias)) return "other-owner";
  return !link.alias && link.group === MANAGED_GROUP ? "unfinished" : "unmarked";
}

/** True when `link` carries a mark of `kind` (any object). */
export function isManagedBy(link: MarkedLink, kind: OwnerKind): boolean {
  return parseOwnerMark(link.alias)?.kind === kind;
}

/**
 * The owner key of a managed link of `kind`, resolving hashed marks against `knownKeys`; undefined when the link is
 * not ours or its (hashed) owner is not among the known keys.
 */
export function ownerKeyOf(link: MarkedLink, kind: OwnerKind, knownKeys: Iterable<string> = []): string | undefined {
  const p = parseOwnerMark(link.alias);
  if (!p || p.kind !== kind) return undefined;
  if (p.key !== null) return p.key;
  for (const k of knownKeys) if (ownerMark(kind, k) === link.alias) return k;
  return undefined;
}

/**
 * Whether a managed link of `kind` is an orphan: it carries our mark and its owner is not in `liveKeys`. Only call
 * this with the key set of a SYNCED cache — an unsynced or failing watch must never turn into deletions.
 */
export function isOrphan(link: MarkedLink, kind: OwnerKind, liveKeys: ReadonlySet<string>): boolean {
  const p = parseOwnerMark(link.alias);
  if (!p || p.kind !== kind) return false;
  if (p.key !== null) return !liveKeys.has(p.key);
  return ownerKeyOf(link, kind, liveKeys) === undefined;
}
