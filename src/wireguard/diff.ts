/**
 * Minimal diff between a desired device configuration and the state read from the device, as a sorted merge over
 * public keys (the Talos approach). The result is the smallest ordered list of SET requests; an empty list means
 * no drift.
 *
 * Rules:
 * - Peers are added, updated field by field, or removed one by one; never WGDEVICE_F_REPLACE_PEERS, which drops
 *   every session of every peer.
 * - A changed private key is applied (the device then re-handshakes with every peer).
 * - An allowed IP that moves to another desired peer is only added there: the kernel moves a prefix, it never has
 *   two owners.
 * - An allowed IP that must go away entirely is removed without touching the peer's other prefixes:
 *   - `"remove-me"`: WGALLOWEDIP_F_REMOVE_ME (kernel) / `allowed_ip=-prefix` (UAPI), one request.
 *   - `"dummy-peer"` (older kernels and wireguard-go): the prefixes are first added to a temporary peer with a
 *     fresh key (which moves them away from their owner atomically, prefix by prefix), and a second request removes
 *     that peer. The peer's remaining prefixes are never removed, so their traffic is never interrupted. This is
 *     the workaround Cilium uses; REPLACE_ALLOWEDIPS is avoided because between clearing and re-adding, packets of
 *     the kept prefixes are dropped.
 * - The endpoint is compared only if the desired peer names one; a kernel-learned endpoint is not drift.
 * - Comparison is canonical: sorted prefixes with host bits cleared, zero PSK = none, keepalive 0 = off.
 */

import { IpPrefix } from "./addr.ts";
import { InvalidConfigError } from "./errors.ts";
import { WireGuardKey } from "./key.ts";
import {
  canonicalConfig,
  canonicalPrefixes,
  canonicalPsk,
  type DeviceConfig,
  type DeviceState,
  type DeviceUpdate,
  type PeerConfig,
  type PeerUpdate,
  sortByPublicKey,
} from "./model.ts";

/** How individual allowed IPs can be removed on the target device. */
export type AllowedIpRemoval = "remove-me" | "dummy-peer";

/** Options of {@link diffDevice}. */
export interface DiffOptions {
  allowedIpRemoval: AllowedIpRemoval;
  /**
   * Public key of the temporary peer of the dummy-peer strategy (a fresh random key, not used by any peer).
   * Required only when that strategy has something to remove.
   */
  dummyPeerKey?: WireGuardKey;
}

/** Computes the ordered SET requests that turn `actual` into `desired`; `[]` when they already match. */
export function diffDevice(desired: DeviceConfig, actual: DeviceState, opts: DiffOptions): DeviceUpdate[] {
  const want = canonicalConfig(desired);
  const first: DeviceUpdate = { peers: [] };

  if (want.privateKey && !want.privateKey.equals(actual.privateKey)) first.privateKey = want.privateKey;
  if (want.listenPort && want.listenPort !== actual.listenPort) first.listenPort = want.listenPort;
  if (want.fwmark !== undefined && want.fwmark !== actual.fwmark) first.fwmark = want.fwmark;

  const ownPublic = actual.publicKey;
  if (ownPublic && want.peers.some((p) => p.publicKey.equals(ownPublic))) {
    // The kernel silently ignores such a peer, so it would be re-added on every reconcile.
    throw new InvalidConfigError("peers", `peer ${ownPublic} is the device's own public key`);
  }

  // Every wanted prefix, by text: built only if some peer has a prefix it should not keep (rare; large otherwise).
  let wantedTexts: Set<string> | undefined;
  const wanted = (prefix: IpPrefix) => {
    if (!wantedTexts) {
      wantedTexts = new Set();
      for (const p of want.peers) for (const x of p.allowedIps) wantedTexts.add(x.text);
    }
    return wantedTexts.has(prefix.text);
  };
  const orphaned: IpPrefix[] = [];

  const have = sortByPublicKey(actual.peers);
  const byKey = (w: PeerConfig, h: PeerConfig) => compareText(w.publicKey.toBase64(), h.publicKey.toBase64());
  sortedMerge(want.peers, have, byKey, {
    onlyLeft: (w) => first.peers.push(newPeer(w)),
    onlyRight: (h) => first.peers.push({ publicKey: h.publicKey, remove: true }),
    both: (w, h) => {
      const update = changePeer(w, h, wanted, orphaned, opts.allowedIpRemoval);
      if (update) first.peers.push(update);
    },
  });

  const updates: DeviceUpdate[] = [];
  if (orphaned.length > 0) {
    const dummy = opts.dummyPeerKey;
    if (!dummy || dummy.kind !== "public") {
      throw new InvalidConfigError("dummyPeerKey", "a public key is needed to remove allowed IPs on this device");
    }
    if (have.some((p) => p.publicKey.equals(dummy)) || want.peers.some((p) => p.publicKey.equals(dummy))) {
      throw new InvalidConfigError("dummyPeerKey", "must not be the key of an existing or desired peer");
    }
    first.peers.push({ publicKey: dummy, allowedIps: canonicalPrefixes(orphaned) });
    updates.push(first, { peers: [{ publicKey: dummy, remove: true }] });
  } else if (first.peers.length > 0 || Object.keys(first).length > 1) {
    updates.push(first);
  }
  return updates;
}

