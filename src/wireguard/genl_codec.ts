/**
 * Codec of the kernel's generic netlink family "wireguard" (`linux/wireguard.h` is the specification), as pure
 * functions over the netlink layer's attribute encoder/decoder.
 *
 * SET (WG_CMD_SET_DEVICE) is split into messages of at most `budget` bytes, as the header prescribes: every
 * message names the device; device attributes and WGDEVICE_F_REPLACE_PEERS go only in the first; a peer whose
 * allowed IPs do not fit continues in the next message with only its public key and the remaining allowed IPs, and
 * WGPEER_F_REPLACE_ALLOWEDIPS only in its first fragment (WGPEER_F_UPDATE_ONLY is repeated in every fragment, so
 * that a continuation never creates a peer the first fragment was told not to create).
 *
 * GET (WG_CMD_GET_DEVICE, a dump) is decoded message by message and coalesced by public key: the kernel splits the
 * same way, repeating a peer's key in the next message for the rest of its allowed IPs.
 */

import { type AttrDecoder, attrsAfter, decodeGenl, GENL_HDRLEN, genlMessage, type Message } from "../netlink/mod.ts";
import { MessageEncoder } from "../netlink/mod.ts";
import { Endpoint, IpPrefix } from "./addr.ts";
import { InvalidConfigError, ProtocolError } from "./errors.ts";
import { KEY_LEN, type KeyKind, WireGuardKey } from "./key.ts";
import type { DeviceState, DeviceUpdate, PeerState, PeerUpdate } from "./model.ts";

/** Family name and version (WG_GENL_NAME, WG_GENL_VERSION). */
export const WG_GENL_NAME = "wireguard";
export const WG_GENL_VERSION = 1;

/** enum wg_cmd */
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;

/** enum wgdevice_flag */
export const WGDEVICE_F_REPLACE_PEERS = 1 << 0;

/** enum wgdevice_attribute */
export const WGDEVICE_A_IFINDEX = 1;
export const WGDEVICE_A_IFNAME = 2;
export const WGDEVICE_A_PRIVATE_KEY = 3;
export const WGDEVICE_A_PUBLIC_KEY = 4;
export const WGDEVICE_A_FLAGS = 5;
export const WGDEVICE_A_LISTEN_PORT = 6;
export const WGDEVICE_A_FWMARK = 7;
export const WGDEVICE_A_PEERS = 8;

/** enum wgpeer_flag */
export const WGPEER_F_REMOVE_ME = 1 << 0;
export const WGPEER_F_REPLACE_ALLOWEDIPS = 1 << 1;
export const WGPEER_F_UPDATE_ONLY = 1 << 2;

/** enum wgpeer_attribute */
export const WGPEER_A_PUBLIC_KEY = 1;
export const WGPEER_A_PRESHARED_KEY = 2;
export const WGPEER_A_FLAGS = 3;
export const WGPEER_A_ENDPOINT = 4;
export const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = 5;
export const WGPEER_A_LAST_HANDSHAKE_TIME = 6;
export const WGPEER_A_RX_BYTES = 7;
export const WGPEER_A_TX_BYTES = 8;
export const WGPEER_A_ALLOWEDIPS = 9;
export const WGPEER_A_PROTOCOL_VERSION = 10;

/** enum wgallowedip_attribute; WGALLOWEDIP_A_FLAGS and its REMOVE_ME flag exist from Linux 6.16 on. */
export const WGALLOWEDIP_A_FAMILY = 1;
export const WGALLOWEDIP_A_IPADDR = 2;
export const WGALLOWEDIP_A_CIDR_MASK = 3;
export const WGALLOWEDIP_A_FLAGS = 4;
export const WGALLOWEDIP_F_REMOVE_ME = 1 << 0;

