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

/** Decodes the reply to `get=1` into a device state; throws ProtocolError/UapiError. */
export function decodeUapiGet(name: string, reply: string): DeviceState {
  const op = `uapi get ${name}`;
  if (!reply.endsWith("\n\n")) throw new ProtocolError(op, "reply is not terminated by a blank line");
  const lines = reply.slice(0, -2).split("\n");
  const last = lines.pop() ?? "";
  checkUapiReply(`${last}\n\n`, op);

  const device: DeviceState = { name, listenPort: 0, fwmark: 0, peers: [] };
  const state: LineState = { device, peer: undefined, sec: 0n, nsec: 0n };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const eq = line.indexOf("=");
    if (eq <= 0) throw new ProtocolError(op, `line ${n + 1} is not key=value`);
    const key = line.slice(0, eq);
    try {
      decodeLine(state, key, line.slice(eq + 1));
    } catch (e) {
      // Name the line and key only; values may be key material.
      const why = e instanceof Error ? e.message.replace(/^value: /, "") : String(e);
      throw new ProtocolError(`${op} line ${n + 1} (${key})`, why);
    }
  }
  finishPeer(state);
  return device;
}

interface LineState {
  device: DeviceState;
  peer: PeerState | undefined;
  sec: bigint;
  nsec: bigint;
}

const ZERO_KEY_HEX = "0".repeat(64);
const F = "value";

function finishPeer(s: LineState): void {
  if (s.peer) {
    s.peer.lastHandshake = s.sec === 0n && s.nsec === 0n ? null : new Date(Number(s.sec * 1000n + s.nsec / 1000000n));
  }
}

function decodeLine(s: LineState, key: string, value: string): void {
  const peer = s.peer;
  if (key === "public_key") {
    finishPeer(s);
    s.sec = s.nsec = 0n;
    s.peer = {
      publicKey: WireGuardKey.fromHex("public", value, F),
      allowedIps: [],
      lastHandshake: null,
      rxBytes: 0n,
      txBytes: 0n,
      protocolVersion: 1,
    };
    s.device.peers.push(s.peer);
  } else if (!peer) {
    if (key === "private_key") s.device.privateKey = WireGuardKey.fromHex("private", value, F);
    else if (key === "listen_port") s.device.listenPort = uint(value, 0xffff, F);
    else if (key === "fwmark") s.device.fwmark = uint(value, 0xffffffff, F);
    else throw new ProtocolError(F, "unknown device key");
  } else {
    switch (key) {
      case "allowed_ip":
        peer.allowedIps.push(IpPrefix.parse(value, F));
        break;
      case "preshared_key":
        if (value !== ZERO_KEY_HEX) peer.presharedKey = WireGuardKey.fromHex("preshared", value, F);
        break;
      case "endpoint":
        peer.endpoint = Endpoint.parse(value, F);
        break;
      case "persistent_keepalive_interval": {
        const ka = uint(value, 0xffff, F);
        if (ka > 0) peer.persistentKeepalive = ka;
        break;
      }
      case "last_handshake_time_sec":
        s.sec = BigInt(uint(value, Number.MAX_SAFE_INTEGER, F));
        break;
      case "last_handshake_time_nsec":
        s.nsec = BigInt(uint(value, 999_999_999, F));
        break;
      case "rx_bytes":
        peer.rxBytes = bigUint(value, F);
        break;
      case "tx_bytes":
        peer.txBytes = bigUint(value, F);
        break;
      case "protocol_version":
        peer.protocolVersion = uint(value, 0xffffffff, F);
        break;
      default:
        throw new ProtocolError(F, "unknown peer key");
    }
  }
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
