import assert from "node:assert/strict";
import { missing, skipUnless } from "../helpers/caps.ts";
import type { TestNetns } from "../../kit/netns.ts";
import { withHandle } from "./handle.ts";
import { NetlinkError } from "../../src/netlink/errors.ts";
import {
  createLink,
  deleteLink,
  deleteLinkGroup,
  getLink,
  listLinks,
  setLink,
  setLinkGroupUp,
} from "../../src/netlink/link.ts";
import { Netns } from "../../src/netlink/netns.ts";

const root = skipUnless("root");

/** The parts of `ip -d -j link show dev` the tests compare. */
interface IpLinkJson {
  mtu: number;
  ifalias?: string;
  group: string;
  flags: string[];
  master?: string;
  linkinfo: { info_data: Record<string, unknown> };
}

/** `ip -d -j link show dev` parsed. */
async function ipLink(t: TestNetns, dev: string): Promise<IpLinkJson> {
  return JSON.parse(await t.ip("-d", "-j", "link", "show", "dev", dev))[0];
}

function inNs(fn: (ns: Netns, t: TestNetns, t2: TestNetns) => Promise<void>, count = 1) {
  return () => withHandle(fn as (ns: Netns, t: TestNetns, ...more: TestNetns[]) => Promise<void>, count - 1);
}

Deno.test({
  name: "veth: create with MTU/up/group/alias on both ends, read back like ip shows it",
  ignore: root,
  fn: inNs(async (ns, t) => {
    await createLink(ns, {
      kind: "veth",
      name: "nlv0",
      mtu: 1400,
      up: true,
      group: 7,
      alias: "managed by dn42op",
      peer: { name: "nlv1", mtu: 1380, up: true, group: 7 },
    });
    const a = await getLink(ns, "nlv0"), b = await getLink(ns, "nlv1");
    assert.ok(a && b);
    assert.equal(a.kind, "veth");
    assert.equal(a.mtu, 1400);
    assert.equal(b.mtu, 1380);
    assert.ok(a.up && b.up);
    assert.equal(a.group, 7);
    assert.equal(a.alias, "managed by dn42op");
    assert.equal(a.peerIndex, b.index);
    assert.equal(b.peerIndex, a.index);
    const ip = await ipLink(t, "nlv0");
    assert.equal(ip.mtu, 1400);
    assert.equal(ip.ifalias, "managed by dn42op");
    assert.equal(ip.group, "7");
    assert.ok(ip.flags.includes("UP"));
    assert.equal((await ipLink(t, "nlv1")).mtu, 1380);
    // operstate becomes up once both ends are up
    assert.equal((await getLink(ns, "nlv1"))!.operstate, "up");
  }),
});

Deno.test({
  name: "bridge + master, change MTU/down/alias/group, release master, rename, delete",
  ignore: root,
  fn: inNs(async (ns, t) => {
    await createLink(ns, { kind: "bridge", name: "nlbr0", up: true });
    await createLink(ns, { kind: "veth", name: "nlv0", peer: { name: "nlv1" }, master: "nlbr0" });
    const br = await getLink(ns, "nlbr0");
    assert.equal(br!.kind, "bridge");
    assert.equal((await getLink(ns, "nlv0"))!.master, br!.index);
    assert.equal((await ipLink(t, "nlv0")).master, "nlbr0");

    await setLink(ns, "nlv0", { mtu: 1300, up: true, alias: "x", group: 42 });
    let v = await getLink(ns, "nlv0");
    assert.deepEqual([v!.mtu, v!.up, v!.alias, v!.group], [1300, true, "x", 42]);
    await setLink(ns, v!.index, { up: false, alias: "", master: null });
    v = await getLink(ns, "nlv0");
    assert.deepEqual([v!.up, v!.alias, v!.master], [false, null, null]);
    assert.equal((await ipLink(t, "nlv0")).master, undefined);

    await setLink(ns, "nlv0", { name: "nlrenamed" });
    assert.equal(await getLink(ns, "nlv0"), null);
    assert.equal((await getLink(ns, "nlrenamed"))!.index, v!.index);

    await deleteLink(ns, "nlrenamed");
    assert.equal(await getLink(ns, "nlrenamed"), null);
    assert.equal(await getLink(ns, "nlv1"), null, "the peer goes with it");
    await assert.rejects(deleteLink(ns, "nlrenamed"), (e: NetlinkError) => e.notFound);
  }),
});

