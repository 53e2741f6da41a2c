/** Small builders shared by the WireGuard unit tests. */

import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { type KeyKind, WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceState, PeerConfig, PeerState } from "../../src/wireguard/model.ts";

/** A deterministic key whose bytes are all `n` (then clamped for private keys). */
export function key(n: number, kind: KeyKind = "public"): WireGuardKey {
  return WireGuardKey.fromBytes(kind, new Uint8Array(32).fill(n));
}

/** Prefixes from text. */
export function ips(...text: string[]): IpPrefix[] {
  return text.map((t) => IpPrefix.parse(t));
}

/** A desired peer. */
export function peer(n: number, allowed: string[], extra: Partial<PeerConfig> = {}): PeerConfig {
  return { publicKey: key(n), allowedIps: ips(...allowed), ...extra };
}

/** An observed peer (zero counters). */
export function livePeer(n: number, allowed: string[], extra: Partial<PeerState> = {}): PeerState {
  return {
    ...peer(n, allowed),
    lastHandshake: null,
    rxBytes: 0n,
    txBytes: 0n,
    protocolVersion: 1,
    ...extra,
  };
}

/** An observed device. */
export function device(peers: PeerState[], extra: Partial<DeviceState> = {}): DeviceState {
  return { name: "wgt0", listenPort: 51820, fwmark: 0, peers, ...extra };
}

export const ep = (t: string) => Endpoint.parse(t);
