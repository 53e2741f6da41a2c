/**
 * Desired state of one WireGuardInterface on its node (pure): the link's MTU and exact address list, and the
 * WireGuard device configuration. Key material arrives already fetched (the caller reads Secrets); endpoints are
 * turned into `ip:port` by a caller-supplied function (DNS resolution is the caller's business).
 */
import { type LinkAddress, parseWireGuardAddress } from "../../api/addresses.ts";
import { wireGuardMtu } from "../../api/placement.ts";
import type { WireGuardInterfaceSpec } from "../../api/wireguard_interface.ts";
import { parseIp } from "../../netlink/ip.ts";
import { type Endpoint, IpPrefix } from "../../wireguard/addr.ts";
import type { WireGuardKey } from "../../wireguard/key.ts";
import { canonicalConfig, type DeviceConfig, type DeviceState, type PeerConfig } from "../../wireguard/model.ts";

/** A spec field that cannot be turned into kernel state; `field` is the spec path, e.g. `spec.peers[1].endpoint`. */
export class WgSpecError extends Error {
  override name = "WgSpecError";
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
  }
}

/** Why one peer cannot be configured as specified; only that peer is affected. */
export interface PeerProblem {
  /** Index in spec.peers. */
  index: number;
  /** Condition reason, e.g. SecretNotFound. */
  reason: string;
  /** Names the field and the peer, never key material. */
  message: string;
  /** The peer is left as the device has it (not added, changed or removed), e.g. its preshared key is missing. */
  hold: boolean;
}

/** Key material for one spec, fetched by the caller. */
export interface WgKeys {
  privateKey: WireGuardKey;
  /** Preshared key per peer index (undefined: none). */
  presharedKeys?: readonly (WireGuardKey | undefined)[];
  /** Peers whose key material could not be had. */
  peerProblems?: readonly PeerProblem[];
}

/** Everything the node must hold for one WireGuardInterface. */
export interface WgDesired {
  name: string;
  mtu: number;
  /** Exact address list, canonical IP text. */
  addresses: LinkAddress[];
  /** Canonical device configuration (never carries replace-peers). */
  device: DeviceConfig;
  /** Public keys (base64) of held peers: kept as the device has them, see {@link withHeldPeers}. */
  heldPeers: string[];
}

/** Canonical text of an IP (RFC 5952 for IPv6), so spec and kernel spellings compare equal. */
export function canonicalIp(ip: string, field: string): string {
  try {
    return parseIp(ip, "address", field).address;
  } catch (e) {
    throw new WgSpecError(field, (e as Error).message);
  }
}

/** Key of an address for comparisons: `local -> peer/len` or `local/len`, canonical IP text. */
export function addressKey(a: LinkAddress): string {
  return a.peer === undefined ? `${a.local}/${a.prefixlen}` : `${a.local} -> ${a.peer}/${a.prefixlen}`;
}

function addresses(spec: WireGuardInterfaceSpec): LinkAddress[] {
  const seen = new Set<string>();
  return (spec.addresses ?? []).map((raw, i) => {
    const field = `spec.addresses[${i}]`;
    let a: LinkAddress;
    try {
      a = parseWireGuardAddress(raw, field);
    } catch (e) {
      throw asSpecError(e, field);
    }
    const out: LinkAddress = {
      family: a.family,
      local: canonicalIp(a.local, `${field}.local`),
      prefixlen: a.prefixlen,
    };
    if (a.peer !== undefined) out.peer = canonicalIp(a.peer, `${field}.peer`);
    const k = addressKey(out);
    if (seen.has(k)) throw new WgSpecError(field, `${k} is listed twice`);
    seen.add(k);
    return out;
  });
}

/**
 * Builds the desired state. `endpoint(text, field)` maps a spec endpoint (`host:port`) to an address, or undefined
 * when it cannot be had now (the peer then keeps whatever endpoint the device has); pure callers pass
 * `Endpoint.parse`. `publicKey(text, field)` parses a peer key. Peers with a held problem (`keys.peerProblems`) are
 * left out and listed in `heldPeers`. Throws WgSpecError naming the field.
 */