Deno.test({
  name: "vxlan: every parameter is sent and read back",
  ignore: root,
  fn: inNs(async (ns, t) => {
    await createLink(ns, { kind: "veth", name: "nlu0", peer: { name: "nlu1" } });
    await t.ip("addr", "add", "10.77.0.1/24", "dev", "nlu0");
    await createLink(ns, {
      kind: "vxlan",
      name: "nlvx0",
      mtu: 1400,
      vxlan: {
        vni: 4242,
        local: "10.77.0.1",
        remote: "10.77.0.2",
        dev: "nlu0",
        port: 4789,
        learning: false,
        ttl: 17,
        tos: 8,
        proxy: true,
        ageing: 120,
        portRange: { low: 30000, high: 40000 },
      },
    });
    const l = await getLink(ns, "nlvx0");
    assert.deepEqual(l!.vxlan, {
      vni: 4242,
      local: "10.77.0.1",
      group: null,
      remote: "10.77.0.2",
      dev: (await getLink(ns, "nlu0"))!.index,
      port: 4789,
      learning: false,
      ttl: 17,
      tos: 8,
      proxy: true,
      ageing: 120,
      portRange: { low: 30000, high: 40000 },
    });
    const ip = (await ipLink(t, "nlvx0")).linkinfo.info_data;
    assert.equal(ip.id, 4242);
    assert.equal(ip.remote, "10.77.0.2");
    assert.equal(ip.port, 4789);
    assert.equal(ip.ttl, 17);
    assert.equal(ip.learning, false);
    assert.equal(ip.proxy, true);
    assert.deepEqual(ip.port_range, { low: 30000, high: 40000 });

    await createLink(ns, {
      kind: "vxlan",
      name: "nlvx6",
      vxlan: { vni: 7, group: "ff05::100", dev: "nlu0", local: "fd77::1" },
    });
    const six = await getLink(ns, "nlvx6");
    assert.equal(six!.vxlan!.group, "ff05::100");
    assert.equal(six!.vxlan!.local, "fd77::1");
  }),
});

Deno.test({
  name: "macvlan on a parent",
  ignore: root,
  fn: inNs(async (ns) => {
    await createLink(ns, { kind: "veth", name: "nlp0", peer: { name: "nlp1" } });
    await createLink(ns, { kind: "macvlan", name: "nlmv0", parent: "nlp0", mode: "private" });
    await createLink(ns, { kind: "macvlan", name: "nlmv1", parent: "nlp0" });
    const parent = (await getLink(ns, "nlp0"))!.index;
    const mv = await getLink(ns, "nlmv0");
    assert.deepEqual([mv!.kind, mv!.link, mv!.macvlan], ["macvlan", parent, { mode: "private" }]);
    assert.deepEqual((await getLink(ns, "nlmv1"))!.macvlan, { mode: "bridge" });
  }),
});

Deno.test({
  name: "veth peer created directly in another namespace; links move between namespaces by fd",
  ignore: root,
  fn: inNs(async (ns, _t, t2) => {
    const other = Netns.byName(t2.name);
    try {
      await createLink(ns, {
        kind: "veth",
        name: "nlx0",
        up: true,
        peer: { name: "eth0", netns: other, up: true, mtu: 1450 },
      });
      const peer = await getLink(other, "eth0");
      assert.ok(peer && peer.up && peer.mtu === 1450);
      assert.equal(await getLink(ns, "eth0"), null);
      const local = await getLink(ns, "nlx0");
      assert.equal(local!.peerIndex, peer.index);
      assert.notEqual(local!.linkNetnsId, null, "the peer lives in another namespace");

      await createLink(ns, { kind: "veth", name: "nlmove", peer: { name: "nlstay" } });
      await setLink(ns, "nlmove", { netns: other });
      assert.equal(await getLink(ns, "nlmove"), null);
      assert.equal((await getLink(other, "nlmove"))!.kind, "veth");
      await setLink(other, "nlmove", { netns: ns, mtu: 1234 });
      assert.equal((await getLink(ns, "nlmove"))!.mtu, 1234);
      // A bridge is namespace-local: the kernel refuses the move.
      await createLink(ns, { kind: "bridge", name: "nlbr" });
      await assert.rejects(setLink(ns, "nlbr", { netns: other }), (e: NetlinkError) => e.errnoName === "EINVAL");
    } finally {
      other.close();
    }
  }, 2),
});