/** Address families (linux/socket.h). */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Default SET message budget in bytes: wg(8) uses one page; bigger messages hold rtnl_lock longer. */
export const DEFAULT_SET_BUDGET = 32 * 1024;
/** Smallest budget that holds a device name, a peer header and one IPv6 allowed IP. */
export const MIN_SET_BUDGET = 512;
/** Largest budget: the single WGDEVICE_A_PEERS nest must stay within the 65 535-byte attribute limit. */
export const MAX_SET_BUDGET = 65535;

/** Upper bound of one peer head or one allowed IP entry in a SET message, in bytes. */
const SET_OVERSHOOT = 1024;

/** How a request names its device: one, not both, of ifname and ifindex. */
export type DeviceRef = { name: string } | { ifindex: number };

function deviceAttr(m: MessageEncoder, dev: DeviceRef): void {
  if ("name" in dev) m.string(WGDEVICE_A_IFNAME, dev.name);
  else m.u32(WGDEVICE_A_IFINDEX, dev.ifindex);
}

function describe(dev: DeviceRef): string {
  return "name" in dev ? dev.name : `ifindex ${dev.ifindex}`;
}

/** The WG_CMD_GET_DEVICE request; send it as a dump. */
export function encodeGetDevice(familyId: number, dev: DeviceRef): MessageEncoder {
  const m = genlMessage(familyId, WG_CMD_GET_DEVICE, WG_GENL_VERSION, 0, `wireguard get ${describe(dev)}`);
  deviceAttr(m, dev);
  return m;
}

/** Size of the sockaddr of an endpoint: sockaddr_in (16) or sockaddr_in6 (28). */
function sockaddrSize(ep: Endpoint): number {
  return ep.version === 4 ? 16 : 28;
}

/** Writes 16-bit words big-endian at `at` of `b`. */
function writeWords(b: Uint8Array, at: number, words: readonly number[]): void {
  for (let i = 0; i < words.length; i++) {
    b[at + 2 * i] = words[i] >> 8;
    b[at + 2 * i + 1] = words[i] & 0xff;
  }
}

/** Fills a zeroed sockaddr (family in host order, port in network order); sin6_flowinfo precedes the address. */
function writeSockaddr(b: Uint8Array, ep: Endpoint): void {
  const family = ep.version === 4 ? AF_INET : AF_INET6;
  b[0] = family & 0xff;
  b[1] = family >> 8;
  b[2] = ep.port >> 8;
  b[3] = ep.port & 0xff;
  writeWords(b, ep.version === 4 ? 4 : 8, ep.words);
}

/** struct sockaddr_in / sockaddr_in6 of an endpoint (family in host order, port in network order). */
export function encodeSockaddr(ep: Endpoint): Uint8Array {
  const b = new Uint8Array(sockaddrSize(ep));
  writeSockaddr(b, ep);
  return b;
}

/** Decodes a WGPEER_A_ENDPOINT payload; undefined for an unset endpoint (family 0). Reads `b` in place. */
export function decodeSockaddr(b: Uint8Array, op: string): Endpoint | undefined {
  if (b.length < 2) throw new ProtocolError(op, `endpoint of ${b.length} bytes`);
  const family = b[0] | (b[1] << 8);
  if (family === 0) return undefined;
  const port = b.length >= 4 ? (b[2] << 8) | b[3] : 0;
  if (family === AF_INET && b.length >= 16) return endpointOrThrow(4, b, 4, port, op);
  if (family === AF_INET6 && b.length >= 28) return endpointOrThrow(6, b, 8, port, op); // after sin6_flowinfo
  throw new ProtocolError(op, `endpoint with family ${family} and ${b.length} bytes`);
}

function endpointOrThrow(version: 4 | 6, b: Uint8Array, at: number, port: number, op: string): Endpoint {
  if (port === 0) throw new ProtocolError(op, "endpoint with port 0");
  const words = new Array<number>(version === 4 ? 2 : 8);
  for (let i = 0; i < words.length; i++) words[i] = (b[at + 2 * i] << 8) | b[at + 2 * i + 1];
  return Endpoint.fromWords(version, words, port, op);
}

interface IpEntry {
  prefix: IpPrefix;
  remove: boolean;
}

