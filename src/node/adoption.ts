/**
 * Links dn42op did not create (shared by wg-controller and nl-controller): the agents never modify, enslave, release
 * or adopt such a link unless someone entitled to it opted in for that object:
 *   - a cluster administrator, with the object's annotation {@link ADOPT_ANNOTATION} listing the link's name (the
 *     admission policy admission-tenants.yaml lets only holders of privilege adopt-links set it);
 *   - the node's administrator, with the link's alias {@link grantAlias} naming the object (only root on the node can
 *     set a link's alias there).
 * Links that carry this agent's own mark (created by dn42op) need no opt-in.
 */
import { ADOPT_ANNOTATION } from "../api/admission.ts";
import { type AgentIdentity, markRelation } from "./ownership.ts";

export { ADOPT_ANNOTATION };

/** Prefix of a node administrator's grant alias: `dn42op:allow:<namespace>/<name>`. */
export const GRANT_PREFIX = "dn42op:allow:";

/** Who opted in for one object. */
export interface Adoption {
  /** Object key `namespace/name`. */
  key: string;
  /** Link names listed in the object's adoption annotation. */
  links: ReadonlySet<string>;
}

/** The alias a node administrator gives a link to let object `key` ("namespace/name") use it. */
export function grantAlias(key: string): string {
  return `${GRANT_PREFIX}${key}`;
}

/** The link names of an adoption annotation value (comma or space separated). */
export function adoptedLinks(annotations: Record<string, string> | undefined): Set<string> {
  return new Set((annotations?.[ADOPT_ANNOTATION] ?? "").split(/[,\s]+/).filter(Boolean));
}

/** The opt-in of an object: its key and its annotation. */
export function adoptionOf(key: string, annotations: Record<string, string> | undefined): Adoption {
  return { key, links: adoptedLinks(annotations) };
}

/** A link as the rule sees it. */
export interface LinkFacts {
  name: string;
  alias: string | null;
}

/** Whether agent `agent` may change `link` for the object of `adoption` (pure; see the module doc). */
export function mayChange(link: LinkFacts, agent: AgentIdentity, adoption: Adoption): boolean {
  const rel = markRelation(link.alias, agent);
  return rel === "ours" || rel === "legacy" || adoption.links.has(link.name) || link.alias === grantAlias(adoption.key);
}

/** The refusal to do `what` ("enslave", "adopt", …) to link `name` in `where`, saying how to opt in (pure). */
export function notOursMessage(what: string, name: string, where: string, key: string): string {
  return `link ${name} in ${where} was not created by dn42op, so it is not ours to ${what}; an administrator may ` +
    `allow it with annotation ${ADOPT_ANNOTATION}: "${name}" on ${key} (or, on the node, alias "${grantAlias(key)}" ` +
    `on the link)`;
}
