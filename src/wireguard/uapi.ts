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
import { decimal, endpointAt, hexKey, isZeroHexKey, KeySlab, prefixAt } from "./uapi_fields.ts";

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

/**
 * Decodes the reply to `get=1` into a device state; throws ProtocolError/UapiError. Takes the reply's bytes as read
 * from the socket (a 10,000-peer reply is 3.5 MB: no text is made of it) or its text.
 */
export function decodeUapiGet(name: string, reply: string | Uint8Array): DeviceState {
  const op = `uapi get ${name}`;
  const b = typeof reply === "string" ? new TextEncoder().encode(reply) : reply;
  const bodyEnd = b.length - 2;
  if (bodyEnd < 0 || b[bodyEnd] !== NL || b[bodyEnd + 1] !== NL) {
    throw new ProtocolError(op, "reply is not terminated by a blank line");
  }
  let last = bodyEnd; // start of the last line, which must be errno=N
  while (last > 0 && b[last - 1] !== NL) last--;
  checkUapiReply(`${text(b, last, bodyEnd)}\n\n`, op);

  const device: DeviceState = { name, listenPort: 0, fwmark: 0, peers: [] };
  const state: LineState = { device, peer: undefined, ips: [], ipCount: 0, sec: 0, nsec: 0, keys: new KeySlab() };
  const linesEnd = last - 1; // the lines before the errno line, without their final newline; -1 if there are none
  for (let pos = 0, n = 1; linesEnd >= 0; n++) {
    let eq = -1;
    let nl = pos;
    for (; nl < linesEnd && b[nl] !== NL; nl++) if (eq < 0 && b[nl] === EQ) eq = nl;
    if (eq <= pos) throw new ProtocolError(op, `line ${n} is not key=value`);
    try {
      if (!decodeBytes(state, fieldAt(b, pos, eq), b, eq + 1, nl)) {
        decodeLine(state, text(b, pos, eq), text(b, eq + 1, nl));
      }
    } catch (e) {
      // Name the line and key only; values may be key material.
      const why = e instanceof Error ? e.message.replace(/^value: /, "") : String(e);
      throw new ProtocolError(`${op} line ${n} (${text(b, pos, eq)})`, why);
    }
    if (nl === linesEnd) break;
    pos = nl + 1;
  }
  finishPeer(state);
  return device;
}

interface LineState {
  device: DeviceState;
  peer: PeerState | undefined;
  /**
   * Allowed IPs of the current peer: `ips[0, ipCount)`, copied to the peer at its end. A scratch array reused for
   * every peer, because an array grown by push holds 17 slots for a peer's usual 1 or 2 IPs.
   */
  ips: IpPrefix[];
  ipCount: number;
  /** last_handshake_time_sec and _nsec of the current peer (seconds ≤ 2^53: sec * 1000 is exact up to any date). */
  sec: number;
  nsec: number;
  keys: KeySlab;
}

const NL = 0x0a;
const EQ = 0x3d;
const ZERO_KEY_HEX = "0".repeat(64);
const F = "value";

function text(b: Uint8Array, start: number, end: number): string {
  return new TextDecoder().decode(b.subarray(start, end));
}

/** The keys of a get reply as bytes, most frequent first; {@link decodeBytes} switches on the index. */
const FIELDS = [
  "public_key",
  "allowed_ip",
  "preshared_key",
  "endpoint",
  "persistent_keepalive_interval",
  "last_handshake_time_sec",
  "last_handshake_time_nsec",
  "rx_bytes",
  "tx_bytes",
  "protocol_version",
  "private_key",
  "listen_port",
  "fwmark",
].map((k) => new TextEncoder().encode(k));
const [
  PUBLIC_KEY,
  ALLOWED_IP,
  PRESHARED_KEY,
  ENDPOINT,
  KEEPALIVE,
  HANDSHAKE_SEC,
  HANDSHAKE_NSEC,
  RX_BYTES,
  TX_BYTES,
  PROTOCOL_VERSION,
  PRIVATE_KEY,
  LISTEN_PORT,
  FWMARK,
] = FIELDS.keys();

/** Index in {@link FIELDS} of the key `b[start, end)`, -1 if unknown. */
function fieldAt(b: Uint8Array, start: number, end: number): number {
  next: for (let f = 0; f < FIELDS.length; f++) {
    const k = FIELDS[f];
    if (k.length !== end - start) continue;
    for (let i = 0; i < k.length; i++) if (b[start + i] !== k[i]) continue next;
    return f;
  }
  return -1;
}