/**
 * Walks two lists sorted by `cmp` in one pass, calling `onlyLeft` / `onlyRight` for items present on one side and
 * `both` for items equal under `cmp`.
 */
function sortedMerge<L, R>(
  left: readonly L[],
  right: readonly R[],
  cmp: (l: L, r: R) => number,
  on: { onlyLeft(l: L): void; onlyRight(r: R): void; both?(l: L, r: R): void },
): void {
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    const order = i >= left.length ? 1 : j >= right.length ? -1 : cmp(left[i], right[j]);
    if (order < 0) on.onlyLeft(left[i++]);
    else if (order > 0) on.onlyRight(right[j++]);
    else {
      on.both?.(left[i], right[j]); // (arguments of an optional call are not evaluated when it is absent)
      i++;
      j++;
    }
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function newPeer(w: PeerConfig): PeerUpdate {
  const u: PeerUpdate = { publicKey: w.publicKey };
  if (w.presharedKey) u.presharedKey = w.presharedKey;
  if (w.endpoint) u.endpoint = w.endpoint;
  if (w.persistentKeepalive) u.persistentKeepalive = w.persistentKeepalive;
  if (w.allowedIps.length > 0) u.allowedIps = w.allowedIps;
  return u;
}

/** Field-by-field update of an existing peer, or undefined when it already matches. */
function changePeer(
  w: PeerConfig,
  h: PeerConfig,
  wanted: (prefix: IpPrefix) => boolean,
  orphaned: IpPrefix[],
  removal: AllowedIpRemoval,
): PeerUpdate | undefined {
  const u: PeerUpdate = { publicKey: w.publicKey };
  let changed = false;
  const wantPsk = canonicalPsk(w.presharedKey);
  const havePsk = canonicalPsk(h.presharedKey);
  if (wantPsk ? !wantPsk.equals(havePsk) : havePsk !== undefined) {
    u.presharedKey = wantPsk ?? WireGuardKey.zero("preshared");
    changed = true;
  }
  if (w.endpoint && !w.endpoint.equals(h.endpoint)) {
    u.endpoint = w.endpoint;
    changed = true;
  }
  if ((w.persistentKeepalive ?? 0) !== (h.persistentKeepalive ?? 0)) {
    u.persistentKeepalive = w.persistentKeepalive ?? 0;
    changed = true;
  }

  const add: IpPrefix[] = [];
  const remove: IpPrefix[] = [];
  sortedMerge(w.allowedIps, canonicalPrefixes(h.allowedIps), IpPrefix.compare, {
    onlyLeft: (x) => add.push(x),
    onlyRight: (y) => {
      if (!wanted(y)) remove.push(y);
    },
  });
  if (add.length > 0) {
    u.allowedIps = add;
    changed = true;
  }
  if (remove.length > 0) {
    if (removal === "remove-me") {
      u.removeAllowedIps = remove;
      changed = true;
    } else {
      orphaned.push(...remove);
    }
  }
  return changed ? u : undefined;
}
