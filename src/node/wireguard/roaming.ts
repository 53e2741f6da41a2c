/**
 * Roamed endpoints are not drift. WireGuard moves a peer's endpoint to the source of the peer's latest authenticated
 * packet (roaming), e.g. to the other address family of a dual-stack peer, or to a NAT's new mapping. Putting the
 * spec's endpoint back on every poll fights that: each correction is a device write, an Event and a status write,
 * and in a mesh where two nodes reach each other over different paths it repeats every poll (the reference does
 * so; squat/kilo#34 reset NAT connections every 30 s that way).
 *
 * So a peer's spec endpoint is applied when it is new (this process has not brought it about before for that peer)
 * and the device shows another one without a live session, or when the session has died: an endpoint the device
 * learned from a live session stays (the API's `endpoint` description promises this: "A roamed endpoint is reported
 * in status, not corrected").
 */
import type { DeviceConfig, DeviceState } from "../../wireguard/model.ts";

/**
 * How long a session lives without a new handshake: WireGuard's REJECT_AFTER_TIME (180 s). After it, the peer is
 * unreachable at the learned endpoint as far as the device knows, and the spec's endpoint is tried again.
 */
export const SESSION_LIFETIME_MS = 180_000;

/**
 * The spec endpoints (text by peer public key in base64) that were in place on an object's device after a pass:
 * what {@link keepRoamed} compares the next spec with.
 */
export type AppliedEndpoints = ReadonlyMap<string, string>;

/** The endpoints `desired` names, by peer public key in base64 (pure). */
export function specEndpoints(desired: DeviceConfig): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of desired.peers) if (p.endpoint) m.set(p.publicKey.toBase64(), p.endpoint.text);
  return m;
}

/**
 * `desired` without the endpoint of each peer that roamed (pure): the device reports another endpoint than the
 * spec's, the peer had a handshake within {@link SESSION_LIFETIME_MS} of `nowMs`, and the spec's endpoint is the one
 * `applied` records for that peer (or none is recorded: a restarted agent finds a live session and keeps it). The
 * diff then leaves those endpoints alone; every other field is still compared.
 */
export function keepRoamed(
  desired: DeviceConfig,
  device: DeviceState,
  applied: AppliedEndpoints | undefined,
  nowMs: number,
): DeviceConfig {
  const live = new Map(device.peers.map((p) => [p.publicKey.toBase64(), p]));
  let changed = false;
  const peers = desired.peers.map((p) => {
    if (!p.endpoint) return p;
    const key = p.publicKey.toBase64();
    const have = live.get(key);
    if (!have?.endpoint || p.endpoint.equals(have.endpoint)) return p;
    const before = applied?.get(key);
    if (before !== undefined && before !== p.endpoint.text) return p; // the spec changed it: apply
    const shake = have.lastHandshake?.getTime();
    if (shake === undefined || nowMs - shake > SESSION_LIFETIME_MS) return p; // no live session: try the spec's
    changed = true;
    const { endpoint: _roamed, ...rest } = p;
    return rest;
  });
  return changed ? { ...desired, peers } : desired;
}