function startPeer(s: LineState, publicKey: WireGuardKey): void {
  finishPeer(s);
  s.sec = s.nsec = 0;
  s.peer = { publicKey, allowedIps: [], lastHandshake: null, rxBytes: 0n, txBytes: 0n, protocolVersion: 1 };
  s.device.peers.push(s.peer);
}

function finishPeer(s: LineState): void {
  const peer = s.peer;
  if (!peer) return;
  peer.lastHandshake = s.sec === 0 && s.nsec === 0 ? null : new Date(s.sec * 1000 + (s.nsec / 1e6 | 0));
  if (s.ipCount) {
    peer.allowedIps = s.ips.slice(0, s.ipCount);
    s.ipCount = 0;
  }
}

/**
 * Decodes the line `field=b[start, end)` from its bytes if its value has the form wireguard-go prints (see
 * uapi_fields.ts). Returns false, having changed nothing, for any other line: {@link decodeLine} then decodes it
 * from text or throws the error that names what is wrong.
 */
function decodeBytes(s: LineState, field: number, b: Uint8Array, start: number, end: number): boolean {
  if (field === PUBLIC_KEY) {
    const key = hexKey(b, start, end, s.keys);
    if (key) startPeer(s, WireGuardKey.adopt("public", key));
    return key !== undefined;
  }
  const peer = s.peer;
  if (!peer) {
    if (field === PRIVATE_KEY) {
      const key = hexKey(b, start, end);
      if (key) s.device.privateKey = WireGuardKey.adopt("private", key);
      return key !== undefined;
    }
    const n = decimal(b, start, end);
    if (field === LISTEN_PORT && n >= 0 && n <= 0xffff) s.device.listenPort = n;
    else if (field === FWMARK && n >= 0 && n <= 0xffffffff) s.device.fwmark = n;
    else return false;
    return true;
  }
  switch (field) {
    case ALLOWED_IP: {
      const prefix = prefixAt(b, start, end, F);
      if (prefix) s.ips[s.ipCount++] = prefix;
      return prefix !== undefined;
    }
    case PRESHARED_KEY: {
      if (isZeroHexKey(b, start, end)) return true;
      const key = hexKey(b, start, end);
      if (key) peer.presharedKey = WireGuardKey.adopt("preshared", key);
      return key !== undefined;
    }
    case ENDPOINT: {
      const endpoint = endpointAt(b, start, end, F);
      if (endpoint) peer.endpoint = endpoint;
      return endpoint !== undefined;
    }
  }
  const n = decimal(b, start, end);
  if (n < 0) return false;
  switch (field) {
    case KEEPALIVE:
      if (n > 0xffff) return false;
      if (n > 0) peer.persistentKeepalive = n;
      return true;
    case HANDSHAKE_SEC:
      s.sec = n;
      return true;
    case HANDSHAKE_NSEC:
      if (n > 999_999_999) return false;
      s.nsec = n;
      return true;
    case RX_BYTES:
      peer.rxBytes = n === 0 ? 0n : BigInt(n);
      return true;
    case TX_BYTES:
      peer.txBytes = n === 0 ? 0n : BigInt(n);
      return true;
    case PROTOCOL_VERSION:
      if (n > 0xffffffff) return false;
      peer.protocolVersion = n;
      return true;
  }
  return false;
}

/** Decodes one `key=value` line from text: every form the protocol allows, with the typed error for the rest. */
function decodeLine(s: LineState, key: string, value: string): void {
  const peer = s.peer;
  if (key === "public_key") {
    startPeer(s, WireGuardKey.fromHex("public", value, F));
  } else if (!peer) {
    if (key === "private_key") s.device.privateKey = WireGuardKey.fromHex("private", value, F);
    else if (key === "listen_port") s.device.listenPort = uint(value, 0xffff, F);
    else if (key === "fwmark") s.device.fwmark = uint(value, 0xffffffff, F);
    else throw new ProtocolError(F, "unknown device key");
  } else {
    switch (key) {
      case "allowed_ip":
        s.ips[s.ipCount++] = IpPrefix.parse(value, F);
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
        s.sec = uint(value, Number.MAX_SAFE_INTEGER, F);
        break;
      case "last_handshake_time_nsec":
        s.nsec = uint(value, 999_999_999, F);
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
