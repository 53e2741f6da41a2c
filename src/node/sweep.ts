/**
 * The orphan sweep's judgement of marked links (shared by wg-controller and nl-controller): which links of a
 * namespace carry this agent's mark, who their owner is, and what the API says about it. The decision itself is
 * {@link sweepVerdict} (pure); this module only gathers its inputs, asking the API as little as possible: the
 * synced cache answers for the objects it holds, a live GET for a readable mark whose object the cache lacks (the
 * cache is node-filtered, so absence there proves nothing), one live LIST per sweep for hashed marks.
 */
import type { Link } from "../netlink/mod.ts";
import {
  type AgentIdentity,
  markedKey,
  markRelation,
  type OwnerFact,
  parseOwnerMark,
  type SweepVerdict,
  sweepVerdict,
} from "./ownership.ts";

/** Where the sweep learns about owners; implemented by the controller (cache + API). */
export interface OwnerSource {
  /** Keys of the objects in the agent's synced cache. */
  cachedKeys(): Iterable<string>;
  /** What is known about owner `key` and link `linkName`: from the cache when it holds the object, else a live GET. */
  fact(key: string, linkName: string): Promise<OwnerFact>;
  /** Every object key in the agent's watched namespace(s), from a live LIST (for hashed marks). */
  liveKeys(): Promise<Iterable<string>>;
}

/** A link of this agent's and the verdict on it. */
export interface Judged {
  link: Link;
  key?: string;
  verdict: SweepVerdict;
}

/**
 * Judges the links carrying a mark of agent `a`'s kind (other links are not returned). `source` should be fresh per
 * sweep: it may remember its answers.
 */
export async function judgeLinks(links: Link[], a: AgentIdentity, source: OwnerSource): Promise<Judged[]> {
  const out: Judged[] = [];
  let live: Promise<string[] | Error> | undefined;
  for (const link of links) {
    const relation = markRelation(link.alias, a);
    if (relation === "none" || parseOwnerMark(link.alias)!.kind !== a.kind) continue;
    if (relation !== "ours") {
      out.push({ link, verdict: sweepVerdict(link.alias, a, undefined, undefined) });
      continue;
    }
    let key = markedKey(link.alias, a, source.cachedKeys());
    let fact: OwnerFact | undefined;
    if (key === undefined) { // a hashed mark of no cached object: is any object in the scope its owner?
      live ??= source.liveKeys().then((k) => [...k], (e) => e instanceof Error ? e : new Error(String(e)));
      const keys = await live;
      if (keys instanceof Error) fact = { state: "unknown", why: keys.message };
      else {
        key = markedKey(link.alias, a, keys);
        if (key === undefined) fact = { state: "absent" };
      }
    }
    if (key !== undefined) fact = await source.fact(key, link.name);
    out.push({ link, key, verdict: sweepVerdict(link.alias, a, key, fact) });
  }
  return out;
}
