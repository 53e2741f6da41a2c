/**
 * Node-level scenario shared by the userspace test (this host, wireguard-go) and the kernel tier: two "host"
 * namespaces joined by a veth (the underlay), each with a "container" namespace. Each side's WgNode creates its
 * device in its host namespace, configures it, moves it into its container, and the tunnel must carry pings.
 * Then changes must produce only the minimal operations and keep the session where they should.
 */
import assert from "node:assert/strict";
import type { WireGuardInterfaceSpec } from "../../../src/api/wireguard_interface.ts";
import { Netns } from "../../../src/netlink/mod.ts";
import { type AgentIdentity, ownerMark } from "../../../src/node/ownership.ts";
import { desiredState, type WgDesired } from "../../../src/node/wireguard/desired.ts";
import { type EnsureResult, WgNode } from "../../../src/node/wireguard/apply.ts";
import { observedStatus, type WgObserved } from "../../../src/node/wireguard/status.ts";
import { Endpoint } from "../../../src/wireguard/addr.ts";
import type { BackendKind } from "../../../src/wireguard/backend.ts";
import { generatePrivateKey, publicKeyOf, WireGuardKey } from "../../../src/wireguard/key.ts";
import { findWireGuardGo } from "../../../src/wireguard/wggo.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../../kit/netns.ts";
import { wg } from "../../helpers/wgtool.ts";
import { ping } from "../../wireguard/scenario.ts";

export { ping };

/** A short random interface name: `wa` + 6 hex. */
export function ifname(): string {
  return `wa${crypto.getRandomValues(new Uint8Array(3)).toHex()}`;
}

/** True if `addr` answers within `ms` (pings repeated). */
export async function pingWithin(ns: TestNetns, addr: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) if (await ping(ns, addr)) return true;
  return false;
}

/** One side: host and container namespaces, node, keys, current spec. */
export interface Side {
  host: TestNetns;
  ctr: TestNetns;
  hostH: Netns;
  ctrH: Netns;
  node: WgNode;
  /** The side's agent (node `n-<tag>`) and its wireguard-go state directory. */
  agent: AgentIdentity;
  stateDir: string;
  owner: string;
  priv: WireGuardKey;
  pub: string;
  spec: WireGuardInterfaceSpec;
}

const parse = {
  endpoint: (t: string, f: string) => Endpoint.parse(t, f),
  publicKey: (t: string, f: string) => WireGuardKey.parse("public", t, f),
};

/** The ownership mark of a side's object. */
export function markOf(s: Side): string {
  return ownerMark(s.agent, s.owner);
}

/** The desired state of a side's current spec. */
export function want(s: Side): WgDesired {
  return desiredState(s.spec, { privateKey: s.priv }, parse);
}

/** Ensures a side's spec in its container. */
export function ensure(s: Side): Promise<EnsureResult> {
  return s.node.ensure(s.owner, want(s), s.ctrH);
}

async function makeSide(tag: string, dir: string, backend: BackendKind): Promise<Side> {
  const host = await createNetns(`wa-${tag}h`);
  const ctr = await createNetns(`wa-${tag}c`);
  const hostH = Netns.byPath(host.path, host.name);
  const ctrH = Netns.byPath(ctr.path, ctr.name);
  const priv = await generatePrivateKey();
  const agent: AgentIdentity = { kind: "wg", node: `n-${tag}`, namespace: "dn42op-wa" };
  const stateDir = `${dir}/${tag}`;
  return {
    host,
    ctr,
    hostH,
    ctrH,
    node: new WgNode(hostH, { agent, backend, wireguardGo: { stateDir } }),
    agent,
    stateDir,
    owner: `dn42op-wa/${tag}`,
    priv,
    pub: (await publicKeyOf(priv)).toBase64(),
    spec: { node: "n", interfaceName: ifname(), moveToContainer: true, peers: [] },
  };
}

