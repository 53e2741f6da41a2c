/** Kernel tier: dummy (reference example nl1-dummy) and vlan, which this host's kernel lacks. */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { withNetns } from "../../../kit/netns.ts";
import type { NetlinkInterfaceSpec } from "../../../src/api/netlink_interface.ts";
import { applyInterface } from "../../../src/node/netlink/apply.ts";
import { desiredInterface } from "../../../src/node/netlink/desired.ts";
import { NamespaceResolver } from "../../../src/node/placement.ts";

async function pass(r: NamespaceResolver, spec: NetlinkInterfaceSpec) {
  const want = desiredInterface(spec, "t");
  const targets = await Promise.all(want.ends.map((e) => r.resolve(e.placement)));
  return applyInterface(want, targets, {
    key: "default/k",
    agent: { kind: "nl", node: "n", namespace: "default" },
    dryRun: false,
  });
}

Deno.test({
  name: "dummy nl1-dummy: up, mtu 1420, 10.2.3.0/24 and 10.99.3.1 peer 10.99.4.1/32; drift healed",
  ignore: skipUnless("root", "dummy-kernel"),
  fn: () =>
    withNetns(async (a) => {
      const r = new NamespaceResolver();
      try {
        const spec: NetlinkInterfaceSpec = {
          node: "n",
          interfaceName: "nl1-dummy",
          type: "dummy",
          dummy: {},
          up: true,
          mtu: 1420,
          addresses: [{ ipcidr: "10.2.3.0/24" }, { ipcidr: "10.99.3.1", peerCidr: "10.99.4.1/32" }],
          container: { netns: { name: a.name } },
        };
        const res = await pass(r, spec);
        assert.deepEqual(res.problems, []);
        const show = await a.ip("addr", "show", "nl1-dummy");
        assert.match(show, /mtu 1420/);
        assert.match(show, /inet 10\.2\.3\.0\/24/);
        assert.match(show, /inet 10\.99\.3\.1 peer 10\.99\.4\.1\/32/);
        await a.ip("link", "del", "nl1-dummy");
        await pass(r, spec);
        assert.match(await a.ip("addr", "show", "nl1-dummy"), /10\.99\.3\.1 peer/);
        assert.deepEqual((await pass(r, spec)).actions, []);
      } finally {
        await r.close();
      }
    }, { tag: "na" }),
});

Deno.test({
  name: "vlan on a veth parent: id and protocol applied; a changed id recreates",
  ignore: skipUnless("root", "vlan-kernel"),
  fn: () =>
    withNetns(async (a) => {
      const r = new NamespaceResolver();
      try {
        await a.ip("link", "add", "p0", "type", "veth", "peer", "name", "p1");
        await a.ip("link", "set", "p0", "up"); // a vlan cannot be up on a parent that is down (ENETDOWN)
        const spec: NetlinkInterfaceSpec = {
          node: "n",
          interfaceName: "p0.7",
          type: "vlan",
          up: true,
          container: { netns: { name: a.name } },
          vlan: { id: 7, link: "p0" },
        };
        assert.deepEqual((await pass(r, spec)).problems, []);
        assert.match(await a.ip("-d", "link", "show", "p0.7"), /vlan protocol 802.1Q id 7/);
        const again = await pass(r, { ...spec, vlan: { id: 8, link: "p0" } });
        assert.equal(again.actions[0].verb, "recreate");
        assert.match(await a.ip("-d", "link", "show", "p0.7"), /id 8/);
      } finally {
        await r.close();
      }
    }, { tag: "na" }),
});
