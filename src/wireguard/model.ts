/**
 * The device model shared by both backends: the desired configuration of a device, the state read back from it,
 * and the update operations a backend applies (one {@link DeviceUpdate} is one `WG_CMD_SET_DEVICE` request, split
 * into several netlink messages if large, or one UAPI `set=1` request).
 *
 * Canonical form: peers sorted by public key, allowed IPs with host bits cleared, sorted and de-duplicated, an
 * all-zero preshared key means "none", keepalive 0 means "off".
 */

import { type Endpoint, IpPrefix } from "./addr.ts";
import { InvalidConfigError } from "./errors.ts";
import type { WireGuardKey } from "./key.ts";

/** Desired configuration of one peer. */
export interface PeerConfig {
  publicKey: WireGuardKey;
  /** Preshared key; absent or all-zero means none. */
  presharedKey?: WireGuardKey;
  /** Endpoint to use; absent means "not managed" (a kernel-learned endpoint is kept and is not drift). */
  endpoint?: Endpoint;
  /** Persistent keepalive interval in seconds; absent or 0 means off. */
  persistentKeepalive?: number;
  allowedIps: IpPrefix[];
}

/** Desired configuration of a device. Absent device fields are not managed. */
export interface DeviceConfig {
  privateKey?: WireGuardKey;
  /** UDP listen port; absent or 0 means "keep whatever port the device has" (0 lets the kernel pick one). */
  listenPort?: number;
  /** Firewall mark; 0 means off. */
  fwmark?: number;
  peers: PeerConfig[];
}

/** A peer as read from a device, with its runtime counters. */
export interface PeerState extends PeerConfig {
  /** Last completed handshake, or null if none yet. */
  lastHandshake: Date | null;
  rxBytes: bigint;
  txBytes: bigint;
  protocolVersion: number;
}

/** A device as read back from the kernel or from wireguard-go. */
export interface DeviceState {
  name: string;
  /** Interface index (kernel backend only). */
  ifindex?: number;
  privateKey?: WireGuardKey;
  publicKey?: WireGuardKey;
  listenPort: number;
  fwmark: number;
  peers: PeerState[];
}

/** Changes to one peer. Fields that are absent are left unchanged. */
export interface PeerUpdate {
  publicKey: WireGuardKey;
  /** Remove the peer (WGPEER_F_REMOVE_ME / `remove=true`). */
  remove?: boolean;
  /** Only change the peer if it already exists (WGPEER_F_UPDATE_ONLY / `update_only=true`). */
  updateOnly?: boolean;
  /** New preshared key; the all-zero key removes it. */
  presharedKey?: WireGuardKey;
  endpoint?: Endpoint;
  /** New keepalive interval; 0 turns it off. */
  persistentKeepalive?: number;
  /** Drop every allowed IP of the peer before adding `allowedIps` (WGPEER_F_REPLACE_ALLOWEDIPS). */
  replaceAllowedIps?: boolean;
  /** Allowed IPs to add (a prefix owned by another peer moves to this one). */
  allowedIps?: IpPrefix[];
  /** Allowed IPs to remove individually (WGALLOWEDIP_F_REMOVE_ME / `allowed_ip=-…`), where supported. */
  removeAllowedIps?: IpPrefix[];
}

/** One SET request. Absent device fields are left unchanged. */
export interface DeviceUpdate {
  /** New private key; the all-zero key removes it. */
  privateKey?: WireGuardKey;
  listenPort?: number;
  fwmark?: number;
  /** Remove every peer first (WGDEVICE_F_REPLACE_PEERS). Never produced by the diff. */
  replacePeers?: boolean;
  peers: PeerUpdate[];
}

/** Sorts items by the base64 text of their public key (computed once per item), for the sorted merge. */
export function sortByPublicKey<T extends { publicKey: WireGuardKey }>(items: readonly T[]): T[] {
  return items.map((item) => [item.publicKey.toBase64(), item] as const)
    .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    .map(([, item]) => item);
}

/** Sorts and de-duplicates prefixes (returns a new array). */
export function canonicalPrefixes(prefixes: readonly IpPrefix[]): IpPrefix[] {
  const sorted = [...prefixes].sort(IpPrefix.compare);
  return sorted.filter((p, i) => i === 0 || IpPrefix.compare(sorted[i - 1], p) !== 0);
}

