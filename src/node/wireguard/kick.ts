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
 * end usually comes up within a few hundred milliseconds, and each step waits only for the next one (a read of the
 * device when the handshake happened already); sparse later, ending before WireGuard's own retry at 5 s.
 */
export const KICK_DELAYS_MS = [100, 200, 300, 500, 800, 1300, 2100, 3400];

/** The peers that initiate on their own: an endpoint to send to and a keepalive that triggers the first send. */
export function initiators(peers: readonly PeerConfig[]): PeerConfig[] {
  return peers.filter((p) => p.endpoint !== undefined && (p.persistentKeepalive ?? 0) > 0);
}

/** Schedules the kicks for `name`'s initiating peers; returns at once. Timers do not keep the process alive. */
export function kickFirstHandshakes(
  client: WireGuardClient,
  name: string,
  peers: readonly PeerConfig[],
  delaysMs: readonly number[] = KICK_DELAYS_MS,
): void {
  let pending = initiators(peers);
  if (!pending.length) return;
  const start = Date.now();
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
        log.v(4).info("re-added a peer that had no first handshake yet", {
          device: name,
          after_ms: Date.now() - start,
        });
      }
    } catch {
      return; // device gone or replaced: nothing to kick
    }
    if (pending.length && i + 1 < delaysMs.length) schedule(i + 1);
  };
  const schedule = (i: number) =>
    Deno.unrefTimer(setTimeout(() => void step(i), Math.max(0, delaysMs[i] - (Date.now() - start))));
  schedule(0);
}
