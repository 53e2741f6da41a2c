import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { withHandle } from "./handle.ts";
import { attrsAfter, IFINFOMSG_LEN, MessageEncoder } from "../../src/netlink/message.ts";
import { NetlinkError } from "../../src/netlink/errors.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { NETLINK_ROUTE, NetlinkSocket } from "../../src/netlink/socket.ts";

const RTM_NEWLINK = 16, RTM_GETLINK = 18, IFLA_IFNAME = 3, IFLA_LINKINFO = 18, IFLA_INFO_KIND = 1;
const root = skipUnless("root");

async function linkNames(ns: Netns): Promise<string[]> {
  const ms = await ns.route.dump(new MessageEncoder(RTM_GETLINK, 0).ifinfo({}), "dump links");
  return ms.map((m) => {
    const d = attrsAfter(m.payload, IFINFOMSG_LEN);
    let name = "";
    while (d.next()) if (d.type === IFLA_IFNAME) name = d.string();
    d.done();
    return name;
  });
}

const selfNs = () => Deno.readLinkSync("/proc/thread-self/ns/net");

Deno.test({
  name: "Netns.byName opens sockets inside the namespace and the main thread returns to its own",
  ignore: root,
  fn: () =>
    withNetns(async (t) => {
      const before = selfNs();
      const ns = Netns.byName(t.name);
      try {
        assert.equal(selfNs(), before);
        await t.ip("link", "add", "nlx0", "type", "veth", "peer", "name", "nlx1");
        assert.deepEqual((await linkNames(ns)).sort(), ["lo", "nlx0", "nlx1"]);
        // Netns.open runs the opener inside the namespace.
        const seen = ns.open(() => ({ link: selfNs(), close() {} }));
        assert.notEqual(seen.link, before);
        assert.equal(seen.link, Deno.readLinkSync(`/proc/${(await spawnSleeper(t.name)).pid}/ns/net`));
      } finally {
        ns.close();
        await killSleepers();
      }
    }, { tag: "nl" }),
});

const sleepers: Deno.ChildProcess[] = [];
async function spawnSleeper(name: string): Promise<Deno.ChildProcess> {
  const p = new Deno.Command("ip", { args: ["netns", "exec", name, "sleep", "30"], stdout: "null", stderr: "null" })
    .spawn();
  sleepers.push(p);
  const host = selfNs();
  for (let i = 0; i < 100; i++) {
    try {
      if (Deno.readLinkSync(`/proc/${p.pid}/ns/net`) !== host) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  return p;
}

async function killSleepers() {
  for (const p of sleepers.splice(0)) {
    try {
      p.kill("SIGKILL");
    } catch { /* already gone: deleteNetns kills what runs inside */ }
    await p.status;
  }
}

Deno.test({
  name: "Netns.byPid and byPath reach the same namespace; host() is the process namespace",
  ignore: root,
  fn: () =>
    withNetns(async (t) => {
      await t.ip("link", "add", "nlp0", "type", "veth", "peer", "name", "nlp1");
      const sleeper = await spawnSleeper(t.name);
      const byPid = Netns.byPid(sleeper.pid);
      const byPath = Netns.byPath(t.path);
      const host = Netns.host();
      try {
        assert.deepEqual((await linkNames(byPid)).sort(), ["lo", "nlp0", "nlp1"]);
        assert.deepEqual((await linkNames(byPath)).sort(), ["lo", "nlp0", "nlp1"]);
        assert.ok(host.isHost);
        assert.ok(!(await linkNames(host)).includes("nlp0"));
      } finally {
        byPid.close();
        byPath.close();
        host.close();
        await killSleepers();
      }
    }, { tag: "nl" }),
});

Deno.test({
  name: "invalid namespace names, pids and paths give typed errors",
  ignore: root,
  fn: () => {
    assert.throws(() => Netns.byName("../etc"), (e: NetlinkError) => e.errnoName === "EINVAL");
    assert.throws(() => Netns.byPid(-1), (e: NetlinkError) => e.errnoName === "EINVAL");
    assert.throws(() => Netns.byName("dn42op-nl-does-not-exist"), (e: NetlinkError) => e.notFound);
    assert.throws(() => Netns.byPath("/etc/hostname"), (e: NetlinkError) => e.errnoName === "EINVAL");
  },
});

Deno.test({
  name: "request: kernel errors carry errno name and extended ACK text; ACKed changes succeed",
  ignore: root,
  fn: () =>
    withHandle(async (ns) => {
      const add = (kind: string, name = "nlk0") =>
        new MessageEncoder(RTM_NEWLINK, 0x600).ifinfo({}).string(IFLA_IFNAME, name)
          .nested(IFLA_LINKINFO, (e) => e.string(IFLA_INFO_KIND, kind));
      await assert.rejects(ns.route.request(add("nosuchkind"), "link add nlk0"), (e: NetlinkError) => {
        assert.equal(e.errnoName, "EOPNOTSUPP");
        assert.equal(e.extAck, "Unknown device type");
        assert.equal(e.op, "link add nlk0");
        return true;
      });
      assert.deepEqual(await ns.route.request(add("bridge")), []);
      await assert.rejects(ns.route.request(add("bridge")), (e: NetlinkError) => e.alreadyExists);
      assert.ok((await linkNames(ns)).includes("nlk0"));
      // Many concurrent requests on one socket: the mutex keeps one in flight, every one gets its own answer.
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => ns.route.request(i % 2 ? add("bridge") : add("nosuchkind", `nlq${i}`))),
      );
      assert.ok(results.every((r) => r.status === "rejected"));
      assert.deepEqual(
        results.map((r) => (r as PromiseRejectedResult).reason.errnoName),
        Array.from({ length: 50 }, (_, i) => (i % 2 ? "EEXIST" : "EOPNOTSUPP")),
      );
    }),
});