/** A preshared key in canonical form: undefined for none (absent or all zero). */
export function canonicalPsk(k: WireGuardKey | undefined): WireGuardKey | undefined {
  return k && !k.isZero() ? k : undefined;
}

/** Validates a desired configuration and returns its canonical form; throws InvalidConfigError naming the field. */
export function canonicalConfig(config: DeviceConfig): DeviceConfig {
  checkPort(config.listenPort, "listenPort", 0);
  if (
    config.fwmark !== undefined && !(Number.isInteger(config.fwmark) && config.fwmark >= 0 && config.fwmark < 2 ** 32)
  ) {
    throw new InvalidConfigError("fwmark", "must be an integer 0–4294967295");
  }
  if (config.privateKey && config.privateKey.kind !== "private") {
    throw new InvalidConfigError("privateKey", `must be a private key, got a ${config.privateKey.kind} key`);
  }
  const peers = config.peers.map((p, i) => {
    const field = `peers[${i}]`;
    if (p.publicKey.kind !== "public") throw new InvalidConfigError(`${field}.publicKey`, "must be a public key");
    if (p.presharedKey && p.presharedKey.kind !== "preshared") {
      throw new InvalidConfigError(`${field}.presharedKey`, "must be a preshared key");
    }
    const ka = p.persistentKeepalive ?? 0;
    if (!Number.isInteger(ka) || ka < 0 || ka > 65535) {
      throw new InvalidConfigError(`${field}.persistentKeepalive`, "must be an integer 0–65535 seconds");
    }
    const peer: PeerConfig = { publicKey: p.publicKey, allowedIps: canonicalPrefixes(p.allowedIps) };
    const psk = canonicalPsk(p.presharedKey);
    if (psk) peer.presharedKey = psk;
    if (p.endpoint) peer.endpoint = p.endpoint;
    if (ka > 0) peer.persistentKeepalive = ka;
    return peer;
  });
  checkSingleOwners(config, peers);
  const sorted = sortByPublicKey(peers);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1].publicKey.equals(sorted[i].publicKey)) {
      throw new InvalidConfigError("peers", `peer ${sorted[i].publicKey} is listed twice`);
    }
  }
  const out: DeviceConfig = { peers: sorted };
  if (config.privateKey) out.privateKey = config.privateKey;
  if (config.listenPort !== undefined) out.listenPort = config.listenPort;
  if (config.fwmark !== undefined) out.fwmark = config.fwmark;
  return out;
}

/**
 * Throws if a prefix is an allowed IP of two peers: it belongs to exactly one peer in the kernel's trie, so two owners
 * would flap forever. Names the first peer (in the given order) that repeats a prefix. One sort over every prefix
 * (no text form, no string-keyed map: those dominated large configurations).
 */
function checkSingleOwners(config: DeviceConfig, peers: PeerConfig[]): void {
  const all: { prefix: IpPrefix; peer: number }[] = [];
  peers.forEach((p, peer) => p.allowedIps.forEach((prefix) => all.push({ prefix, peer })));
  all.sort((a, b) => IpPrefix.compare(a.prefix, b.prefix) || a.peer - b.peer);
  let clash: { prefix: IpPrefix; first: number; second: number } | undefined;
  for (let i = 1; i < all.length; i++) {
    const [a, b] = [all[i - 1], all[i]];
    if (IpPrefix.compare(a.prefix, b.prefix) === 0 && (!clash || b.peer < clash.second)) {
      clash = { prefix: b.prefix, first: a.peer, second: b.peer };
    }
  }
  if (clash) {
    const by = config.peers[clash.first].publicKey;
    throw new InvalidConfigError(
      `peers[${clash.second}].allowedIps`,
      `${clash.prefix.text} is also an allowed IP of peer ${by}`,
    );
  }
}

function checkPort(port: number | undefined, field: string, min: number): void {
  if (port !== undefined && !(Number.isInteger(port) && port >= min && port <= 65535)) {
    throw new InvalidConfigError(field, `must be an integer ${min}–65535`);
  }
}
