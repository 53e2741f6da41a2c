import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withHandle } from "./handle.ts";
import { crowd } from "../../kit/crowd.ts";
import { addAddress, listAddresses } from "../../src/netlink/addr.ts";
import { NetlinkError } from "../../src/netlink/errors.ts";
import { createLink, listLinks, setLink } from "../../src/netlink/link.ts";
import { attrsAfter, decodeIfAddr, IFADDRMSG_LEN, IFINFOMSG_LEN, parseMessages } from "../../src/netlink/message.ts";
import {
  dumpAddressesRequest,
  dumpLinksRequest,
  IFLA_MASTER,
  RTM_GETADDR,
  RTM_GETLINK,
} from "../../src/netlink/rtnl.ts";
import { NETLINK_GENERIC, NETLINK_ROUTE, NetlinkSocket } from "../../src/netlink/socket.ts";

const root = skipUnless("root");
const NLM_F_REQUEST_DUMP = 0x301;

Deno.test("address dump requests: ifaddrmsg carries family and ifindex, every other header field zero", () => {
  const table: [Parameters<typeof dumpAddressesRequest>[0], { family: number; index: number }][] = [
    [undefined, { family: 0, index: 0 }],
    [{}, { family: 0, index: 0 }],
    [{ index: 7 }, { family: 0, index: 7 }],
    [{ family: 10, index: 0x01020304 }, { family: 10, index: 0x01020304 }],
    [{ family: 2 }, { family: 2, index: 0 }],
  ];
  for (const [filter, want] of table) {
    const [m] = parseMessages(dumpAddressesRequest(filter).finish(5, 9, NLM_F_REQUEST_DUMP));
    assert.equal(m.type, RTM_GETADDR);
    assert.equal(m.flags, NLM_F_REQUEST_DUMP);
    assert.equal(m.payload.length, IFADDRMSG_LEN, `no attributes for ${JSON.stringify(filter)}`);
    assert.deepEqual(decodeIfAddr(m.payload), { ...want, prefixlen: 0, flags: 0, scope: 0 });
  }
});

Deno.test("link dump requests: IFLA_MASTER only when a master is asked for", () => {
  const attrs = (filter?: Parameters<typeof dumpLinksRequest>[0]) => {
    const [m] = parseMessages(dumpLinksRequest(filter).finish(1, 1, NLM_F_REQUEST_DUMP));
    assert.equal(m.type, RTM_GETLINK);
    assert.deepEqual([...m.payload.subarray(0, IFINFOMSG_LEN)], new Array(IFINFOMSG_LEN).fill(0));
    const d = attrsAfter(m.payload, IFINFOMSG_LEN);
    const out: [number, number][] = [];
    while (d.next()) out.push([d.type, d.u32()]);
    d.done();
    return out;
  };
  assert.deepEqual(attrs(), []);
  assert.deepEqual(attrs({}), []);
  assert.deepEqual(attrs({ master: 12 }), [[IFLA_MASTER, 12]]);
});

Deno.test({
  name: "rtnetlink sockets check strictly (Linux ≥ 4.20), generic netlink sockets are left as they are",
  ignore: root,
  fn: () => {
    const route = NetlinkSocket.open(NETLINK_ROUTE), generic = NetlinkSocket.open(NETLINK_GENERIC);
    try {
      const [major, minor] = Deno.osRelease().split(".").map(Number);
      assert.equal(route.strictCheck, major > 4 || (major === 4 && minor >= 20));
      assert.equal(generic.strictCheck, false);
    } finally {
      route.close();
      generic.close();
    }
  },
});

Deno.test({
  name: "listAddresses of one link among 500 others with addresses: only its addresses, in few messages",
  ignore: root,
  fn: () =>
    withHandle(
      async (ns, t) => {
        const crowded = await crowd(t, 250, "sc");
        await createLink(ns, { kind: "veth", name: "sct0", peer: { name: "sct1" } });
        await addAddress(ns, "sct0", { local: "10.200.0.1/24" });
        await addAddress(ns, "sct0", { local: "10.200.1.1", peer: "10.200.1.2/32" });
        await addAddress(ns, "sct0", { local: "fd42::1/64", nodad: true });
        await addAddress(ns, "sct1", { local: "10.200.0.2/24" });

        const before = ns.route.received;
        const mine = await listAddresses(ns, "sct0");
        const used = ns.route.received - before;
        assert.deepEqual(mine.map((a) => `${a.local}${a.peer ? ` peer ${a.peer}` : ""}/${a.prefixlen}`).sort(), [
          "10.200.0.1/24",
          "10.200.1.1 peer 10.200.1.2/32",
          "fd42::1/64",
        ]);
        // Three addresses and the end of the dump: the kernel filtered, not us.
        assert.ok(used <= 6, `received ${used} messages for 3 addresses`);

        const idx = mine[0].index;
        assert.deepEqual(await listAddresses(ns, idx), mine);
        const b0 = ns.route.received;
        const all = await listAddresses(ns);
        assert.ok(all.length >= crowded.addresses + 4, `full dump has ${all.length} addresses`);
        assert.ok(ns.route.received - b0 >= all.length);
        assert.deepEqual(all.filter((a) => a.index === idx), mine);
      },
      0,
      "sc",
    ),
});

Deno.test({
  name: "listAddresses: a vanished ifindex has none, an unknown name is a typed ENODEV naming it",
  ignore: root,
  fn: () =>
    withHandle(
      async (ns) => {
        await createLink(ns, { kind: "veth", name: "sct0", peer: { name: "sct1" } });
        await addAddress(ns, "sct0", { local: "10.200.0.1/24" });
        assert.deepEqual(await listAddresses(ns, 0x7ffffff0), []);
        await assert.rejects(
          listAddresses(ns, "scnone"),
          (e: NetlinkError) => e instanceof NetlinkError && e.errnoName === "ENODEV" && /scnone/.test(e.message),
        );
        assert.equal((await listAddresses(ns, "sct0")).length, 1);
      },
      0,
      "sc",
    ),
});

Deno.test({
  name: "listLinks with a master: the bridge's slaves only, filtered by the kernel",
  ignore: root,
  fn: () =>
    withHandle(
      async (ns, t) => {
        await crowd(t, 50, "sc");
        await createLink(ns, { kind: "bridge", name: "scbr0" });
        await createLink(ns, { kind: "bridge", name: "scbr1" });
        for (const [i, br] of ["scbr0", "scbr0", "scbr1"].entries()) await setLink(ns, `sca${i}`, { master: br });
        const br0 = (await listLinks(ns)).find((l) => l.name === "scbr0")!;
        const before = ns.route.received;
        const slaves = await listLinks(ns, { master: br0.index });
        assert.deepEqual(slaves.map((l) => l.name).sort(), ["sca0", "sca1"]);
        assert.ok(ns.route.received - before <= 4, `received ${ns.route.received - before} messages for 2 slaves`);
      },
      0,
      "sc",
    ),
});