Deno.test({
  name: "group teardown deletes all managed links with one request and leaves the rest",
  ignore: root,
  fn: inNs(async (ns) => {
    for (let i = 0; i < 20; i++) {
      await createLink(ns, { kind: "veth", name: `nlg${i}`, group: 99, peer: { name: `nlh${i}`, group: 99 } });
    }
    await createLink(ns, { kind: "bridge", name: "nlkeep" });
    await setLinkGroupUp(ns, 99, true);
    const managed = (await listLinks(ns)).filter((l) => l.group === 99);
    assert.equal(managed.length, 40);
    assert.ok(managed.every((l) => l.up));
    await deleteLinkGroup(ns, 99);
    const left = (await listLinks(ns)).map((l) => l.name).sort();
    assert.deepEqual(left, ["lo", "nlkeep"]);
    await assert.rejects(deleteLinkGroup(ns, 0), /group 0: must be/);
  }),
});

Deno.test({
  name: "bad specs are refused before libnl sees them; kernel errors are typed",
  ignore: root,
  fn: inNs(async (ns) => {
    const bad = async (spec: unknown, re: RegExp) =>
      await assert.rejects(
        createLink(ns, spec as never),
        (e: NetlinkError) => e instanceof NetlinkError && re.test(e.message),
      );
    await bad({ kind: "bridge", name: "a-very-long-name0" }, /17 bytes, the kernel allows at most 15/);
    await bad({ kind: "bridge", name: "a/b" }, /must not contain/);
    await bad({ kind: "bridge", name: "" }, /non-empty/);
    await bad({ kind: "bond", name: "x" }, /kind "bond"/);
    await bad({ kind: "veth", name: "x" }, /peer: required/);
    await bad({ kind: "bridge", name: "x", mtu: 20 }, /mtu: 20/);
    await bad({ kind: "vxlan", name: "x", vxlan: { vni: 1 << 24 } }, /vxlan.vni/);
    await bad(
      { kind: "vxlan", name: "x", vxlan: { vni: 1, group: "ff05::1", remote: "10.0.0.1" } },
      /one address family/,
    );
    await bad({ kind: "vxlan", name: "x", vxlan: { vni: 1, local: "10.0.0.300" } }, /vxlan.local "10.0.0.300"/);
    await bad({ kind: "macvlan", name: "x", parent: "nlnone" }, /no link named "nlnone"/);
    await bad({ kind: "vlan", name: "x", parent: "lo", vlanId: 4095 }, /vlanId: 4095/);
    assert.deepEqual((await listLinks(ns)).map((l) => l.name), ["lo"], "nothing was created");

    await createLink(ns, { kind: "bridge", name: "nldup" });
    await assert.rejects(createLink(ns, { kind: "bridge", name: "nldup" }), (e: NetlinkError) => e.alreadyExists);
    await assert.rejects(setLink(ns, "nlnothere", { mtu: 1400 }), (e: NetlinkError) => e.notFound);
    await assert.rejects(setLink(ns, "nldup", { mtu: 70000 }), /mtu/);
  }),
});

Deno.test({
  name: "a kind the kernel lacks (dummy, wireguard here) is a typed EOPNOTSUPP, not a crash",
  ignore: root || missing("dummy-kernel") === null || missing("wireguard-kernel") === null,
  fn: inNs(async (ns) => {
    for (const kind of ["dummy", "wireguard"] as const) {
      await assert.rejects(
        createLink(ns, { kind, name: `nl${kind.slice(0, 3)}0` }),
        (e: NetlinkError) => e.errnoName === "EOPNOTSUPP" && e.op.includes(kind),
      );
    }
  }),
});
