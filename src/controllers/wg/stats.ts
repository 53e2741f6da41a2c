/**
 * Peer counters (latest handshake, bytes) change on every poll of a live tunnel; writing them each time would make
 * 1000 interfaces a write storm. They are published at most once per interval per object; every other status
 * change (conditions, generation, endpoint, peers, keys, link facts) is written at once.
 */
import { isDeepStrictEqual } from "node:util";
import type { WireGuardInterfaceStatus } from "../../api/wireguard_interface.ts";

type Device = NonNullable<WireGuardInterfaceStatus["wireguard"]>;

/**
 * `next` with each peer's counters as `previous` had them (peers matched by public key). New peers and a peer's
 * first handshake (the tunnel came up) keep their fresh counters.
 */
export function withPreviousCounters(next: Device | undefined, previous: Device | undefined): Device | undefined {
  if (!next?.peers || !previous?.peers) return next;
  const old = new Map(previous.peers.map((p) => [p.public_key, p]));
  return {
    ...next,
    peers: next.peers.map((p) => {
      const o = old.get(p.public_key);
      if (!o || (o.last_handshake_time === undefined && p.last_handshake_time !== undefined)) return p;
      const { last_handshake_time: _h, receive_bytes: _r, transmit_bytes: _t, ...rest } = p;
      return {
        ...rest,
        ...(o.last_handshake_time !== undefined ? { last_handshake_time: o.last_handshake_time } : {}),
        ...(o.receive_bytes !== undefined ? { receive_bytes: o.receive_bytes } : {}),
        ...(o.transmit_bytes !== undefined ? { transmit_bytes: o.transmit_bytes } : {}),
      };
    }),
  };
}

/** Per object: when its counters were last published; decides whether fresh counters may be written now. */
export class CounterThrottle {
  readonly #publishedAt = new Map<string, number>();

  /** `intervalMs` 0 publishes counters whenever they change. */
  constructor(readonly intervalMs: number, private readonly now: () => number = () => performance.now()) {}

  /**
   * The device status to write for `key`: `next` when its counters may be published (recording the time), else
   * `next` with the stored counters, so a status whose only change is counters equals the stored one.
   */
  device(key: string, next: Device | undefined, stored: Device | undefined): Device | undefined {
    const held = withPreviousCounters(next, stored);
    if (isDeepStrictEqual(held, next)) return next; // counters unchanged
    const last = this.#publishedAt.get(key);
    const t = this.now();
    if (last !== undefined && t - last < this.intervalMs) return held;
    this.#publishedAt.set(key, t);
    return next;
  }

  /** Forgets `key` (its object is gone). */
  forget(key: string): void {
    this.#publishedAt.delete(key);
  }
}
