/** Drift monitor + namespace resolver on the real kernel, in throwaway namespaces. */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { DriftMonitor } from "../../src/node/monitor.ts";
import { type AgentIdentity, ownerMark } from "../../src/node/ownership.ts";
import { NamespaceResolver } from "../../src/node/placement.ts";
import { until } from "../../kit/wait.ts";

const agent: AgentIdentity = { kind: "nl", node: "lax1", namespace: "ns" };

Deno.test({
  name: "monitor: link/address events map to owners by mark, tracked name, ifindex and master; handles close",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (a, b) => {
      const seen: string[] = [];
      const resyncs: string[] = [];
      const r = new NamespaceResolver();
      const m = new DriftMonitor({ agent, enqueue: (k) => seen.push(k), resyncAll: (why) => resyncs.push(why) });
      r.listen(m);
      try {
        const ta = await r.resolve({ kind: "netns-name", name: a.name });
        const again = await r.resolve({ kind: "netns-path", path: a.path });
        assert.equal(again, ta, "one handle per namespace identity");
        m.track(ta.id, "ns/br", { names: ["br0", "s1"] });
        m.track(ta.id, "ns/other", { names: ["zz0"] });
        await a.ip("link", "add", "br0", "type", "bridge");
        await until("br0 by name", () => seen.includes("ns/br"), 5000);
        assert.ok(!seen.includes("ns/other"));
        seen.length = 0;
        // address events through the ifindex learned from the link event
        await a.ip("addr", "add", "10.0.0.1/24", "dev", "br0");
        await until("address", () => seen.includes("ns/br"), 5000);
        seen.length = 0;
        // a foreign link joining the bridge → the bridge's owner (via master index)
        await a.ip("link", "add", "x9", "type", "veth", "peer", "name", "x9p");
        await new Promise((res) => setTimeout(res, 100));
        seen.length = 0;
        await a.ip("link", "set", "x9", "master", "br0");
        await until("master", () => seen.includes("ns/br"), 5000);
        seen.length = 0;
        // attribution by ownership mark only, and only by this agent's (not another node's in the same namespace)
        await a.ip("link", "add", "mk0", "type", "veth", "peer", "name", "mk1");
        await a.ip("link", "set", "mk1", "alias", ownerMark({ ...agent, node: "lax2" }, "ns/theirs"), "up");
        await a.ip("link", "set", "mk0", "alias", ownerMark(agent, "ns/marked"), "up");
        await until("mark", () => seen.includes("ns/marked"), 5000);
        assert.ok(!seen.includes("ns/theirs"), "another node's mark is not attributed");
        // a second namespace; releasing its last placement closes it and re-queues what was tracked there
        const tb = await r.resolve({ kind: "netns-name", name: b.name });
        m.track(tb.id, "ns/inb", { names: ["q0"] });
        assert.equal(r.targets().length, 3);
        seen.length = 0;
        await r.release({ kind: "netns-name", name: b.name });
        assert.ok(tb.ns.closed);
        assert.ok(seen.includes("ns/inb"));
        assert.deepEqual(resyncs, []);
      } finally {
        await m.stop();
        await r.close();
      }
    }, { count: 2, tag: "na" }),
});

Deno.test({
  name: "monitor hold: a pass's own events are dropped once settled; later ones and unsettled ones are queued",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (a) => {
      const seen: string[] = [];
      const r = new NamespaceResolver();
      const m = new DriftMonitor({ agent, enqueue: (k) => seen.push(k), resyncAll: () => {} });
      r.listen(m);
      try {
        const ta = await r.resolve({ kind: "netns-name", name: a.name });
        m.track(ta.id, "ns/x", { names: ["hx0"] });
        m.track(ta.id, "ns/y", { names: ["hy0"] });
        // 1. A pass of ns/x changes its link, settles, then someone else changes it: only the later change is queued.
        m.hold("ns/x");
        await a.ip("link", "add", "hx0", "type", "veth", "peer", "name", "hx1");
        await a.ip("link", "set", "hx0", "mtu", "1300");
        await m.settle("ns/x", [ta.id]);
        assert.equal(seen.join(), "", "the pass's own events are not queued");
        await a.ip("link", "set", "hx0", "mtu", "1310");
        await until("the later change", () => seen.includes("ns/x"), 5000);
        m.release("ns/x");
        assert.equal(seen.join(), "ns/x", "queued once, when it happened");
        seen.length = 0;
        // 2. A pass that ends without settling (no change of its own, or it failed): what was held is queued at the end.
        m.hold("ns/x");
        await a.ip("link", "set", "hx0", "mtu", "1320");
        await m.settle("ns/y", [ta.id]); // another object's settle orders the events but drops nothing of ns/x
        assert.equal(seen.join(), "");
        m.release("ns/x");
        assert.equal(seen.join(), "ns/x");
        seen.length = 0;
        // 3. Objects not in a pass are queued as before, also while another one holds.
        m.hold("ns/x");
        await a.ip("link", "add", "hy0", "type", "veth", "peer", "name", "hy1");
        await until("ns/y queued", () => seen.includes("ns/y"), 5000);
        m.release("ns/x");
        assert.ok(!seen.includes("ns/x"));
      } finally {
        await m.stop();
        await r.close();
      }
    }, { count: 1, tag: "nh" }),
});