function ipEntries(p: PeerUpdate): IpEntry[] {
  const out: IpEntry[] = [];
  for (const prefix of p.removeAllowedIps ?? []) out.push({ prefix, remove: true });
  for (const prefix of p.allowedIps ?? []) out.push({ prefix, remove: false });
  return out;
}

function writeIp(m: MessageEncoder, e: IpEntry): void {
  m.u16(WGALLOWEDIP_A_FAMILY, e.prefix.version === 4 ? AF_INET : AF_INET6);
  writeWords(m.reserve(WGALLOWEDIP_A_IPADDR, e.prefix.words.length * 2), 0, e.prefix.words);
  m.u8(WGALLOWEDIP_A_CIDR_MASK, e.prefix.bits);
  if (e.remove) m.u32(WGALLOWEDIP_A_FLAGS, WGALLOWEDIP_F_REMOVE_ME);
}

/** Appends a key attribute, copying the key straight into the message. */
function putKey(m: MessageEncoder, type: number, key: WireGuardKey): void {
  const payload = m.reserve(type, KEY_LEN);
  if (payload.length === KEY_LEN) key.copyTo(payload); // empty after an error already recorded
}

/** Writes the peer's own attributes (first fragment) or only what a continuation carries. */
function writePeerHead(m: MessageEncoder, p: PeerUpdate, continuation: boolean): void {
  putKey(m, WGPEER_A_PUBLIC_KEY, p.publicKey);
  if (continuation) {
    if (p.updateOnly) m.u32(WGPEER_A_FLAGS, WGPEER_F_UPDATE_ONLY);
    return;
  }
  const flags = (p.remove ? WGPEER_F_REMOVE_ME : 0) | (p.replaceAllowedIps ? WGPEER_F_REPLACE_ALLOWEDIPS : 0) |
    (p.updateOnly ? WGPEER_F_UPDATE_ONLY : 0);
  if (flags) m.u32(WGPEER_A_FLAGS, flags);
  if (p.remove) return;
  if (p.presharedKey) putKey(m, WGPEER_A_PRESHARED_KEY, p.presharedKey);
  if (p.endpoint) writeSockaddr(m.reserve(WGPEER_A_ENDPOINT, sockaddrSize(p.endpoint)), p.endpoint);
  if (p.persistentKeepalive !== undefined) m.u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p.persistentKeepalive);
}

/**
 * Encodes one SET request as messages of at most `budget` bytes each, to be sent and ACKed in order. Throws
 * InvalidConfigError for a budget outside 512–65535 or a value the kernel would reject.
 */
