/**
 * First-handshake kick for new devices. Two node agents bring the two ends of a tunnel up independently; when the
 * initiating end (a peer with an endpoint and a keepalive, e.g. the side behind NAT) comes up before the other end
 * listens, its first initiation is lost and WireGuard rate-limits further ones until REKEY_TIMEOUT (5 s) has passed.
 * Re-adding such a peer resets its handshake state, so its keepalive sends a fresh initiation at once. The kick runs
 * in the background a few times after the device came up and stops at the first handshake, when the device or
 * peer is gone, or after the last delay (WireGuard's own retry takes over from there).
 */
import { logger } from "../../log/mod.ts";
import type { WireGuardClient } from "../../wireguard/client.ts";
import type { DeviceUpdate, PeerConfig } from "../../wireguard/model.ts";

const log = logger("node", "wireguard", "kick");

/**
 * Delays after the device came up at which a peer still without a handshake is re-added. Dense at first: the other
 * end usually comes up within a few hundred milliseconds, and the handshake follows the first kick after it listens
 * (bench:converge measured the 100 ms steps this had before as up to 100 ms of waiting on the way to the first ping;
 * a step costs one read of the device, and a re-add only while there is no handshake); sparse later, ending before
 * WireGuard's own retry at 5 s. Each re-add starts a new handshake and discards the one in flight, so while the steps
 * are closer than the round trip to the other end they delay its answer; the growing steps bound that delay to about
 * twice the round trip.
 */
export const KICK_DELAYS_MS = [25, 50, 75, 100, 150, 200, 300, 500, 800, 1300, 2100, 3400];

/**
 * The least time between two re-adds of one peer, however late the previous step ran: a responder ignores an
 * initiation that comes within 20 ms of the last one it took from the same peer (docs/wireguard-handshakes.md), so a
 * closer one would be lost and would also have discarded the handshake the previous one started.
 */
export const KICK_MIN_GAP_MS = 30;

/** The peers that initiate on their own: an endpoint to send to and a keepalive that triggers the first send. */
export function initiators(peers: readonly PeerConfig[]): PeerConfig[] {
  return peers.filter((p) => p.endpoint !== undefined && (p.persistentKeepalive ?? 0) > 0);
}

/**
 * The update that re-adds `p`: its removal and its addition in one request, so that nobody reading the device in
 * between (a reconcile of the same object) sees it without the peer and adds it a second time.
 */
export function readdUpdate(p: PeerConfig): DeviceUpdate {
  return {
    peers: [{ publicKey: p.publicKey, remove: true }, {
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      endpoint: p.endpoint,
      persistentKeepalive: p.persistentKeepalive,
      allowedIps: p.allowedIps,
    }],
  };
}

/** When and how often {@link kickFirstHandshakes} re-adds. */
export interface KickOptions {
  /**
   * When (Date.now()) the peers were configured, i.e. sent their first initiation: the delays count from then, and
   * the first re-add keeps the least gap to it. Default: now.
   */
  since?: number;
  delaysMs?: readonly number[];
  minGapMs?: number;
}

/**
 * Schedules the kicks for `name`'s initiating peers and returns at once; the promise settles when the kicks are
 * over (callers need not wait for it) with how many re-adds were made. Timers do not keep the process alive.
 */
export function kickFirstHandshakes(
  client: Pick<WireGuardClient, "device" | "configure">,
  name: string,
  peers: readonly PeerConfig[],
  opts: KickOptions = {},
): Promise<number> {
  const { delaysMs = KICK_DELAYS_MS, minGapMs = KICK_MIN_GAP_MS } = opts;
  let pending = initiators(peers);
  if (!pending.length) return Promise.resolve(0);
  const start = opts.since ?? Date.now();
  let readds = 0;
  let lastReadd = start; // the configuration sent the first initiation
  const { promise, resolve } = Promise.withResolvers<number>();
  const step = async (i: number) => {
    try {
      const dev = await client.device(name);
      pending = pending.filter((p) => {
        const s = dev.peers.find((q) => q.publicKey.equals(p.publicKey));
        return s !== undefined && s.lastHandshake === null;
      });
      if (pending.length) {
        await client.configure(name, { peers: pending.flatMap((p) => readdUpdate(p).peers) });
        lastReadd = Date.now();
        readds += pending.length;
        log.v(4).info("re-added peers that had no first handshake yet", {
          device: name,
          peers: pending.length,
          after_ms: lastReadd - start,
        });
      }
    } catch {
      return resolve(readds); // device gone or replaced: nothing to kick
    }
    if (pending.length && i + 1 < delaysMs.length) schedule(i + 1);
    else resolve(readds);
  };
  const schedule = (i: number) => {
    const at = Math.max(start + delaysMs[i], lastReadd + minGapMs);
    Deno.unrefTimer(setTimeout(() => void step(i), Math.max(0, at - Date.now())));
  };
  schedule(0);
  return promise;
}
