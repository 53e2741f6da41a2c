/**
 * Peer endpoints: `ip:port`, `[ipv6]:port` or `host:port`. Host names are resolved (A, then AAAA; each lookup
 * bounded by a time limit) before the desired state is built, so the pure builder only sees addresses. A name that
 * does not resolve affects only its peer: it becomes a {@link PeerProblem} and the peer keeps whatever endpoint the
 * device has.
 */
import type { WireGuardInterfaceSpec } from "../../api/wireguard_interface.ts";
import { CONDITION_REASONS } from "../../api/constants.ts";
import { type PeerProblem, WgSpecError } from "../../node/wireguard/desired.ts";
import { Endpoint } from "../../wireguard/addr.ts";

/** Time limit of one DNS lookup. */
export const DNS_TIMEOUT_MS = 3000;

/** Looks a name up (the system's resolvers, or `nameServer`), giving up after `timeoutMs`. */
export function resolveDns(
  host: string,
  type: "A" | "AAAA",
  timeoutMs = DNS_TIMEOUT_MS,
  nameServer?: { ipAddr: string; port: number },
): Promise<string[]> {
  return Deno.resolveDns(host, type, { signal: AbortSignal.timeout(timeoutMs), ...(nameServer ? { nameServer } : {}) });
}

/** Resolved endpoints: a parser for the desired-state builder, and the peers whose names did not resolve. */
export interface ResolvedEndpoints {
  endpoint(text: string, field: string): Endpoint | undefined;
  problems: PeerProblem[];
}

/** Resolves every endpoint of `spec` (lookups run concurrently, one per distinct name). */
export async function resolveEndpoints(
  spec: WireGuardInterfaceSpec,
  resolve: (host: string, type: "A" | "AAAA") => Promise<string[]> = (h, t) => resolveDns(h, t),
): Promise<ResolvedEndpoints> {
  const resolved = new Map<string, Endpoint | undefined>();
  const problems: PeerProblem[] = [];
  const lookups = new Map<string, Promise<Endpoint | undefined>>();
  const pending: { index: number; text: string; field: string; host: string; publicKey: string }[] = [];
  for (const [i, p] of (spec.peers ?? []).entries()) {
    const text = p.endpoint;
    if (!text) continue;
    const field = `spec.peers[${i}].endpoint`;
    try {
      resolved.set(text, Endpoint.parse(text, field));
      continue;
    } catch { /* a host name */ }
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
    if (!m) throw new WgSpecError(field, `"${text}" is not host:port`);
    if (!lookups.has(text)) lookups.set(text, lookup(m[1], m[2], field, resolve));
    pending.push({ index: i, text, field, host: m[1], publicKey: p.publicKey });
  }
  for (const [text, p] of lookups) resolved.set(text, await p);
  for (const p of pending) {
    if (resolved.get(p.text)) continue;
    problems.push({
      index: p.index,
      reason: CONDITION_REASONS.EndpointUnresolvable,
      message: `peer ${p.publicKey}: ${p.field}: host "${p.host}" does not resolve (A and AAAA, ` +
        `${DNS_TIMEOUT_MS} ms each); the peer keeps the endpoint it has`,
      hold: false,
    });
  }
  return {
    endpoint: (text, field) => resolved.has(text) ? resolved.get(text) : Endpoint.parse(text, field),
    problems,
  };
}

/** The endpoint of `host:port`: the first A record, else the first AAAA record; undefined when neither resolves. */
async function lookup(
  host: string,
  port: string,
  field: string,
  resolve: (host: string, type: "A" | "AAAA") => Promise<string[]>,
): Promise<Endpoint | undefined> {
  for (const type of ["A", "AAAA"] as const) {
    const ips = await resolve(host, type).catch(() => []);
    if (ips.length) return Endpoint.parse(type === "A" ? `${ips[0]}:${port}` : `[${ips[0]}]:${port}`, field);
  }
  return undefined;
}