export function encodeSetDevice(
  familyId: number,
  dev: DeviceRef,
  update: DeviceUpdate,
  budget = DEFAULT_SET_BUDGET,
): MessageEncoder[] {
  const op = `wireguard set ${describe(dev)}`;
  if (!Number.isInteger(budget) || budget < MIN_SET_BUDGET || budget > MAX_SET_BUDGET) {
    throw new InvalidConfigError(op, `message budget must be ${MIN_SET_BUDGET}–${MAX_SET_BUDGET} bytes`);
  }
  const messages: MessageEncoder[] = [];
  const peers = update.peers;
  let peerIdx = 0;
  let ipIdx = 0; // next allowed-IP entry of peers[peerIdx]
  let continuation = false; // peers[peerIdx] was started in an earlier message
  let entries = peers.length > 0 ? ipEntries(peers[0]) : [];

  do {
    // Sized for the budget plus what one peer head or allowed IP may overshoot it by before being rolled back.
    const m = new MessageEncoder(familyId, 0, op, budget + SET_OVERSHOOT).genl(WG_CMD_SET_DEVICE, WG_GENL_VERSION);
    deviceAttr(m, dev);
    const bare = m.length;
    if (messages.length === 0) {
      if (update.replacePeers) m.u32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
      if (update.privateKey) putKey(m, WGDEVICE_A_PRIVATE_KEY, update.privateKey);
      if (update.listenPort !== undefined) m.u16(WGDEVICE_A_LISTEN_PORT, update.listenPort);
      if (update.fwmark !== undefined) m.u32(WGDEVICE_A_FWMARK, update.fwmark);
    }
    if (m.length > budget) throw new InvalidConfigError(op, "device attributes alone exceed the message budget");
    if (peerIdx < peers.length) {
      const beforePeers = m.mark();
      let count = 0;
      m.nested(WGDEVICE_A_PEERS, () => {
        let full = false;
        while (peerIdx < peers.length && !full) {
          const peerMark = m.mark();
          const p = peers[peerIdx];
          let added = 0;
          m.nested(count + 1, () => {
            writePeerHead(m, p, continuation);
            if (ipIdx >= entries.length) return;
            m.nested(WGPEER_A_ALLOWEDIPS, () => {
              while (ipIdx < entries.length && !full) {
                const ipMark = m.mark();
                m.nested(added + 1, () => writeIp(m, entries[ipIdx]));
                if (m.length > budget) {
                  m.rollback(ipMark);
                  full = true;
                } else {
                  ipIdx++;
                  added++;
                }
              }
            });
          });
          if (m.length > budget || (full && added === 0)) {
            // Not even the peer's head plus one allowed IP fits: this peer starts the next message.
            m.rollback(peerMark);
            full = true;
          } else {
            count++;
            if (full) {
              continuation = true;
            } else {
              peerIdx++;
              ipIdx = 0;
              continuation = false;
              entries = peerIdx < peers.length ? ipEntries(peers[peerIdx]) : [];
            }
          }
        }
      });
      if (count === 0) {
        m.rollback(beforePeers);
        if (m.length === bare && !m.error) {
          throw new InvalidConfigError(op, `peer ${peers[peerIdx].publicKey} does not fit a ${budget}-byte message`);
        }
      }
    }
    if (m.error) throw new InvalidConfigError(op, m.error.message.replace(/^[^:]*: /, ""));
    messages.push(m);
  } while (peerIdx < peers.length);
  return messages;
}

/** A device key (one per device): a copy of its own. */
function deviceKey(kind: KeyKind, d: AttrDecoder, op: string): WireGuardKey | undefined {
  if (d.length !== KEY_LEN) throw new ProtocolError(op, `${kind} key of ${d.length} bytes`);
  return d.isZero() ? undefined : WireGuardKey.fromBytes(kind, d.view());
}

function decodeAllowedIp(d: AttrDecoder, op: string): IpPrefix {
  let family = -1;
  let words: number[] | undefined;
  let cidr = -1;
  while (d.next()) {
    if (d.type === WGALLOWEDIP_A_FAMILY) family = d.u16();
    else if (d.type === WGALLOWEDIP_A_CIDR_MASK) cidr = d.u8();
    else if (d.type === WGALLOWEDIP_A_IPADDR) words = addressWords(d);
  }
  if (d.error) throw d.error;
  const version = family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0;
  if (!version || words?.length !== (version === 4 ? 2 : 8) || cidr < 0 || cidr > (version === 4 ? 32 : 128)) {
    throw new ProtocolError(
      op,
      `allowed IP with family ${family}, ${(words?.length ?? 0) * 2} address bytes, mask ${cidr}`,
    );
  }
  return IpPrefix.fromWords(version, words, cidr, op);
}

/** An IPADDR payload as 16-bit words, read in place (these are the bulk of a dump). */
function addressWords(d: AttrDecoder): number[] {
  const words = new Array<number>(d.length >> 1);
  for (let i = 0; i < words.length; i++) words[i] = d.u16At(2 * i, true);
  return words;
}

/** Field names of peer keys in errors (constants: a default `${kind} key` would build a string per key). */
const KEY_FIELDS: Record<KeyKind, string> = {
  public: "public key",
  private: "private key",
  preshared: "preshared key",
};
/** Placeholder until a peer's allowed IPs are known (never exposed). */
const NO_IPS: IpPrefix[] = [];

