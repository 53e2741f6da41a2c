/** Reads one link end's kernel state (link, its addresses, its bridge slaves) through a namespace handle. */
import { type Address, getLink, type Link, listAddresses, listLinks } from "../../netlink/mod.ts";
import type { NsTarget } from "../placement.ts";

/** What the kernel holds for one wanted link name in one namespace. */
export interface ObservedEnd {
  target: NsTarget;
  name: string;
  link: Link | null;
  addresses: Address[];
  /** Names of the links enslaved to it (bridges; empty otherwise). */
  slaves: string[];
}

/** Observes link `name` in `target`; `withSlaves` also lists the links whose master it is. */
export async function observeEnd(target: NsTarget, name: string, withSlaves = false): Promise<ObservedEnd> {
  const link = await getLink(target.ns, name);
  if (!link) return { target, name, link: null, addresses: [], slaves: [] };
  const [addresses, slaves] = await Promise.all([
    listAddresses(target.ns, link.index),
    withSlaves
      ? listLinks(target.ns, { master: link.index }).then((ls) => ls.map((l) => l.name).sort())
      : Promise.resolve([]),
  ]);
  return { target, name, link, addresses, slaves };
}
