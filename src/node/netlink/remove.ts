/**
 * Removal of managed links: an object's own links on deletion, and garbage collection of links that carry this
 * agent's mark but whose object the API proves gone or no longer wanting them (owner deleted while the agent was
 * down, moved to another node, or a changed interfaceName). Only links with this agent's mark (or, on deletion, the
 * object's mark of the earlier format) are ever deleted; other agents' links in a shared namespace are left alone.
 */
import { deleteLink, getLink, isNotFound, listLinks } from "../../netlink/mod.ts";
import { type AgentIdentity, classifyLink, isOwn } from "../ownership.ts";
import type { NsTarget } from "../placement.ts";
import { judgeLinks, type OwnerSource } from "../sweep.ts";

/** A link deleted (or, in dry-run mode, one that would be). */
export interface Removed {
  target: NsTarget;
  name: string;
  why: string;
}

async function drop(t: NsTarget, index: number, dryRun: boolean): Promise<void> {
  if (dryRun) return;
  try {
    await deleteLink(t.ns, index);
  } catch (e) {
    if (!isNotFound(e)) throw e; // gone already (a veth end deleted with its peer)
  }
}

/** Deletes the named links of object `key` that carry its mark or are its unfinished creations (others stay). */
export async function removeOwnLinks(
  agent: AgentIdentity,
  key: string,
  ends: { target: NsTarget; name: string }[],
  dryRun: boolean,
): Promise<Removed[]> {
  const out: Removed[] = [];
  for (const { target, name } of ends) {
    const link = await getLink(target.ns, name);
    if (!isOwn(classifyLink(link, agent, key))) continue;
    await drop(target, link!.index, dryRun);
    out.push({ target, name, why: "object deleted" });
  }
  return out;
}

/**
 * Deletes, in namespace `t`, every link that src/node/sweep.ts judges an orphan of `agent` (see `sweepVerdict` in
 * src/node/ownership.ts). `owners` answers from a synced cache and the API.
 */
export async function collectGarbage(
  t: NsTarget,
  agent: AgentIdentity,
  owners: OwnerSource,
  dryRun: boolean,
): Promise<Removed[]> {
  const out: Removed[] = [];
  for (const { link, verdict } of await judgeLinks(await listLinks(t.ns), agent, owners)) {
    if (!verdict.delete) continue;
    await drop(t, link.index, dryRun);
    out.push({ target: t, name: link.name, why: verdict.why });
  }
  return out;
}
