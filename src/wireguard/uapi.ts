/**
 * The wireguard-go UAPI text protocol (https://www.wireguard.com/xplatform/), as pure functions.
 *
 * A request is `get=1\n\n` or `set=1\n` followed by `key=value` lines and a blank line. Keys are hex. The reply to
 * a set is `errno=N\n\n`; the reply to a get is the device keys, then one block per peer starting at
 * `public_key=`, then `errno=N\n\n`. A failing set is NOT rolled back: lines before the failing one stay applied.
 */

import { Endpoint, IpPrefix } from "./addr.ts";
import { InvalidConfigError, ProtocolError, UapiError } from "./errors.ts";
import { WireGuardKey } from "./key.ts";
import type { DeviceState, DeviceUpdate, PeerState } from "./model.ts";

/** The request that reads a device. */
export const UAPI_GET = "get=1\n\n";

/** Encodes one {@link DeviceUpdate} as a UAPI `set=1` request (terminated by the blank line). */
export function encodeUapiSet(update: DeviceUpdate): string {
  const lines = ["set=1"];
  if (update.privateKey) lines.push(`private_key=${update.privateKey.toHex()}`);
  if (update.listenPort !== undefined) lines.push(`listen_port=${update.listenPort}`);
  if (update.fwmark !== undefined) lines.push(`fwmark=${update.fwmark}`);
  if (update.replacePeers) lines.push("replace_peers=true");
  for (const p of update.peers) {
    lines.push(`public_key=${p.publicKey.toHex()}`);
    if (p.remove) {
      lines.push("remove=true");
      continue;
    }
    if (p.updateOnly) lines.push("update_only=true");
    if (p.presharedKey) lines.push(`preshared_key=${p.presharedKey.toHex()}`);
    if (p.endpoint) lines.push(`endpoint=${p.endpoint.text}`);
    if (p.persistentKeepalive !== undefined) lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.replaceAllowedIps) lines.push("replace_allowed_ips=true");
    for (const ip of p.removeAllowedIps ?? []) lines.push(`allowed_ip=-${ip.text}`);
    for (const ip of p.allowedIps ?? []) lines.push(`allowed_ip=${ip.text}`);
  }
  return lines.join("\n") + "\n\n";
}

/** Reads the `errno=N` reply of a set; throws {@link UapiError} for a non-zero errno. */
export function checkUapiReply(reply: string, op: string): void {
  const m = /^errno=(-?\d+)\n\n$/.exec(reply);
  if (!m) throw new ProtocolError(op, `unexpected reply of ${reply.length} bytes`);
  const errno = Math.abs(Number(m[1]));
  if (errno !== 0) throw new UapiError(op, errno);
}

const DEVICE_KEYS = new Set(["private_key", "listen_port", "fwmark"]);

/** Decodes the reply to `get=1` into a device state; throws ProtocolError/UapiError. */
export function decodeUapiGet(name: string, reply: string): DeviceState {
  const op = `uapi get ${name}`;
  if (!reply.endsWith("\n\n")) throw new ProtocolError(op, "reply is not terminated by a blank line");
  const lines = reply.slice(0, -2).split("\n");
  const last = lines.pop() ?? "";
  checkUapiReply(`${last}\n\n`, op);

  const device: DeviceState = { name, listenPort: 0, fwmark: 0, peers: [] };
  let peer: PeerState | undefined;
  let sec = 0n;
  let nsec = 0n;
  const finishPeer = () => {
    if (peer) peer.lastHandshake = sec === 0n && nsec === 0n ? null : new Date(Number(sec * 1000n + nsec / 1000000n));
  };
  for (const [n, line] of lines.entries()) {
    const eq = line.indexOf("=");
    if (eq <= 0) throw new ProtocolError(op, `line ${n + 1} is not key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const field = `${op} line ${n + 1} (${key})`;
    if (key === "public_key") {
      finishPeer();
      sec = nsec = 0n;
      peer = {
        publicKey: WireGuardKey.fromHex("public", value, field),
        allowedIps: [],
        lastHandshake: null,
        rxBytes: 0n,
        txBytes: 0n,
        protocolVersion: 1,
      };
      device.peers.push(peer);
    } else if (!peer && DEVICE_KEYS.has(key)) {
      if (key === "private_key") device.privateKey = WireGuardKey.fromHex("private", value, field);
      else if (key === "listen_port") device.listenPort = uint(value, 0xffff, field);
      else device.fwmark = uint(value, 0xffffffff, field);
    } else if (peer) {
      switch (key) {
        case "preshared_key": {
          const psk = WireGuardKey.fromHex("preshared", value, field);
          if (!psk.isZero()) peer.presharedKey = psk;
          break;
        }
        case "endpoint":
          peer.endpoint = Endpoint.parse(value, field);
          break;
        case "persistent_keepalive_interval": {
          const ka = uint(value, 0xffff, field);
          if (ka > 0) peer.persistentKeepalive = ka;
          break;
        }
        case "allowed_ip":
          peer.allowedIps.push(IpPrefix.parse(value, field));
          break;
        case "last_handshake_time_sec":
          sec = BigInt(uint(value, Number.MAX_SAFE_INTEGER, field));
          break;
        case "last_handshake_time_nsec":
          nsec = BigInt(uint(value, 999_999_999, field));
          break;
        case "rx_bytes":
          peer.rxBytes = bigUint(value, field);
          break;
        case "tx_bytes":
          peer.txBytes = bigUint(value, field);
          break;
        case "protocol_version":
          peer.protocolVersion = uint(value, 0xffffffff, field);
          break;
        default:
          throw new ProtocolError(field, "unknown peer key");
      }
    } else {
      throw new ProtocolError(field, "unknown device key");
    }
  }
  finishPeer();
  return device;
}

function uint(value: string, max: number, field: string): number {
  if (!/^\d{1,16}$/.test(value) || Number(value) > max) throw new ProtocolError(field, `not an integer 0–${max}`);
  return Number(value);
}

function bigUint(value: string, field: string): bigint {
  if (!/^\d{1,20}$/.test(value)) throw new ProtocolError(field, "not an unsigned integer");
  return BigInt(value);
}

/** Device names wireguard-go accepts as socket file names; also the Linux IFNAMSIZ limit. */
export function checkDeviceName(name: string): void {
  if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(name) || name === "." || name === "..") {
    throw new InvalidConfigError("device name", `"${name}" is not a valid interface name (1–15 of [A-Za-z0-9_.=+-])`);
  }
}
