/** Link kinds the host kernel of the dev VM lacks (dummy, wireguard, vlan): run in the qemu kernel tier. */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withHandle } from "./handle.ts";
import { createLink, deleteLinkGroup, getLink, listLinks, setLink } from "../../src/netlink/link.ts";
import type { Netns } from "../../src/netlink/netns.ts";

function inNs(fn: (ns: Netns, ip: (...a: string[]) => Promise<string>) => Promise<void>): Promise<void> {
  return withHandle((ns, t) => fn(ns, t.ip));
}

Deno.test({
  name: "dummy: create with MTU/up/group, change, group delete",
  ignore: skipUnless("root", "dummy-kernel"),
  fn: () =>
    inNs(async (ns, ip) => {
      await createLink(ns, { kind: "dummy", name: "nldum0", mtu: 1400, up: true, group: 5, alias: "d" });
      const d = await getLink(ns, "nldum0");
      assert.deepEqual([d!.kind, d!.mtu, d!.up, d!.group, d!.alias], ["dummy", 1400, true, 5, "d"]);
      assert.match(await ip("-d", "link", "show", "nldum0"), /dummy/);
      await setLink(ns, "nldum0", { mtu: 1300, up: false });
      assert.deepEqual([(await getLink(ns, "nldum0"))!.mtu, (await getLink(ns, "nldum0"))!.up], [1300, false]);
      await deleteLinkGroup(ns, 5);
      assert.deepEqual((await listLinks(ns)).map((l) => l.name), ["lo"]);
    }),
});

Deno.test({
  name: "wireguard: create a kernel WireGuard link with MTU and up",
  ignore: skipUnless("root", "wireguard-kernel"),
  fn: () =>
    inNs(async (ns, ip) => {
      await createLink(ns, { kind: "wireguard", name: "nlwg0", mtu: 1420, up: true });
      const w = await getLink(ns, "nlwg0");
      assert.deepEqual([w!.kind, w!.mtu, w!.up], ["wireguard", 1420, true]);
      assert.match(await ip("-d", "link", "show", "nlwg0"), /wireguard/);
    }),
});

Deno.test({
  name: "vlan: 802.1Q and 802.1ad on a parent",
  ignore: skipUnless("root", "vlan-kernel"),
  fn: () =>
    inNs(async (ns, ip) => {
      await createLink(ns, { kind: "veth", name: "nlp0", peer: { name: "nlp1" } });
      await createLink(ns, { kind: "vlan", name: "nlp0.10", parent: "nlp0", vlanId: 10 });
      await createLink(ns, { kind: "vlan", name: "nlp0.20", parent: "nlp0", vlanId: 20, protocol: "802.1ad" });
      const parent = (await getLink(ns, "nlp0"))!.index;
      const v10 = await getLink(ns, "nlp0.10"), v20 = await getLink(ns, "nlp0.20");
      assert.deepEqual([v10!.kind, v10!.link, v10!.vlan], ["vlan", parent, { id: 10, protocol: "802.1Q" }]);
      assert.deepEqual(v20!.vlan, { id: 20, protocol: "802.1ad" });
      assert.match(await ip("-d", "link", "show", "nlp0.20"), /vlan protocol 802.1ad id 20/);
    }),
});
