/**
 * Removal of managed links: an object's own links on deletion, and garbage collection of links that carry our
 * mark but that no live object wants where they are (owner deleted while the agent was down, or a changed
 * interfaceName/placement). Only links with this agent's mark are ever deleted.
 */
import { deleteLink, getLink, isNotFound, listLinks } from "../../netlink/mod.ts";
import { classifyLink, isManagedBy, ownerKeyOf } from "../ownership.ts";
import type { NsTarget } from "../placement.ts";

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
  key: string,
  ends: { target: NsTarget; name: string }[],
  dryRun: boolean,
): Promise<Removed[]> {
  const out: Removed[] = [];
  for (const { target, name } of ends) {
    const link = await getLink(target.ns, name);
    const own = classifyLink(link, "nl", key);
    if (own !== "owned" && own !== "unfinished") continue;
    await drop(target, link!.index, dryRun);
    out.push({ target, name, why: "object deleted" });
  }
  return out;
}

/**
 * Deletes, in namespace `t`, every link with an `nl` mark whose owner is not in `wanted` (a map of live owner keys to
 * the names they want in this namespace). `wanted` must come from a SYNCED cache.
 */
export async function collectGarbage(
  t: NsTarget,
  wanted: ReadonlyMap<string, ReadonlySet<string>>,
  dryRun: boolean,
): Promise<Removed[]> {
  const out: Removed[] = [];
  for (const l of await listLinks(t.ns)) {
    const owner = ownerKeyOf(l, "nl", wanted.keys());
    if (owner === undefined) {
      if (isManagedBy(l, "nl")) { // a hashed mark that no live object produces
        await drop(t, l.index, dryRun);
        out.push({ target: t, name: l.name, why: `owner of ${l.alias} no longer exists` });
      }
      continue;
    }
    const names = wanted.get(owner);
    if (names?.has(l.name)) continue;
    await drop(t, l.index, dryRun);
    out.push({
      target: t,
      name: l.name,
      why: names ? `${owner} no longer wants ${l.name} in ${t.label}` : `owner ${owner} no longer exists`,
    });
  }
  return out;
}
