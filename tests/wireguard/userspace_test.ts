/**
 * End to end with wireguard-go: two throwaway namespaces joined by a veth, one wireguard-go in each, configured by
 * our client through namespace handles of the netlink layer (scenario.ts, shared with the kernel tier).
 */
import assert from "node:assert/strict";
import { Netns } from "../../src/netlink/mod.ts";
import { ApplyError, openWireGuard } from "../../src/wireguard/client.ts";
import { DeviceNotFoundError, UapiError } from "../../src/wireguard/errors.ts";
import type { DeviceUpdate } from "../../src/wireguard/model.ts";
import { uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { findWireGuardGo } from "../../src/wireguard/wggo.ts";
import { skipUnless } from "../helpers/caps.ts";
import { type TestNetns, withNetns } from "../../kit/netns.ts";
import { devName, keys, P, type Side, tunnelScenario, underlay } from "./scenario.ts";

const ignore = skipUnless("root", "wireguard-go");

/** A side whose device is a wireguard-go started in `ns`. */
async function side(ns: TestNetns, stateDir: string, addr = "", endpoint = ""): Promise<Side> {
  const handle = Netns.byPath(ns.path, ns.name);
  const client = openWireGuard(handle, { userspace: { stateDir } });
  const dev = devName();
  try {
    assert.equal(await client.createDevice(dev), "userspace");
  } catch (e) {
    handle.close();
    throw e;
  }
  return { ns, handle, client, dev, ...await keys(), addr, endpoint };
}

async function teardown(s: Side | undefined): Promise<void> {
  if (!s) return;
  await s.client.deleteDevice(s.dev).catch(() => {});
  s.handle.close();
}

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
        a = await side(nsA, stateDir, "10.201.0.1", "10.98.0.1:51820");
        b = await side(nsB, stateDir, "10.201.0.2", "10.98.0.2:51820");
        // The TUN link lives in the namespace the daemon was started in.
        assert.match(await nsA.ip("link", "show", a.dev), new RegExp(a.dev));
        assert.match(await nsB.ip("link", "show", b.dev), new RegExp(b.dev));
        await tunnelScenario(a, b, "userspace");
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
        const peer = (await keys()).pub;
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

/** Resolves once `pid` no longer runs (gone or a zombie). */
/** Waits up to 5 s until `ok` holds for `pid`'s state letter in /proc/PID/stat ("" once the process is gone). */
async function waitState(pid: number, ok: (state: string) => boolean): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
    if (ok(stat ? stat[stat.lastIndexOf(")") + 2] : "")) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

const exited = (pid: number) => waitState(pid, (s) => s === "" || s === "Z");
const stopped = (pid: number) => waitState(pid, (s) => s === "T");

Deno.test({
  name: "userspace: createDevice replaces a remembered daemon that died or hangs with a new working one",
  ignore,
  fn: () =>
    withNetns(async (ns) => {
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wgp-" });
      const handle = Netns.byPath(ns.path, ns.name);
      const client = openWireGuard(handle, { userspace: { stateDir } });
      const dev = devName();
      try {
        const first = await client.userspace.createDevice(dev);
        await client.apply(dev, { listenPort: 51820, peers: [] });

        // Killed behind our back: the backend still remembers it, and must not hand it out again.
        Deno.kill(first.pid, "SIGKILL");
        assert.ok(await exited(first.pid));
        const second = await client.userspace.createDevice(dev);
        assert.notEqual(second.pid, first.pid);
        assert.notEqual((await client.device(dev)).listenPort, 51820, "a new daemon, not the old state");
        await client.apply(dev, { listenPort: 51821, peers: [] });
        assert.equal((await client.device(dev)).listenPort, 51821);

        // Alive but not answering (stopped): stopped by PID and replaced.
        Deno.kill(second.pid, "SIGSTOP");
        // A stop takes effect when the kernel next schedules one of the daemon's threads; on a loaded machine its
        // netpoller can still answer a request sent right after kill() returns.
        assert.ok(await stopped(second.pid), "the daemon stopped");
        const third = await client.userspace.createDevice(dev);
        assert.notEqual(third.pid, second.pid);
        assert.ok(await exited(second.pid), "the hung daemon was stopped");
        await client.apply(dev, { listenPort: 51822, peers: [] });
        assert.equal((await client.device(dev)).listenPort, 51822);

        // A live daemon is adopted as before.
        assert.equal((await client.userspace.createDevice(dev)).pid, third.pid);
        assert.ok((await ns.ip("link", "show")).includes(dev), "TUN link of the new daemon");
      } finally {
        await client.userspace.deleteDevice(dev).catch(() => {});
        handle.close();
        await Deno.remove(stateDir, { recursive: true });
      }
    }, { tag: "wgp" }),
});
