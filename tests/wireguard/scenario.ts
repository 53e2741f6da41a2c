/**
 * The end-to-end scenario both backends run (userspace here, kernel in the qemu tier): a tunnel between two
 * namespaces, then changes that must send only the minimal requests and keep the session where they should.
 */
import assert from "node:assert/strict";
import type { Netns } from "../../src/netlink/mod.ts";
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import type { BackendKind } from "../../src/wireguard/backend.ts";
import { describeUpdate, type WireGuardClient } from "../../src/wireguard/client.ts";
import { generatePrivateKey, publicKeyOf, type WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceConfig } from "../../src/wireguard/model.ts";
import type { TestNetns } from "../../kit/netns.ts";
import { readdUpdate } from "../../src/node/wireguard/kick.ts";

/** A short random device name. */
export function devName(): string {
  return `wgt${crypto.getRandomValues(new Uint8Array(2)).toHex()}`;
}

/** Joins `a` and `b` by a veth: 10.98.0.1/24 in `a`, 10.98.0.2/24 in `b`. */
export async function underlay(a: TestNetns, b: TestNetns): Promise<void> {
  await a.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1", "netns", b.name);
  await a.ip("addr", "add", "10.98.0.1/24", "dev", "ul0");
  await b.ip("addr", "add", "10.98.0.2/24", "dev", "ul1");
  await a.ip("link", "set", "ul0", "up");
  await b.ip("link", "set", "ul1", "up");
}

/** True if `addr` answers two pings from `ns`. */
export async function ping(ns: TestNetns, addr: string): Promise<boolean> {
  try {
    await ns.run("ping", "-c", "2", "-i", "0.2", "-W", "2", addr);
    return true;
  } catch {
    return false;
  }
}

/** Prefixes from text. */
export const P = (...t: string[]) => t.map((x) => IpPrefix.parse(x));

/** One end of the tunnel: the device, the namespace it is configured from, and its keys. */
export interface Side {
  /** Namespace where the device sits (and is configured from). */
  ns: TestNetns;
  handle: Netns;
  client: WireGuardClient;
  dev: string;
  priv: WireGuardKey;
  pub: WireGuardKey;
  /** Tunnel address of this side, e.g. 10.201.0.1. */
  addr: string;
  /** Underlay endpoint other sides use to reach this one. */
  endpoint: string;
}

/** Fresh keys for a side. */
export async function keys(): Promise<{ priv: WireGuardKey; pub: WireGuardKey }> {
  const priv = await generatePrivateKey();
  return { priv, pub: await publicKeyOf(priv) };
}

/** Desired state of `self` with one peer `other` owning `otherIps`. */
export function config(self: Side, other: Side, otherPub: WireGuardKey, otherIps: string[]): DeviceConfig {
  return {
    privateKey: self.priv,
    listenPort: Number(self.endpoint.split(":")[1]),
    peers: [{ publicKey: otherPub, endpoint: Endpoint.parse(other.endpoint), allowedIps: P(...otherIps) }],
  };
}