/** A u64 traffic counter; zero (idle peers) as the shared literal instead of a new BigInt per attribute. */
function counter(d: AttrDecoder): bigint {
  return d.length === 8 && d.isZero() ? 0n : d.u64();
}

/** WGPEER_A_LAST_HANDSHAKE_TIME (`struct __kernel_timespec`); null when the peer never completed one. */
function handshakeTime(d: AttrDecoder, op: string): Date | null {
  if (d.length !== 16) throw new ProtocolError(op, `handshake time of ${d.length} bytes`);
  if (d.isZero()) return null;
  const sec = d.i64At(0);
  const nsec = d.i64At(8);
  if (sec < 0n || nsec < 0n || nsec > 999_999_999n) throw new ProtocolError(op, "invalid handshake time");
  return new Date(Number(sec * 1000n + nsec / 1_000_000n));
}

/**
 * One dump being decoded into a device. Peer keys are copied into shared 8 KiB chunks (one copy of 32 bytes per
 * key, but one ArrayBuffer per 256 keys instead of one per key: allocating and collecting those dominated decoding
 * large dumps). Peers split across messages are coalesced in linear time through an index on the first bytes of
 * their public key (a number-keyed Map; the rare prefix collisions are told apart by full comparison), which
 * avoids a base64 string per peer.
 */
class DumpDecoder {
  static readonly #CHUNK_KEYS = 256;
  readonly device: DeviceState = { name: "", listenPort: 0, fwmark: 0, peers: [] };
  readonly #op: string;
  readonly #index = new Map<number, PeerState | PeerState[]>();
  #chunk = new Uint8Array(0);
  #at = 0;
  /** Index key of the peer being decoded (from its public key). */
  #prefix = 0;
  /**
   * Allowed IPs of the peer being decoded: `#ips[0, #ipCount)`, a scratch array reused for every peer (each peer gets
   * an exact copy); counted rather than truncated, since setting length 0 gives its storage up every peer.
   */
  #ips: IpPrefix[] = [];
  #ipCount = 0;
  readonly #addPeer = (d: AttrDecoder) => this.#peer(d);
  readonly #addIp = (d: AttrDecoder) => this.#ips[this.#ipCount++] = decodeAllowedIp(d, this.#op);

  constructor(op: string) {
    this.#op = op;
  }

