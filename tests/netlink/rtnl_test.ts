import assert from "node:assert/strict";
import { NetlinkError } from "../../src/netlink/errors.ts";
import { validateLinkName, validateLinkSpec } from "../../src/netlink/linkspec.ts";
import type { LinkSpec } from "../../src/netlink/linkspec.ts";
import { MessageEncoder, parseMessages } from "../../src/netlink/message.ts";
import { decodeAddress, decodeLink, RTM_NEWADDR, RTM_NEWLINK } from "../../src/netlink/rtnl.ts";

const one = (m: MessageEncoder) => parseMessages(m.finish(1, 1))[0];

Deno.test("decodeLink reads common attributes, veth peer and vxlan parameters", () => {
  const veth = decodeLink(one(
    new MessageEncoder(RTM_NEWLINK, 0).ifinfo({ index: 5, flags: 0x11043 })
      .string(3, "v0").u32(4, 1400).u32(5, 6).u32(10, 9).u8(16, 6).string(20, "hello").u32(27, 7)
      .bytes(1, new Uint8Array([2, 0, 0, 0, 0, 0xab]))
      .nested(18, (e) => e.string(1, "veth")),
  ));
  assert.deepEqual(veth, {
    index: 5,
    name: "v0",
    kind: "veth",
    mtu: 1400,
    flags: 0x11043,
    up: true,
    operstate: "up",
    master: 9,
    group: 7,
    alias: "hello",
    mac: "02:00:00:00:00:ab",
    link: 6,
    linkNetnsId: null,
    peerIndex: 6,
  });
  const vx = decodeLink(one(
    new MessageEncoder(RTM_NEWLINK, 0).ifinfo({ index: 8 }).string(3, "vx0")
      .nested(
        18,
        (e) =>
          e.string(1, "vxlan").nested(
            2,
            (d) =>
              d.u32(1, 4242).bytes(2, new Uint8Array([239, 1, 1, 1])).u32(3, 3).bytes(4, new Uint8Array([10, 0, 0, 1]))
                .u8(5, 64).u8(6, 0).u8(7, 0).u32(8, 300).bytes(10, new Uint8Array([0x75, 0x30, 0x9c, 0x40])).u8(11, 1)
                .be16(15, 4789),
          ),
      ),
  ));
  assert.deepEqual(vx.vxlan, {
    vni: 4242,
    local: "10.0.0.1",
    group: "239.1.1.1",
    remote: null,
    dev: 3,
    port: 4789,
    learning: false,
    ttl: 64,
    tos: 0,
    proxy: true,
    ageing: 300,
    portRange: { low: 30000, high: 40000 },
  });
});

Deno.test("decodeAddress tells local from peer and names the flags", () => {
  const ptp = decodeAddress(one(
    new MessageEncoder(RTM_NEWADDR, 0).ifaddr({ family: 10, prefixlen: 128, index: 4, scope: 0 })
      .bytes(2, new Uint8Array([0xfd, 0x98, ...new Array(13).fill(0), 1]))
      .bytes(1, new Uint8Array([0xfd, 0x98, ...new Array(13).fill(0), 2]))
      .u32(8, 0x282).u8(11, 3),
  ));
  assert.deepEqual(ptp, {
    index: 4,
    family: 6,
    local: "fd98::1",
    peer: "fd98::2",
    prefixlen: 128,
    flags: ["nodad", "permanent", "noprefixroute"],
    scope: "global",
    label: null,
    proto: "kernel_ll",
  });
  const plain = decodeAddress(one(
    new MessageEncoder(RTM_NEWADDR, 0).ifaddr({ family: 2, prefixlen: 24, index: 4, scope: 253, flags: 0x80 })
      .bytes(1, new Uint8Array([10, 0, 0, 1])).bytes(2, new Uint8Array([10, 0, 0, 1])).string(3, "eth0").u8(11, 200),
  ));
  assert.deepEqual([plain.local, plain.peer, plain.scope, plain.flags, plain.label, plain.proto], [
    "10.0.0.1",
    null,
    "link",
    ["permanent"],
    "eth0",
    200,
  ]);
  const bare = decodeAddress(one(
    new MessageEncoder(RTM_NEWADDR, 0).ifaddr({ family: 2, prefixlen: 8, index: 1 }).bytes(2, new Uint8Array(4)),
  ));
  assert.equal(bare.proto, null);
});

Deno.test("decoders reject malformed link and address messages with typed errors", () => {
  const short = one(new MessageEncoder(RTM_NEWLINK, 0).fixed(new Uint8Array(8)));
  assert.throws(() => decodeLink(short), (e: NetlinkError) => e.errnoName === "EBADMSG" && /ifinfomsg/.test(e.message));
  const bad = new MessageEncoder(RTM_NEWLINK, 0).ifinfo({}).u32(4, 1500).finish(1, 1).slice();
  new DataView(bad.buffer).setUint16(32, 200, true); // IFLA_MTU nla_len beyond the message
  assert.throws(() => decodeLink(parseMessages(bad)[0]), /attribute length 200/);
  const wrong = one(new MessageEncoder(RTM_NEWADDR, 0).ifaddr({ family: 2, prefixlen: 8, index: 1 }).u16(8, 1));
  assert.throws(() => decodeAddress(wrong), /u32 needs 4 bytes, got 2/);
});

Deno.test("link names and specs are validated with the field in the message", () => {
  const cases: [unknown, RegExp | null][] = [
    ["eth0", null],
    ["fifteen-chars-x", null],
    ["sixteen-chars-xy", /16 bytes, the kernel allows at most 15/],
    ["äöüäöüäö", /16 bytes/],
    ["", /non-empty/],
    [".", /reserved/],
    ["a b", /whitespace/],
    ["a:b", /must not contain/],
    [7, /non-empty string/],
  ];
  for (const [name, want] of cases) {
    if (want === null) validateLinkName(name, "t");
    else {assert.throws(() =>
        validateLinkName(name, "t"), (e: NetlinkError) =>
        e.errnoName === "EINVAL" && want.test(e.message));}
  }
  const specs: [LinkSpec, RegExp | null][] = [
    [{ kind: "veth", name: "a0", peer: { name: "a1", mtu: 1500 } }, null],
    [{ kind: "veth", name: "a0", peer: { name: "a0" } }, /peer.name: equals name/],
    [{ kind: "veth", name: "a0", peer: { name: "a1", mtu: 67 } }, /peer.mtu: 67/],
    [{ kind: "vxlan", name: "v", vxlan: { vni: 1, local: "10.0.0.1/24" } }, /no prefix length/],
    [{ kind: "vxlan", name: "v", vxlan: { vni: 1, portRange: { low: 10, high: 5 } } }, /portRange.high: 5/],
    [{ kind: "vxlan", name: "v", vxlan: { vni: 1, ttl: 256 } }, /vxlan.ttl: 256/],
    [{ kind: "macvlan", name: "m", parent: 0 }, /parent: 0/],
    [{ kind: "macvlan", name: "m", parent: "p", mode: "x" as never }, /mode "x"/],
    [{ kind: "vlan", name: "v", parent: "p", vlanId: 1, protocol: "qinq" as never }, /protocol "qinq"/],
    [{ kind: "bridge", name: "b", group: -1 }, /group: -1/],
    [{ kind: "bridge", name: "b", alias: "x".repeat(256) }, /alias/],
    [{ kind: "bridge", name: "b", up: "yes" as never }, /up: must be a boolean/],
  ];
  for (const [spec, want] of specs) {
    if (want === null) validateLinkSpec(spec);
    else assert.throws(() => validateLinkSpec(spec), want, JSON.stringify(spec));
  }
});
