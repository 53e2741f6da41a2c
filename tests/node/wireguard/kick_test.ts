/**
 * The first-handshake kick: which peers it re-adds (those that initiate on their own: endpoint and keepalive), and
 * that it re-adds them at each step until their handshake, then stops (a fake device in place of wireguard-go).
 */
import assert from "node:assert/strict";
import { initiators, kickFirstHandshakes } from "../../../src/node/wireguard/kick.ts";
import { Endpoint, IpPrefix } from "../../../src/wireguard/addr.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import type { DeviceState, DeviceUpdate, PeerConfig } from "../../../src/wireguard/model.ts";

Deno.test("kick: only peers with an endpoint and a keepalive initiate", async () => {
  const key = async () => await publicKeyOf(await generatePrivateKey());
  const allowedIps = [IpPrefix.parse("0.0.0.0/0")];
  const endpoint = Endpoint.parse("192.168.65.3:52820");
  const table: [string, PeerConfig, boolean][] = [
    ["endpoint + keepalive 25", { publicKey: await key(), endpoint, persistentKeepalive: 25, allowedIps }, true],
    ["endpoint, no keepalive", { publicKey: await key(), endpoint, allowedIps }, false],
    ["endpoint, keepalive 0", { publicKey: await key(), endpoint, persistentKeepalive: 0, allowedIps }, false],
    ["keepalive, no endpoint", { publicKey: await key(), persistentKeepalive: 25, allowedIps }, false],
    ["neither", { publicKey: await key(), allowedIps }, false],
  ];
  const picked = initiators(table.map(([, p]) => p));
  for (const [what, p, want] of table) assert.equal(picked.includes(p), want, what);
});

/** A device whose peer gets its handshake at the `handshakeAt`-th read (never when undefined); records re-adds. */
function fakeDevice(peer: PeerConfig, handshakeAt?: number, goneAt?: number) {
  let reads = 0;
  const sets: DeviceUpdate[][] = [];
  const setAt: number[] = [];
  return {
    sets,
    setAt,
    reads: () => reads,
    device(name: string): Promise<DeviceState> {
      reads++;
      if (reads === goneAt) return Promise.reject(new Error(`${name}: no such device`));
      const lastHandshake = handshakeAt !== undefined && reads >= handshakeAt ? new Date() : null;
      return Promise.resolve({
        name,
        listenPort: 51800,
        fwmark: 0,
        peers: [{ ...peer, lastHandshake, rxBytes: 0n, txBytes: 0n, protocolVersion: 1 }],
      });
    },
    configure(_name: string, ...updates: DeviceUpdate[]): Promise<void> {
      sets.push(updates);
      setAt.push(performance.now());
      return Promise.resolve();
    },
  };
}

/** A peer that initiates on its own (endpoint and keepalive), with its parts. */
async function initiatingPeer() {
  const allowedIps = [IpPrefix.parse("0.0.0.0/0")];
  const endpoint = Endpoint.parse("192.168.65.3:52820");
  const publicKey = await publicKeyOf(await generatePrivateKey());
  const peer: PeerConfig = { publicKey, endpoint, persistentKeepalive: 25, allowedIps };
  return { allowedIps, endpoint, publicKey, peer };
}

/** Runs `fn` while an interval keeps the test alive: the kick's timers do not keep a process alive (by design). */
async function keptAlive(fn: () => Promise<void>): Promise<void> {
  const alive = setInterval(() => {}, 1000);
  try {
    await fn();
  } finally {
    clearInterval(alive);
  }
}

Deno.test("kick: re-adds an initiating peer in one request at each step until its handshake, then stops", async () => {
  const { allowedIps, endpoint, publicKey, peer } = await initiatingPeer();
  const delays = [1, 2, 3, 4, 5];
  // [case, handshake at read n, device gone at read n, re-adds, reads]
  const table: [string, number | undefined, number | undefined, number, number][] = [
    ["handshake at the third read: two re-adds", 3, undefined, 2, 3],
    ["handshake before the first read: none", 1, undefined, 0, 1],
    ["never a handshake: one re-add per step", undefined, undefined, delays.length, delays.length],
    ["device gone at the second read: the kick ends", undefined, 2, 1, 2],
  ];
  await keptAlive(cases);
  async function cases() {
    for (const [what, handshakeAt, goneAt, readds, reads] of table) {
      const dev = fakeDevice(peer, handshakeAt, goneAt);
      assert.equal(await kickFirstHandshakes(dev, "wg0", [peer], { delaysMs: delays, minGapMs: 0 }), readds, what);
      assert.equal(dev.reads(), reads, `${what}: reads`);
      for (const updates of dev.sets) {
        assert.equal(updates.length, 1, `${what}: one request (nobody sees the device without the peer)`);
        const [remove, add] = updates[0].peers;
        assert.deepEqual(remove, { publicKey, remove: true }, `${what}: removed first`);
        assert.ok(add.publicKey.equals(publicKey) && !add.remove, `${what}: then added`);
        assert.deepEqual(add.endpoint, endpoint, `${what}: added again with its endpoint`);
        assert.equal(add.persistentKeepalive, 25, `${what}: and its keepalive`);
      }
    }
    const passive = fakeDevice({ publicKey, allowedIps });
    assert.equal(
      await kickFirstHandshakes(passive, "wg0", [{ publicKey, allowedIps }], { delaysMs: delays, minGapMs: 0 }),
      0,
      "no initiator",
    );
    assert.equal(passive.reads(), 0, "no initiator: the device is not read");
  }
});

Deno.test("kick: re-adds of one device are never closer than the least gap, however dense the steps", async () => {
  // A responder ignores initiations from one peer closer than 20 ms apart: steps 1 ms apart must not send them.
  const { peer } = await initiatingPeer();
  await keptAlive(async () => {
    const dev = fakeDevice(peer);
    const gapMs = 15;
    const since = Date.now();
    const t0 = performance.now();
    assert.equal(await kickFirstHandshakes(dev, "wg0", [peer], { since, delaysMs: [1, 2, 3, 4], minGapMs: gapMs }), 4);
    const gaps = [dev.setAt[0] - t0, ...dev.setAt.slice(1).map((t, i) => t - dev.setAt[i])]; // the first from `since`
    assert.ok(gaps.every((g) => g >= gapMs - 1), `gaps ${gaps.map((g) => g.toFixed(1)).join(", ")} ms`);
  });
});

Deno.test("kick: the steps count from when the peers were configured, not from when the kick was called", async () => {
  // A device configured long before the kick (its creation, move and link setup took a while) is kicked at once.
  const { peer } = await initiatingPeer();
  await keptAlive(async () => {
    const dev = fakeDevice(peer, 2);
    const t0 = performance.now();
    const readds = await kickFirstHandshakes(dev, "wg0", [peer], {
      since: Date.now() - 10_000,
      delaysMs: [5_000, 6_000],
    });
    assert.equal(readds, 1);
    assert.ok(dev.setAt[0] - t0 < 2_500, `re-added after ${(dev.setAt[0] - t0).toFixed(0)} ms, not 5 s after the call`);
  });
});
