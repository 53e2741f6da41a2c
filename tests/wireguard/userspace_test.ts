/**
 * End to end with wireguard-go: two throwaway namespaces joined by a veth, one wireguard-go in each, configured by
 * our client through namespace handles of the netlink layer. Checks the tunnel, then that each later change sends
 * only the minimal requests and keeps the session (no re-handshake) where it should.
 */
import assert from "node:assert/strict";
import { Netns } from "../../src/netlink/mod.ts";
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { ApplyError, describeUpdate, openWireGuard, type WireGuardClient } from "../../src/wireguard/client.ts";
import { DeviceNotFoundError, UapiError } from "../../src/wireguard/errors.ts";
import { generatePrivateKey, publicKeyOf, type WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceConfig, DeviceUpdate } from "../../src/wireguard/model.ts";
import { uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { findWireGuardGo } from "../../src/wireguard/wggo.ts";
import { skipUnless } from "../helpers/caps.ts";
import { type TestNetns, withNetns } from "../helpers/netns.ts";

const ignore = skipUnless("root", "wireguard-go");

function devName(): string {
  return `wgt${crypto.getRandomValues(new Uint8Array(2)).toHex()}`;
}

/** Two namespaces with a veth between them: 10.98.0.1/24 in `a`, 10.98.0.2/24 in `b`. */
async function underlay(a: TestNetns, b: TestNetns): Promise<void> {
  await a.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1", "netns", b.name);
  await a.ip("addr", "add", "10.98.0.1/24", "dev", "ul0");
  await b.ip("addr", "add", "10.98.0.2/24", "dev", "ul1");
  await a.ip("link", "set", "ul0", "up");
  await b.ip("link", "set", "ul1", "up");
}

async function ping(ns: TestNetns, addr: string): Promise<boolean> {
  try {
    await ns.run("ping", "-c", "2", "-i", "0.2", "-W", "2", addr);
    return true;
  } catch {
    return false;
  }
}

interface Side {
  ns: TestNetns;
  handle: Netns;
  client: WireGuardClient;
  dev: string;
  priv: WireGuardKey;
  pub: WireGuardKey;
}

async function side(ns: TestNetns, stateDir: string): Promise<Side> {
  const handle = Netns.byPath(ns.path, ns.name);
  const client = openWireGuard(handle, { userspace: { stateDir } });
  const dev = devName();
  await client.userspace.createDevice(dev);
  const priv = await generatePrivateKey();
  return { ns, handle, client, dev, priv, pub: await publicKeyOf(priv) };
}

async function teardown(s: Side | undefined): Promise<void> {
  if (!s) return;
  await s.client.userspace.deleteDevice(s.dev).catch(() => {});
  s.handle.close();
}

const P = (...t: string[]) => t.map((x) => IpPrefix.parse(x));

function config(self: Side, other: Side, otherPub: WireGuardKey, otherIps: string[]): DeviceConfig {
  return {
    privateKey: self.priv,
    listenPort: 51820,
    peers: [{
      publicKey: otherPub,
      endpoint: Endpoint.parse(endpoints.get(other.ns.name)!),
      allowedIps: P(...otherIps),
    }],
  };
}

/** Underlay endpoint of each namespace's daemon. */
const endpoints = new Map<string, string>();

Deno.test({
  name: "userspace e2e: tunnel between namespaces, then minimal changes keep the session",
  ignore,
  fn: () =>
    withNetns(async (nsA, nsB) => {
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wg-" });
      let a: Side | undefined;
      let b: Side | undefined;
      try {
        await underlay(nsA, nsB);
        endpoints.set(nsA.name, "10.98.0.1:51820");
        endpoints.set(nsB.name, "10.98.0.2:51820");
        a = await side(nsA, stateDir);
        b = await side(nsB, stateDir);

        // The TUN link lives in the namespace the daemon was started in.
        assert.match(await nsA.ip("link", "show", a.dev), new RegExp(a.dev));
        assert.match(await nsB.ip("link", "show", b.dev), new RegExp(b.dev));

        const first = await a.client.apply(a.dev, config(a, b, b.pub, ["10.201.0.2/32"]));
        assert.equal(first.backend, "userspace");
        assert.equal(first.updates.length, 1);
        await b.client.apply(b.dev, config(b, a, a.pub, ["10.201.0.1/32"]));
        await nsA.ip("addr", "add", "10.201.0.1/24", "dev", a.dev);
        await nsA.ip("link", "set", a.dev, "up");
        await nsB.ip("addr", "add", "10.201.0.2/24", "dev", b.dev);
        await nsB.ip("link", "set", b.dev, "up");
        assert.ok(await ping(nsA, "10.201.0.2"), "ping through the tunnel");

        const read = await a.client.device(a.dev);
        assert.ok(read.privateKey?.equals(a.priv));
        assert.equal(read.listenPort, 51820);
        const handshake = read.peers[0].lastHandshake;
        assert.ok(handshake, "handshake happened");

        // Same desired state again: nothing is sent.
        assert.deepEqual((await a.client.apply(a.dev, config(a, b, b.pub, ["10.201.0.2/32"]))).updates, []);

        // Add an allowed IP: one request, one peer, one prefix; the session is kept.
        const sessionKept = async () => {
          const p = (await a!.client.device(a!.dev)).peers.find((x) => x.publicKey.equals(b!.pub));
          assert.equal(p?.lastHandshake?.getTime(), handshake.getTime(), "same handshake (session not reset)");
          assert.ok(await ping(nsA, "10.201.0.2"), "tunnel still up");
        };
        const add = await a.client.apply(a.dev, config(a, b, b.pub, ["10.201.0.2/32", "10.202.0.0/24"]));
        assert.deepEqual(add.updates.map(describeUpdate), [`peer ${b.pub} (+1 allowed IPs)`]);
        await sessionKept();

        // Remove it again: this wireguard-go cannot remove single prefixes, so they go to a dummy peer that is
        // then removed; the real peer keeps its other prefix and its session.
        const removal = await a.client.userspace.allowedIpRemoval(a.dev);
        const remove = await a.client.apply(a.dev, config(a, b, b.pub, ["10.201.0.2/32"]));
        if (removal === "dummy-peer") {
          assert.equal(remove.updates.length, 2);
          const dummy = remove.updates[0].peers[0].publicKey;
          assert.deepEqual(remove.updates.map(describeUpdate), [
            `peer ${dummy} (+1 allowed IPs)`,
            `remove peer ${dummy}`,
          ]);
        } else {
          assert.deepEqual(remove.updates.map(describeUpdate), [`peer ${b.pub} (-1 allowed IPs)`]);
        }
        const afterRemove = await a.client.device(a.dev);
        assert.equal(afterRemove.peers.length, 1);
        assert.deepEqual(afterRemove.peers[0].allowedIps.map(String), ["10.201.0.2/32"]);
        await sessionKept();

        // Add and remove a third peer: one request each, touching only that peer.
        const c = await publicKeyOf(await generatePrivateKey());
        const withC = config(a, b, b.pub, ["10.201.0.2/32"]);
        withC.peers.push({ publicKey: c, allowedIps: P("10.203.0.0/24"), persistentKeepalive: 25 });
        const addC = await a.client.apply(a.dev, withC);
        assert.deepEqual(addC.updates.map(describeUpdate), [`peer ${c} (keepalive 25, +1 allowed IPs)`]);
        assert.equal((await a.client.device(a.dev)).peers.length, 2);
        const delC = await a.client.apply(a.dev, config(a, b, b.pub, ["10.201.0.2/32"]));
        assert.deepEqual(delC.updates.map(describeUpdate), [`remove peer ${c}`]);
        await sessionKept();

        // Key rotation of B: B changes its private key, A swaps the peer entry (the prefix moves with it).
        const newPriv = await generatePrivateKey();
        const newPub = await publicKeyOf(newPriv);
        b.priv = newPriv;
        const rotB = await b.client.apply(b.dev, config(b, a, a.pub, ["10.201.0.1/32"]));
        assert.deepEqual(rotB.updates.map(describeUpdate), ["set private key"]);
        const rotA = await a.client.apply(a.dev, config(a, b, newPub, ["10.201.0.2/32"]));
        assert.equal(rotA.updates.length, 1);
        assert.deepEqual(
          new Set(describeUpdate(rotA.updates[0]).split("; ")),
          new Set([`remove peer ${b.pub}`, `peer ${newPub} (endpoint 10.98.0.2:51820, +1 allowed IPs)`]),
        );
        assert.ok(await ping(nsA, "10.201.0.2"), "tunnel up again with the new key");
        assert.ok((await b.client.device(b.dev)).privateKey?.equals(newPriv));

        // Secrets never appear in what would be logged.
        for (const u of [...first.updates, ...rotB.updates]) {
          const text = describeUpdate(u) + JSON.stringify(u) + Deno.inspect(u);
          assert.ok(!text.includes(a.priv.toBase64()) && !text.includes(newPriv.toBase64()));
          assert.ok(!text.includes(a.priv.toHex()) && !text.includes(newPriv.toHex()));
        }
      } finally {
        await teardown(a);
        await teardown(b);
        await Deno.remove(stateDir, { recursive: true });
      }
    }, { count: 2, tag: "wg" }),
});

Deno.test({
  name: "userspace e2e: a failing request reports what was applied (UAPI is not transactional)",
  ignore,
  fn: () =>
    withNetns(async (ns) => {
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wg-" });
      let one: Side | undefined;
      let two: Side | undefined;
      try {
        one = await side(ns, stateDir);
        two = await side(ns, stateDir);
        await one.client.apply(one.dev, { listenPort: 51999, peers: [] });
        const peer = await publicKeyOf(await generatePrivateKey());
        // The private key line is applied before listen_port fails with EADDRINUSE; the peer after it is not.
        const update: DeviceUpdate = {
          privateKey: two.priv,
          listenPort: 51999,
          peers: [{ publicKey: peer, allowedIps: P("10.0.0.0/8") }],
        };
        await assert.rejects(two.client.configure(two.dev, update), (e: unknown) => {
          assert.ok(e instanceof ApplyError);
          assert.equal(e.applied, 0);
          assert.ok(e.cause instanceof UapiError && e.cause.errno === 98, String(e.cause));
          assert.ok(e.state?.privateKey?.equals(two!.priv), "partially applied");
          assert.notEqual(e.state?.listenPort, 51999);
          assert.equal(e.state?.peers.length, 0);
          assert.ok(!e.message.includes(two!.priv.toHex()));
          return true;
        });
      } finally {
        await teardown(one);
        await teardown(two);
        await Deno.remove(stateDir, { recursive: true });
      }
    }, { tag: "wg" }),
});

Deno.test({
  name: "userspace e2e: adopt after restart, stop by PID, missing device is typed",
  ignore,
  fn: () =>
    withNetns(async (ns) => {
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wg-" });
      const handle = Netns.byPath(ns.path, ns.name);
      const dev = devName();
      try {
        const first = openWireGuard(handle, { userspace: { stateDir } });
        const started = await first.userspace.createDevice(dev);
        await first.apply(dev, { listenPort: 51820, peers: [] });

        // A fresh client (as after a restart of ours) adopts the running daemon instead of starting another.
        const second = openWireGuard(handle, { userspace: { stateDir } });
        const adopted = await second.userspace.createDevice(dev);
        assert.equal(adopted.pid, started.pid);
        assert.equal((await second.device(dev)).listenPort, 51820);
        // Adoption checks the namespace: the daemon is not found when asked for another one.
        assert.equal(await findWireGuardGo(dev, { stateDir, netnsPath: "/proc/self/ns/net" }), undefined);

        await second.userspace.deleteDevice(dev);
        await assert.rejects(
          Deno.lstat(`/proc/${started.pid}/cmdline`).then(async () => {
            const s = await Deno.readTextFile(`/proc/${started.pid}/stat`);
            if (!/\) Z/.test(s)) throw new Error("still running");
            throw new Deno.errors.NotFound("zombie");
          }),
        );
        await assert.rejects(Deno.lstat(uapiSocketPath(dev)), Deno.errors.NotFound);
        await assert.rejects(second.device(dev), DeviceNotFoundError);
        assert.equal(await ns.ip("link", "show").then((t) => t.includes(dev)), false, "TUN link gone");
      } finally {
        await openWireGuard(handle, { userspace: { stateDir } }).userspace.deleteDevice(dev).catch(() => {});
        handle.close();
        await Deno.remove(stateDir, { recursive: true });
      }
    }, { tag: "wg" }),
});