/** Runs `fn` with two sides joined by an underlay (10.98.0.1 ↔ 10.98.0.2), removing everything afterwards. */
export async function withSides(backend: BackendKind, fn: (a: Side, b: Side) => Promise<void>): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wa-" });
  const sides: Side[] = [];
  try {
    sides.push(await makeSide("a", stateDir, backend), await makeSide("b", stateDir, backend));
    const [a, b] = sides;
    await a.host.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1", "netns", b.host.name);
    await a.host.ip("addr", "add", "10.98.0.1/24", "dev", "ul0");
    await b.host.ip("addr", "add", "10.98.0.2/24", "dev", "ul1");
    await a.host.ip("link", "set", "ul0", "up");
    await b.host.ip("link", "set", "ul1", "up");
    await fn(a, b);
  } finally {
    for (const s of sides) {
      await s.node.remove(s.owner, s.spec.interfaceName, s.ctrH).catch(() => {});
      s.hostH.close();
      s.ctrH.close();
      await deleteNetns(s.ctr);
      await deleteNetns(s.host);
    }
    await Deno.remove(stateDir, { recursive: true });
  }
}

/** Points a and b at each other: wgp1-style IPv4 ptp addresses, ports 51821/51822, b dials a. */
export function pair(a: Side, b: Side): void {
  a.spec = {
    ...a.spec,
    listenPort: 51821,
    addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
    peers: [{ publicKey: b.pub, allowedIPs: ["0.0.0.0/0", "::/0"] }],
  };
  b.spec = {
    ...b.spec,
    listenPort: 51822,
    addresses: [{ family: "inet", local: "10.4.0.2", peer: "10.4.0.1", prefixlen: 32 }],
    peers: [{
      publicKey: a.pub,
      allowedIPs: ["0.0.0.0/0", "::/0"],
      endpoint: "10.98.0.1:51821",
      persistentKeepalive: 25,
    }],
  };
}

async function handshakeOf(s: Side, peer: string): Promise<number | undefined> {
  const o = await s.node.observe(s.ctrH, s.spec.interfaceName);
  return o?.device?.peers.find((p) => p.publicKey.toBase64() === peer)?.lastHandshake?.getTime();
}

/** An observation's status without the fields that move on their own (peer counters, handshake time). */
function stable(o: WgObserved | undefined) {
  const s = o ? observedStatus(o) : undefined;
  for (const p of s?.wireguard?.peers ?? []) {
    delete p.receive_bytes, delete p.transmit_bytes, delete p.last_handshake_time;
  }
  return s;
}

async function udpPorts(ns: TestNetns): Promise<string> {
  return await ns.run("ss", "-Hulna");
}