Deno.test({
  name: "dump of many links spans several datagrams; genl families resolve per namespace",
  ignore: root,
  fn: () =>
    withNetns(async (t) => {
      const batch = Array.from({ length: 150 }, (_, i) => `link add nld${i} type veth peer name nle${i}`).join("\n");
      const p = new Deno.Command("ip", { args: ["-n", t.name, "-batch", "-"], stdin: "piped" }).spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(batch + "\n"));
      await w.close();
      assert.ok((await p.status).success);
      const ns = Netns.byName(t.name);
      try {
        assert.equal((await linkNames(ns)).length, 301);
        const f = await ns.families.get("nlctrl");
        assert.equal(f.id, 16);
        assert.equal(await ns.families.get("nlctrl"), f, "cached");
        await assert.rejects(ns.families.get("nosuchfam"), (e: NetlinkError) => e.notFound);
      } finally {
        ns.close();
      }
    }, { tag: "nl" }),
});

Deno.test({
  name: "a closed socket fails with a typed error",
  ignore: root,
  fn: async () => {
    const s = NetlinkSocket.open(NETLINK_ROUTE);
    s.close();
    await assert.rejects(s.request(new MessageEncoder(RTM_GETLINK, 0).ifinfo({ index: 1 })), /EBADF/);
  },
});

Deno.test({
  name: "Netns.open refuses async openers, closes opened resources with the handle, and rejects use after close",
  ignore: root,
  fn: () =>
    withNetns((t) => {
      const before = selfNs();
      const ns = Netns.byName(t.name);
      let closed = 0;
      try {
        const asyncOpener = () => Promise.resolve({ close() {} });
        assert.throws(() => ns.open(asyncOpener as never), /must be synchronous/);
        assert.equal(selfNs(), before, "back in the own namespace after the refused opener");
        ns.open(() => ({ close: () => closed++ }));
        const early = ns.open(() => ({ close: () => closed++ }));
        ns.release(early);
        assert.equal(closed, 1);
      } finally {
        ns.close();
      }
      assert.equal(closed, 2);
      assert.ok(ns.closed && ns.route.closed && ns.generic.closed);
      assert.throws(() => ns.open(() => ({ close() {} })), /namespace handle closed/);
    }, { tag: "nl" }),
});