export function desiredState(
  spec: WireGuardInterfaceSpec,
  keys: WgKeys,
  parse: {
    endpoint(text: string, field: string): Endpoint | undefined;
    publicKey(text: string, field: string): WireGuardKey;
  },
): WgDesired {
  if (!spec.interfaceName) throw new WgSpecError("spec.interfaceName", "must not be empty");
  const held = new Set((keys.peerProblems ?? []).filter((p) => p.hold).map((p) => p.index));
  const heldPeers: string[] = [];
  const peers: PeerConfig[] = [];
  for (const [i, p] of (spec.peers ?? []).entries()) {
    const field = `spec.peers[${i}]`;
    const publicKey = guard(`${field}.publicKey`, (f) => parse.publicKey(p.publicKey, f));
    if (held.has(i)) {
      heldPeers.push(publicKey.toBase64());
      continue;
    }
    const peer: PeerConfig = {
      publicKey,
      allowedIps: (p.allowedIPs ?? []).map((c, j) => guard(`${field}.allowedIPs[${j}]`, (f) => IpPrefix.parse(c, f))),
    };
    const psk = keys.presharedKeys?.[i];
    if (psk) peer.presharedKey = psk;
    const endpoint = p.endpoint ? guard(`${field}.endpoint`, (f) => parse.endpoint(p.endpoint!, f)) : undefined;
    if (endpoint) peer.endpoint = endpoint;
    if (p.persistentKeepalive) peer.persistentKeepalive = p.persistentKeepalive;
    peers.push(peer);
  }
  const config: DeviceConfig = { privateKey: keys.privateKey, peers };
  if (spec.listenPort) config.listenPort = spec.listenPort;
  let device: DeviceConfig;
  try {
    device = canonicalConfig(config);
  } catch (e) {
    throw new WgSpecError("spec", (e as Error).message);
  }
  return { name: spec.interfaceName, mtu: wireGuardMtu(spec), addresses: addresses(spec), device, heldPeers };
}

/**
 * `device` plus the held peers as `actual` has them (public keys in base64; a held peer the device lacks, or that
 * `device` lists already, is not added), so the diff neither adds, changes nor removes them. Allowed IPs a desired peer claims stay with that peer.
 */
export function withHeldPeers(device: DeviceConfig, actual: DeviceState | undefined, held: readonly string[]) {
  if (!held.length || !actual) return device;
  const listed = new Set(device.peers.map((p) => p.publicKey.toBase64())); // already added: idempotent
  const keep = actual.peers.filter((p) => held.includes(p.publicKey.toBase64()) && !listed.has(p.publicKey.toBase64()));
  if (!keep.length) return device;
  const taken = new Set(device.peers.flatMap((p) => p.allowedIps.map((a) => a.toString())));
  return canonicalConfig({
    ...device,
    peers: [
      ...device.peers,
      ...keep.map(({ publicKey, presharedKey, endpoint, persistentKeepalive, allowedIps }): PeerConfig => ({
        publicKey,
        ...(presharedKey ? { presharedKey } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(persistentKeepalive ? { persistentKeepalive } : {}),
        allowedIps: allowedIps.filter((a) => !taken.has(a.toString())),
      })),
    ],
  });
}

/** Runs a parser for `field`, turning any error into a WgSpecError naming the field. */
function guard<T>(field: string, fn: (field: string) => T): T {
  try {
    return fn(field);
  } catch (e) {
    throw asSpecError(e, field);
  }
}

function asSpecError(e: unknown, field: string): WgSpecError {
  if (e instanceof WgSpecError) return e;
  const f = (e as { field?: unknown }).field;
  const named = typeof f === "string" && f.startsWith(field) ? f : field;
  const msg = (e as Error).message ?? String(e);
  return new WgSpecError(named, msg.startsWith(`${named}: `) ? msg.slice(named.length + 2) : msg);
}

/**
 * The device configuration to create a device with: `device`, plus, for each peer whose spec names no endpoint, the
 * endpoint the previous device had learned for it (`learned`, by public key in base64). A recreated listening side
 * can then reach its peers at once instead of waiting for them to re-handshake. A spec-given endpoint always wins.
 */
export function withLearnedEndpoints(device: DeviceConfig, learned: ReadonlyMap<string, Endpoint>): DeviceConfig {
  return {
    ...device,
    peers: device.peers.map((p) => {
      const endpoint = p.endpoint ?? learned.get(p.publicKey.toBase64());
      return endpoint ? { ...p, endpoint } : p;
    }),
  };
}