/** The whole scenario; `backend` is what the devices must report. */
export async function nodeScenario(a: Side, b: Side, backend: BackendKind): Promise<void> {
  pair(a, b);
  const ra = await ensure(a);
  const rb = await ensure(b);
  for (const [s, r] of [[a, ra], [b, rb]] as const) {
    assert.ok(r.created && r.converged, `created and converged: ${r.actions.join("; ")}`);
    assert.equal(r.observed?.backend, backend);
    assert.equal(r.observed?.link.mtu, 1420);
    const shown = await s.ctr.ip("addr", "show", "dev", s.spec.interfaceName);
    assert.match(shown, /POINTOPOINT/);
    assert.match(shown, /UP/);
    assert.match(shown, new RegExp(`inet ${s === a ? "10.4.0.1 peer 10.4.0.2/32" : "10.4.0.2 peer 10.4.0.1/32"}`));
    await assert.rejects(s.host.ip("link", "show", s.spec.interfaceName), "the link left the host namespace");
  }
  // The UDP sockets stay in the host namespaces (the underlay), not in the containers.
  assert.match(await udpPorts(a.host), /:51821\b/);
  assert.doesNotMatch(await udpPorts(a.ctr), /:51821\b/);
  assert.ok(await ping(a.ctr, "10.4.0.2"), "ping through the tunnel (wgp1 result)");
  const hs = await handshakeOf(a, b.pub);
  assert.ok(hs, "handshake happened");

  // Nothing to do when nothing changed.
  const again = await ensure(a);
  assert.deepEqual(again.actions, []);
  assert.ok(again.converged);
  // ... and the observation it returns (built from its own single reading) is what a fresh one shows.
  assert.deepEqual(stable(again.observed), stable(await a.node.observe(a.ctrH, a.spec.interfaceName)));
  assert.equal(again.observed?.device?.publicKey?.toBase64(), a.pub, "public key derived for the status");

  const sessionKept = async () => {
    assert.equal(await handshakeOf(a, b.pub), hs, "same session (no peer reset)");
    assert.ok(await ping(a.ctr, "10.4.0.2"), "tunnel still up");
  };

  // A second peer: one request touching only that peer.
  const c = (await publicKeyOf(await generatePrivateKey())).toBase64();
  a.spec.peers = [...a.spec.peers!, { publicKey: c, allowedIPs: ["10.203.0.0/24"] }];
  assert.deepEqual((await ensure(a)).actions, [`peer ${c} (+1 allowed IPs)`]);
  await sessionKept();
  a.spec.peers = a.spec.peers.slice(0, 1);
  assert.deepEqual((await ensure(a)).actions, [`remove peer ${c}`]);
  await sessionKept();

  // Addresses and MTU: only link operations.
  a.spec.addresses = [...a.spec.addresses!, { family: "inet6", local: "fd00:4::1", peer: "fd00:4::2", prefixlen: 128 }];
  assert.deepEqual((await ensure(a)).actions, ["add address fd00:4::1 -> fd00:4::2/128"]);
  a.spec.mtu = 1380;
  assert.deepEqual((await ensure(a)).actions, ["set mtu 1380"]);
  assert.match(await a.ctr.ip("link", "show", a.spec.interfaceName), /mtu 1380/);
  await sessionKept();

  // Drift by hand is healed with exactly the repairing operations.
  await a.ctr.ip("addr", "del", "10.4.0.1", "peer", "10.4.0.2/32", "dev", a.spec.interfaceName);
  await a.ctr.ip("link", "set", a.spec.interfaceName, "down");
  await a.ctr.ip("addr", "add", "192.0.2.9/24", "dev", a.spec.interfaceName);
  assert.deepEqual(
    (await ensure(a)).actions,
    // Taking a link down makes the kernel drop its IPv6 addresses (no keep_addr_on_down): re-added too.
    [
      "remove address 192.0.2.9/24",
      "add address 10.4.0.1 -> 10.4.0.2/32",
      "add address fd00:4::1 -> fd00:4::2/128",
      "set up",
    ],
  );
  await wg(a.ctr, a.stateDir, "set", a.spec.interfaceName, "peer", b.pub, "remove");
  assert.deepEqual((await ensure(a)).actions, [`peer ${b.pub} (+2 allowed IPs)`]);
  // a lost the session and b's learned endpoint with the peer; b (which dials a) re-handshakes once its data goes
  // unanswered (WireGuard's ~15 s rekey timeout).
  assert.ok(await pingWithin(b.ctr, "10.4.0.1", 30_000), "tunnel back after the peer was re-added");

  // Key change: a gets a new private key; b learns the new public key. Tunnel works again.
  const oldPub = a.pub;
  a.priv = await generatePrivateKey();
  a.pub = (await publicKeyOf(a.priv)).toBase64();
  assert.deepEqual((await ensure(a)).actions, ["set private key"]);
  b.spec.peers = [{ ...b.spec.peers![0], publicKey: a.pub }];
  const rb2 = await ensure(b);
  assert.equal(rb2.actions.length, 1);
  assert.match(rb2.actions[0], new RegExp(`remove peer ${escape(oldPub)}`));
  assert.ok(await ping(a.ctr, "10.4.0.2"), "tunnel up with the new key");

  // Removal: link gone, wireguard-go stopped.
  const daemon = () => findWireGuardGo(a.spec.interfaceName, { stateDir: a.stateDir });
  assert.equal(!!(await daemon()), backend === "userspace", "a wireguard-go serves the userspace device");
  await a.node.remove(a.owner, a.spec.interfaceName, a.ctrH);
  await assert.rejects(a.ctr.ip("link", "show", a.spec.interfaceName));
  assert.equal(await daemon(), undefined);
  assert.doesNotMatch(await udpPorts(a.host), /:51821\b/);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
