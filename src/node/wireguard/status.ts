/**
 * Observed facts of a WireGuard link for the object's status (pure): the link snapshot (reference "netlink" status
 * object), the address strings, and the device without any private or preshared key.
 */
import { MAX_OBSERVED, type NetlinkStatus } from "../../api/common.ts";
import type { WireGuardInterfaceStatus } from "../../api/wireguard_interface.ts";
import type { Address, Link } from "../../netlink/mod.ts";
import type { BackendKind } from "../../wireguard/backend.ts";
import type { DeviceState } from "../../wireguard/model.ts";
import { Endpoint } from "../../wireguard/addr.ts";
import { addressKey } from "./desired.ts";
import { linkAddressOf } from "./diff.ts";

const IFF = { UP: 0x1, BROADCAST: 0x2, LOOPBACK: 0x8, POINTOPOINT: 0x10, RUNNING: 0x40, MULTICAST: 0x1000 };
const OPER_STATES = new Set(["unknown", "not-present", "down", "lower-layer-down", "testing", "dormant", "up"]);

/** Kernel IFF_* flags as Go's net.Flags bitmask (up=1, broadcast=2, loopback=4, p2p=8, multicast=16, running=32). */
export function goNetFlags(raw: number): number {
  let f = 0;
  if (raw & IFF.UP) f |= 1;
  if (raw & IFF.BROADCAST) f |= 2;
  if (raw & IFF.LOOPBACK) f |= 4;
  if (raw & IFF.POINTOPOINT) f |= 8;
  if (raw & IFF.MULTICAST) f |= 16;
  if (raw & IFF.RUNNING) f |= 32;
  return f;
}

/** The reference's netlink status object for a link and its addresses. */
export function netlinkStatus(link: Link, addrs: readonly Address[]): NetlinkStatus {
  const s: NetlinkStatus = {
    index: link.index,
    name: link.name,
    mtu: link.mtu,
    flags: goNetFlags(link.flags),
    rawFlags: link.flags,
    addrs: addrs.map((a) => {
      const o: NonNullable<NetlinkStatus["addrs"]>[number] = {
        local: a.local,
        family: a.family === 4 ? "inet" : "inet6",
        prefixlen: a.prefixlen,
        linkIndex: a.index,
      };
      if (a.peer !== null) o.peer = `${a.peer}/${a.prefixlen}`;
      if (a.label) o.label = a.label;
      return o;
    }),
  };
  if (link.kind) s.kind = link.kind;
  if (link.mac) s.hardwareAddr = link.mac;
  if (link.alias) s.alias = link.alias;
  return s;
}

/** The device as status reports it: public keys, port, peers with counters; never a private or preshared key. */
export function deviceStatus(
  dev: DeviceState,
  name: string,
  backend: BackendKind,
): WireGuardInterfaceStatus["wireguard"] {
  return boundDevice({
    name,
    type: backend === "kernel" ? 1 : 2,
    ...(dev.publicKey ? { public_key: dev.publicKey.toBase64() } : {}),
    listen_port: dev.listenPort,
    firewall_mark: dev.fwmark,
    peers: dev.peers.map((p) => ({
      public_key: p.publicKey.toBase64(),
      has_preshared_key: p.presharedKey !== undefined && !p.presharedKey.isZero(),
      ...(p.endpoint ? { endpoint: p.endpoint.text } : {}),
      ...(p.persistentKeepalive ? { persistent_keepalive_seconds: p.persistentKeepalive } : {}),
      ...(p.lastHandshake ? { last_handshake_time: p.lastHandshake.getTime() } : {}),
      receive_bytes: Number(p.rxBytes),
      transmit_bytes: Number(p.txBytes),
      allowed_ips: p.allowedIps.map((a) => a.text),
      ...(p.protocolVersion ? { protocol_version: p.protocolVersion } : {}),
    })),
  });
}

type DeviceStatus = NonNullable<WireGuardInterfaceStatus["wireguard"]>;

/**
 * Most bytes the device part of a status may take. With the CRD's limits (512 peers, 4096 allowed IPs in all) the
 * spec, its field-manager records and this stay well inside what the API server stores (etcd's 1.5 MiB per object).
 */
export const MAX_DEVICE_STATUS_BYTES = 256 << 10;

/**
 * A device status of at most `maxBytes` of JSON (pure): above it the peers' allowed IPs are left out (they are in the
 * spec; `allowed_ips_omitted`), then the peers beyond those that fit (`peers_omitted` counts them).
 */
export function boundDevice(d: DeviceStatus, maxBytes = MAX_DEVICE_STATUS_BYTES): DeviceStatus {
  const size = (x: unknown) => new TextEncoder().encode(JSON.stringify(x)).length;
  if (size(d) <= maxBytes) return d;
  const peers = (d.peers ?? []).map(({ allowed_ips: _, ...p }) => p);
  const slim: DeviceStatus = { ...d, peers, allowed_ips_omitted: true };
  let used = size({ ...slim, peers: [], peers_omitted: peers.length });
  let fit = 0;
  while (fit < peers.length && (used += size(peers[fit]) + 1) <= maxBytes) fit++;
  return fit === peers.length ? slim : { ...slim, peers: peers.slice(0, fit), peers_omitted: peers.length - fit };
}

/** What the node observed of one WireGuard link. */
export interface WgObserved {
  link: Link;
  addresses: Address[];
  device?: DeviceState;
  backend?: BackendKind;
}

/** Status fields of the observation (everything except conditions, generation and identity). */
export function observedStatus(o: WgObserved): Partial<WireGuardInterfaceStatus> {
  const shown = o.addresses.slice(0, MAX_OBSERVED);
  const s: Partial<WireGuardInterfaceStatus> = {
    mtu: o.link.mtu,
    addresses: shown.map((a) => addressKey(linkAddressOf(a))),
    netlink: netlinkStatus(o.link, shown),
  };
  if (OPER_STATES.has(o.link.operstate)) s.operState = o.link.operstate as WireGuardInterfaceStatus["operState"];
  if (o.device && o.backend) s.wireguard = deviceStatus(o.device, o.link.name, o.backend);
  return s;
}

/**
 * The peer endpoints a published status shows (by peer public key): what the device had learned when the status was
 * written. Unparsable entries are skipped (the status is only a hint here).
 */
export function publishedEndpoints(status: WireGuardInterfaceStatus | undefined): Map<string, Endpoint> {
  const out = new Map<string, Endpoint>();
  for (const p of status?.wireguard?.peers ?? []) {
    if (!p.endpoint || !p.public_key) continue;
    try {
      out.set(p.public_key, Endpoint.parse(p.endpoint));
    } catch { /* not an endpoint */ }
  }
  return out;
}