  /** Decodes one message of the dump into {@link device}. */
  message(msg: Message): void {
    const op = this.#op;
    const device = this.device;
    const hdr = decodeGenl(msg.payload, op);
    if (hdr.cmd !== WG_CMD_GET_DEVICE) throw new ProtocolError(op, `unexpected genl command ${hdr.cmd}`);
    const d = attrsAfter(msg.payload, GENL_HDRLEN, op);
    while (d.next()) {
      switch (d.type) {
        case WGDEVICE_A_IFINDEX:
          device.ifindex = d.u32();
          break;
        case WGDEVICE_A_IFNAME:
          device.name = d.string();
          break;
        case WGDEVICE_A_PRIVATE_KEY: {
          const k = deviceKey("private", d, op);
          if (k) device.privateKey = k;
          break;
        }
        case WGDEVICE_A_PUBLIC_KEY: {
          const k = deviceKey("public", d, op);
          if (k) device.publicKey = k;
          break;
        }
        case WGDEVICE_A_LISTEN_PORT:
          device.listenPort = d.u16();
          break;
        case WGDEVICE_A_FWMARK:
          device.fwmark = d.u32();
          break;
        case WGDEVICE_A_PEERS:
          d.array(this.#addPeer);
          break;
      }
    }
    d.done();
  }

  #key(kind: KeyKind, d: AttrDecoder): WireGuardKey {
    if (d.length !== KEY_LEN) throw new ProtocolError(this.#op, `${kind} key of ${d.length} bytes`);
    if (this.#at === this.#chunk.length) {
      this.#chunk = new Uint8Array(KEY_LEN * DumpDecoder.#CHUNK_KEYS);
      this.#at = 0;
    }
    const at = this.#at;
    d.copyTo(this.#chunk, at);
    this.#at += KEY_LEN;
    return WireGuardKey.adopt(kind, this.#chunk.subarray(at, at + KEY_LEN), KEY_FIELDS[kind]);
  }

  /** Decodes one peer nest and adds it to the device, or its allowed IPs to the peer it continues. */
  #peer(d: AttrDecoder): void {
    const op = this.#op;
    const peer: Partial<PeerState> & { allowedIps: IpPrefix[] } = {
      allowedIps: NO_IPS,
      lastHandshake: null,
      rxBytes: 0n,
      txBytes: 0n,
      protocolVersion: 0,
    };
    this.#ipCount = 0;
    while (d.next()) {
      switch (d.type) {
        case WGPEER_A_PUBLIC_KEY:
          this.#prefix = d.u32At(0) & 0x3fffffff; // small integer: the Map's fastest key
          peer.publicKey = this.#key("public", d);
          break;
        case WGPEER_A_PRESHARED_KEY:
          if (d.length !== KEY_LEN) throw new ProtocolError(op, `preshared key of ${d.length} bytes`);
          if (!d.isZero()) peer.presharedKey = this.#key("preshared", d);
          break;
        case WGPEER_A_ENDPOINT: {
          const ep = decodeSockaddr(d.view(), op);
          if (ep) peer.endpoint = ep;
          break;
        }
        case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: {
          const ka = d.u16();
          if (ka > 0) peer.persistentKeepalive = ka;
          break;
        }
        case WGPEER_A_LAST_HANDSHAKE_TIME:
          peer.lastHandshake = handshakeTime(d, op);
          break;
        case WGPEER_A_RX_BYTES:
          peer.rxBytes = counter(d);
          break;
        case WGPEER_A_TX_BYTES:
          peer.txBytes = counter(d);
          break;
        case WGPEER_A_PROTOCOL_VERSION:
          peer.protocolVersion = d.u32();
          break;
        case WGPEER_A_ALLOWEDIPS:
          d.array(this.#addIp);
          break;
      }
    }
    if (d.error) throw d.error;
    if (!peer.publicKey) throw new ProtocolError(op, "peer without public key");
    peer.allowedIps = this.#ips.slice(0, this.#ipCount); // sized exactly (a grown array keeps room for 17)
    this.#coalesce(peer as PeerState);
  }

  #coalesce(peer: PeerState): void {
    const peers = this.device.peers;
    const last = peers[peers.length - 1];
    // The kernel continues a split peer at the start of the next message: check the previous peer first.
    const seen = last?.publicKey.equals(peer.publicKey) ? last : this.#find(peer.publicKey);
    if (seen) {
      for (const ip of peer.allowedIps) seen.allowedIps.push(ip);
      return;
    }
    peers.push(peer);
    const bucket = this.#index.get(this.#prefix);
    if (bucket === undefined) this.#index.set(this.#prefix, peer);
    else if (Array.isArray(bucket)) bucket.push(peer);
    else this.#index.set(this.#prefix, [bucket, peer]);
  }

  #find(key: WireGuardKey): PeerState | undefined {
    const bucket = this.#index.get(this.#prefix);
    if (bucket === undefined) return undefined;
    if (!Array.isArray(bucket)) return bucket.publicKey.equals(key) ? bucket : undefined;
    return bucket.find((p) => p.publicKey.equals(key));
  }
}

/**
 * Decodes the messages of a WG_CMD_GET_DEVICE dump (NLMSG_DONE already removed) into one device, coalescing peers
 * split across messages by public key in linear time. Malformed input throws ProtocolError only. Reads the
 * messages in place; the result shares no memory with them.
 */
export function decodeGetDevice(messages: Message[], op = "wireguard get"): DeviceState {
  const dump = new DumpDecoder(op);
  try {
    for (const msg of messages) dump.message(msg);
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    throw new ProtocolError(op, (e as Error).message.replace(/^[^:]*: /, ""), { cause: e });
  }
  return dump.device;
}
