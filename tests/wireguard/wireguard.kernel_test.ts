/**
 * Kernel backend end to end (qemu kernel tier; skipped on hosts without the WireGuard module): the same scenario as
 * the userspace test, plus a device that moves into a "container" namespace and is configured from inside it, and
 * 10,000 peers set and read back through the real kernel.
 */
import assert from "node:assert/strict";
import { Netns, setLink } from "../../src/netlink/mod.ts";
import { Endpoint } from "../../src/wireguard/addr.ts";
import { openWireGuard } from "../../src/wireguard/client.ts";
import { DeviceNotFoundError } from "../../src/wireguard/errors.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import type { PeerConfig } from "../../src/wireguard/model.ts";
import { skipUnless } from "../helpers/caps.ts";
import { type TestNetns, withNetns } from "../../kit/netns.ts";
import { config, devName, keys, P, ping, type Side, tunnelScenario, underlay } from "./scenario.ts";

const ignore = skipUnless("root", "wireguard-kernel");

/** A side whose kernel device is created by our client in `ns`. */
async function side(ns: TestNetns, addr: string, endpoint: string): Promise<Side> {
  const handle = Netns.byPath(ns.path, ns.name);
  const client = openWireGuard(handle);
  const dev = devName();
  assert.equal(await client.createDevice(dev), "kernel");
  return { ns, handle, client, dev, ...await keys(), addr, endpoint };
}

Deno.test({
  name: "kernel e2e: create, configure, tunnel, minimal changes keep the session",
  ignore,
  fn: () =>
    withNetns(async (nsA, nsB) => {
      const sides: Side[] = [];
      try {
        await underlay(nsA, nsB);
        sides.push(await side(nsA, "10.201.0.1", "10.98.0.1:51820"));
        sides.push(await side(nsB, "10.201.0.2", "10.98.0.2:51820"));
        assert.match(await nsA.ip("-d", "link", "show", sides[0].dev), /wireguard/);
        await tunnelScenario(sides[0], sides[1], "kernel");
        await sides[0].client.deleteDevice(sides[0].dev);
        await assert.rejects(sides[0].client.device(sides[0].dev), DeviceNotFoundError);
      } finally {
        for (const s of sides) s.handle.close();
      }
    }, { count: 2, tag: "wg" }),
});

Deno.test({
  name: "kernel e2e: a device moved into another namespace is configured from inside it",
  ignore,
  fn: () =>
    withNetns(async (nsA, nsB, nsC) => {
      const handles: Netns[] = [];
      try {
        await underlay(nsA, nsB);
        // wgM is born in A (its UDP socket stays there) and moves into the "container" namespace C.
        const [dm, db] = [devName(), devName()];
        const hA = Netns.byPath(nsA.path, nsA.name);
        const hB = Netns.byPath(nsB.path, nsB.name);
        const hC = Netns.byPath(nsC.path, nsC.name);
        handles.push(hA, hB, hC);
        await openWireGuard(hA).createDevice(dm);
        await setLink(hA, dm, { netns: hC });
        await openWireGuard(hB).createDevice(db);
        await assert.rejects(openWireGuard(hA, { backend: "kernel" }).device(dm), DeviceNotFoundError);

        const m: Side = {
          ns: nsC,
          handle: hC,
          client: openWireGuard(hC),
          dev: dm,
          ...await keys(),
          addr: "10.201.0.1",
          endpoint: "10.98.0.1:51821",
        };
        const b: Side = {
          ns: nsB,
          handle: hB,
          client: openWireGuard(hB),
          dev: db,
          ...await keys(),
          addr: "10.201.0.2",
          endpoint: "10.98.0.2:51820",
        };
        const applied = await m.client.apply(dm, config(m, b, b.pub, ["10.201.0.2/32"]));
        assert.equal(applied.backend, "kernel");
        await b.client.apply(db, config(b, m, m.pub, ["10.201.0.1/32"]));
        await nsC.ip("addr", "add", "10.201.0.1/24", "dev", dm);
        await nsC.ip("link", "set", dm, "up");
        await nsB.ip("addr", "add", "10.201.0.2/24", "dev", db);
        await nsB.ip("link", "set", db, "up");
        assert.ok(await ping(nsC, "10.201.0.2"), "ping from the container namespace through the tunnel");
        const udp = async (ns: TestNetns) => (await ns.run("cat", "/proc/net/udp")).includes(":CA6D "); // port 51821
        assert.ok(await udp(nsA) && !(await udp(nsC)), "the UDP socket stays in the birth namespace");
        assert.equal((await m.client.device(dm)).listenPort, 51821);
      } finally {
        for (const h of handles) h.close();
      }
    }, { count: 3, tag: "wg" }),
});

Deno.test({
  name: "kernel e2e: 10,000 peers with 2 allowed IPs each set in chunks and read back exactly",
  ignore,
  fn: () =>
    withNetns(async (ns) => {
      const handle = Netns.byPath(ns.path, ns.name);
      try {
        const dev = devName();
        const client = openWireGuard(handle, { kernel: { budget: 8192 } });
        await client.createDevice(dev);
        const peers: PeerConfig[] = [];
        for (let i = 0; i < 10_000; i++) {
          const k = new Uint8Array(32);
          new DataView(k.buffer).setUint32(0, i + 1);
          peers.push({
            publicKey: WireGuardKey.fromBytes("public", k),
            endpoint: Endpoint.parse(`192.0.2.${i % 250 + 1}:${1000 + i}`),
            allowedIps: P(`10.${i >> 8}.${i & 255}.0/24`, `fd00::${i.toString(16)}/128`),
          });
        }
        const r = await client.apply(dev, { listenPort: 51820, peers });
        assert.equal(r.updates.length, 1);
        const back = await client.device(dev);
        assert.equal(back.peers.length, 10_000);
        assert.deepEqual((await client.apply(dev, { listenPort: 51820, peers })).updates, [], "no drift after set");
      } finally {
        handle.close();
      }
    }, { tag: "wg" }),
});
