/**
 * Peer endpoints: `ip:port`, `[ipv6]:port` or `host:port`. Host names are resolved (A, then AAAA) before the
 * desired state is built, so the pure builder only sees addresses.
 */
import type { WireGuardInterfaceSpec } from "../../api/wireguard_interface.ts";
import { WgSpecError } from "../../node/wireguard/desired.ts";
import { Endpoint } from "../../wireguard/addr.ts";

/** Resolves every endpoint of `spec`; returns a parser for the desired-state builder. */
export async function resolveEndpoints(
  spec: WireGuardInterfaceSpec,
  resolve: (host: string, type: "A" | "AAAA") => Promise<string[]> = (h, t) => Deno.resolveDns(h, t),
): Promise<(text: string, field: string) => Endpoint> {
  const resolved = new Map<string, Endpoint>();
  for (const [i, p] of (spec.peers ?? []).entries()) {
    const text = p.endpoint;
    if (!text || resolved.has(text)) continue;
    const field = `spec.peers[${i}].endpoint`;
    try {
      resolved.set(text, Endpoint.parse(text, field));
      continue;
    } catch { /* a host name */ }
    const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
    if (!m) throw new WgSpecError(field, `"${text}" is not host:port`);
    let ips: string[] = [];
    for (const type of ["A", "AAAA"] as const) {
      ips = await resolve(m[1], type).catch(() => []);
      if (ips.length) {
        resolved.set(text, Endpoint.parse(type === "A" ? `${ips[0]}:${m[2]}` : `[${ips[0]}]:${m[2]}`, field));
        break;
      }
    }
    if (!ips.length) throw new WgSpecError(field, `cannot resolve host "${m[1]}"`);
  }
  return (text, field) => resolved.get(text) ?? Endpoint.parse(text, field);
}
