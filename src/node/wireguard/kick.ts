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
import type { PeerConfig } from "../../wireguard/model.ts";

const log = logger("node", "wireguard", "kick");

/**
 * Delays after the device came up at which a peer still without a handshake is re-added. Dense at first: the other
 * end usually comes up within a few hundred milliseconds, and the handshake follows the first kick after it listens
 * (bench:converge measured the 100 ms steps this had before as up to 100 ms of waiting on the way to the first ping;
 * a step costs one read of the device, and a re-add only while there is no handshake); sparse later, ending before
 * WireGuard's own retry at 5 s.
 */
export const KICK_DELAYS_MS = [25, 50, 75, 100, 150, 200, 300, 500, 800, 1300, 2100, 3400];

/** The peers that initiate on their own: an endpoint to send to and a keepalive that triggers the first send. */
export function initiators(peers: readonly PeerConfig[]): PeerConfig[] {
  return peers.filter((p) => p.endpoint !== undefined && (p.persistentKeepalive ?? 0) > 0);
}

/**
 * Schedules the kicks for `name`'s initiating peers and returns at once; the promise settles when the kicks are
 * over (callers need not wait for it) with how many re-adds were made. Timers do not keep the process alive.
 */
export function kickFirstHandshakes(
  client: Pick<WireGuardClient, "device" | "configure">,
  name: string,
  peers: readonly PeerConfig[],
  delaysMs: readonly number[] = KICK_DELAYS_MS,
): Promise<number> {
  let pending = initiators(peers);
  if (!pending.length) return Promise.resolve(0);
  const start = Date.now();
  let readds = 0;
  const { promise, resolve } = Promise.withResolvers<number>();
  const step = async (i: number) => {
    try {
      const dev = await client.device(name);
      pending = pending.filter((p) => {
        const s = dev.peers.find((q) => q.publicKey.equals(p.publicKey));
        return s !== undefined && s.lastHandshake === null;
      });
      for (const p of pending) {
        await client.configure(name, { peers: [{ publicKey: p.publicKey, remove: true }] }, {
          peers: [{
            publicKey: p.publicKey,
            presharedKey: p.presharedKey,
            endpoint: p.endpoint,
            persistentKeepalive: p.persistentKeepalive,
            allowedIps: p.allowedIps,
          }],
        });
        readds++;
        log.v(4).info("re-added a peer that had no first handshake yet", {
          device: name,
          after_ms: Date.now() - start,
        });
      }
    } catch {
      return resolve(readds); // device gone or replaced: nothing to kick
    }
    if (pending.length && i + 1 < delaysMs.length) schedule(i + 1);
    else resolve(readds);
  };
  const schedule = (i: number) =>
    Deno.unrefTimer(setTimeout(() => void step(i), Math.max(0, delaysMs[i] - (Date.now() - start))));
  schedule(0);
  return promise;
}