/** Configures both sides, brings the tunnel up and checks it; then runs the minimal-change sequence on `a`. */
export async function tunnelScenario(a: Side, b: Side, backend: BackendKind): Promise<void> {
  const first = await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`]));
  assert.equal(first.backend, backend);
  assert.equal(first.updates.length, 1);
  await b.client.apply(b.dev, config(b, a, a.pub, [`${a.addr}/32`]));
  for (const s of [a, b]) {
    await s.ns.ip("addr", "add", `${s.addr}/24`, "dev", s.dev);
    await s.ns.ip("link", "set", s.dev, "up");
  }
  assert.ok(await ping(a.ns, b.addr), "ping through the tunnel");

  const read = await a.client.device(a.dev);
  assert.ok(read.privateKey?.equals(a.priv));
  assert.ok(read.publicKey === undefined || read.publicKey.equals(a.pub));
  const handshake = read.peers[0].lastHandshake;
  assert.ok(handshake, "handshake happened");

  // Same desired state again: nothing is sent.
  assert.deepEqual((await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`]))).updates, []);

  const sessionKept = async () => {
    const p = (await a.client.device(a.dev)).peers.find((x) => x.publicKey.equals(b.pub));
    assert.equal(p?.lastHandshake?.getTime(), handshake.getTime(), "same handshake (session not reset)");
    assert.ok(await ping(a.ns, b.addr), "tunnel still up");
  };

  // Add an allowed IP: one request, one peer, one prefix; the session is kept.
  const add = await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`, "10.202.0.0/24"]));
  assert.deepEqual(add.updates.map(describeUpdate), [`peer ${b.pub} (+1 allowed IPs)`]);
  await sessionKept();

  // Remove it again without touching the peer's other prefix.
  const removal = await (await a.client.backendFor(a.dev)).allowedIpRemoval(a.dev);
  const remove = await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`]));
  if (removal === "dummy-peer") {
    const dummy = remove.updates[0]?.peers[0]?.publicKey;
    assert.deepEqual(remove.updates.map(describeUpdate), [`peer ${dummy} (+1 allowed IPs)`, `remove peer ${dummy}`]);
  } else {
    assert.deepEqual(remove.updates.map(describeUpdate), [`peer ${b.pub} (-1 allowed IPs)`]);
  }
  const afterRemove = await a.client.device(a.dev);
  assert.equal(afterRemove.peers.length, 1);
  assert.deepEqual(afterRemove.peers[0].allowedIps.map(String), [`${b.addr}/32`]);
  await sessionKept();

  // Add and remove a third peer: one request each, touching only that peer.
  const c = (await keys()).pub;
  const withC = config(a, b, b.pub, [`${b.addr}/32`]);
  withC.peers.push({ publicKey: c, allowedIps: P("10.203.0.0/24"), persistentKeepalive: 25 });
  const addC = await a.client.apply(a.dev, withC);
  assert.deepEqual(addC.updates.map(describeUpdate), [`peer ${c} (keepalive 25, +1 allowed IPs)`]);
  assert.equal((await a.client.device(a.dev)).peers.length, 2);
  const delC = await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`]));
  assert.deepEqual(delC.updates.map(describeUpdate), [`remove peer ${c}`]);
  await sessionKept();

  // Key rotation of B: B changes its private key, A swaps the peer entry (the prefix moves with it).
  const oldPub = b.pub;
  ({ priv: b.priv, pub: b.pub } = await keys());
  const rotB = await b.client.apply(b.dev, config(b, a, a.pub, [`${a.addr}/32`]));
  assert.deepEqual(rotB.updates.map(describeUpdate), ["set private key"]);
  const rotA = await a.client.apply(a.dev, config(a, b, b.pub, [`${b.addr}/32`]));
  assert.equal(rotA.updates.length, 1);
  assert.deepEqual(
    new Set(describeUpdate(rotA.updates[0]).split("; ")),
    new Set([`remove peer ${oldPub}`, `peer ${b.pub} (endpoint ${b.endpoint}, +1 allowed IPs)`]),
  );
  assert.ok(await ping(a.ns, b.addr), "tunnel up again with the new key");
  assert.ok((await b.client.device(b.dev)).privateKey?.equals(b.priv));

  // The first-handshake kick's re-add (src/node/wireguard/kick.ts): the peer's removal and addition in one request
  // leave it configured as before with its session reset, and the next packet brings a new handshake.
  const peerB = { publicKey: b.pub, endpoint: Endpoint.parse(b.endpoint), allowedIps: P(`${b.addr}/32`) };
  await a.client.configure(a.dev, readdUpdate(peerB));
  const readded = (await a.client.device(a.dev)).peers;
  assert.equal(readded.length, 1, "one peer after the re-add");
  assert.ok(readded[0].publicKey.equals(b.pub));
  assert.equal(readded[0].endpoint?.toString(), b.endpoint);
  assert.deepEqual(readded[0].allowedIps.map(String), [`${b.addr}/32`]);
  assert.equal(readded[0].lastHandshake, null, "the session was reset");
  assert.ok(await ping(a.ns, b.addr), "tunnel up again after the re-add");
  assert.ok((await a.client.device(a.dev)).peers[0].lastHandshake, "a new handshake");

  // Secrets never appear in what would be logged.
  for (const u of [...first.updates, ...rotB.updates]) {
    const text = describeUpdate(u) + JSON.stringify(u) + Deno.inspect(u, { depth: 10 });
    for (const k of [a.priv, b.priv]) assert.ok(!text.includes(k.toBase64()) && !text.includes(k.toHex()));
  }
}
