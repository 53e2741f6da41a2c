/** Executor against the real kernel, in throwaway namespaces (veth, bridge, vxlan, vlan, macvlan; dummy: kernel tier). */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { dadOver, type TestNetns, withNetns } from "../../../kit/netns.ts";
import type { NetlinkInterfaceSpec } from "../../../src/api/netlink_interface.ts";
import { applyInterface } from "../../../src/node/netlink/apply.ts";
import { desiredInterface } from "../../../src/node/netlink/desired.ts";
import { collectGarbage, removeOwnLinks } from "../../../src/node/netlink/remove.ts";
import { type AgentIdentity, legacyMark, ownerMark } from "../../../src/node/ownership.ts";
import { NamespaceResolver } from "../../../src/node/placement.ts";
import { type Adoption, grantAlias } from "../../../src/node/adoption.ts";
import { fakeOwners } from "../../helpers/owners.ts";
import { bridgeExample, vethExample } from "./examples.ts";

const ignore = skipUnless("root");
const KEY = "default/t1";
const AGENT: AgentIdentity = { kind: "nl", node: "lax1", namespace: "default" };

async function pass(r: NamespaceResolver, spec: NetlinkInterfaceSpec, dryRun = false, adoption?: Adoption) {
  const want = desiredInterface(spec, "t");
  const targets = await Promise.all(want.ends.map((e) => r.resolve(e.placement)));
  return applyInterface(want, targets, { key: KEY, agent: AGENT, dryRun, adoption });
}

async function withResolver(fn: (r: NamespaceResolver, ...ns: TestNetns[]) => Promise<void>, count = 1) {
  await withNetns(async (...ns) => {
    const r = new NamespaceResolver();
    try {
      await fn(r, ...ns);
    } finally {
      await r.close();
    }
  }, { count, tag: "na" });
}

const netns = (n: TestNetns) => ({ netns: { name: n.name } });

Deno.test({
  name: "veth across two namespaces: addresses and state on both ends, ff02::1 answered by both; converges",
  ignore,
  fn: () =>
    withResolver(async (r, a, b) => {
      const spec = vethExample("n", netns(a), netns(b));
      const dry = await pass(r, spec, true);
      assert.ok(dry.actions.some((x) => x.verb === "create"));
      assert.equal(dry.ends[0].link, null, "dry-run created nothing");
      const first = await pass(r, spec);
      assert.deepEqual(first.problems, []);
      const [l, p] = first.ends;
      assert.ok(l.link?.up && p.link?.up);
      assert.ok(l.addresses.some((x) => x.local === "fe80::eeee:1"));
      assert.ok(p.addresses.some((x) => x.local === "fe80::eeee:2"));
      await dadOver((...x) => a.ip(...x), "veth1-a");
      await dadOver((...x) => b.ip(...x), "veth1-b");
      const ping = await a.run("ping", "-6", "-c", "3", "-w", "5", "ff02::1%veth1-a");
      assert.match(ping, /fe80::eeee:2/);
      const again = await pass(r, spec);
      assert.deepEqual(again.actions, [], "second pass is a no-op (kernel link-local kept)");
      // drift: address removed on the peer, MTU changed, link down → healed
      await b.ip("addr", "del", "fe80::eeee:2/64", "dev", "veth1-b");
      await a.ip("link", "set", "veth1-a", "mtu", "1300", "down");
      const heal = await pass(r, { ...spec, mtu: 1400 });
      // (link down also flushes the local end's IPv6 addresses: both are re-added)
      assert.ok(heal.actions.some((x) => x.verb === "address-add" && x.link === "veth1-b"));
      assert.ok(heal.actions.some((x) => x.detail === "up" && x.link === "veth1-a"));
      assert.ok(heal.ends.every((e) => e.link?.up && e.addresses.some((x) => x.local.startsWith("fe80::eeee:"))));
      assert.equal(heal.ends[0].link?.mtu, 1400);
      assert.equal(heal.ends[1].link?.mtu, 1400);
      // moved away: local end moved into the peer namespace → pair recreated
      await a.ip("link", "set", "veth1-a", "netns", b.name);
      const moved = await pass(r, spec);
      assert.ok(moved.actions.some((x) => x.verb === "recreate"));
      assert.ok(moved.ends[0].link && moved.ends[1].link);
      assert.doesNotMatch(await b.ip("-br", "link"), /veth1-a/);
      const removed = await removeOwnLinks(AGENT, KEY, moved.ends, false);
      assert.deepEqual(removed.map((x) => x.name), ["veth1-a"], "the peer goes with its pair");
      assert.doesNotMatch(await b.ip("-br", "link"), /veth1/);
      assert.doesNotMatch(await a.ip("-br", "link"), /veth1/);
    }, 2),
});

Deno.test({
  name:
    "bridge: exact slave list (enslave, release) of links an administrator opted in, foreign link never deleted, GC",
  ignore,
  fn: () =>
    withResolver(async (r, a) => {
      for (const v of ["v1", "v2", "v3"]) await a.ip("link", "add", v, "type", "veth", "peer", "name", `${v}p`);
      const spec = bridgeExample("n", netns(a));
      // v1..v3 were not made by dn42op: without an opt-in they are refused, by name, and left alone.
      const refused = await pass(r, spec);
      assert.deepEqual(refused.problems.map((x) => x.reason), ["LinkConflict", "LinkConflict"]);
      assert.match(
        refused.problems[0].message,
        /^link v1 in .* was not created by dn42op, so it is not ours to enslave/,
      );
      assert.deepEqual(refused.ends[0].slaves, []);
      // The node's administrator grants v1 (alias), a cluster administrator v2 and v3 (the object's annotation).
      await a.ip("link", "set", "v1", "alias", grantAlias(KEY));
      const optIn: Adoption = { key: KEY, links: new Set(["v2", "v3"]) };
      const res = await pass(r, spec, false, optIn);
      assert.deepEqual(res.problems, []);
      assert.deepEqual(res.ends[0].slaves, ["v1", "v2"]);
      assert.match(await a.ip("addr", "show", "nl2-bridge"), /10\.100\.3\.1 peer 10\.100\.4\.1\/32/);
      await a.ip("link", "set", "v3", "master", "nl2-bridge");
      await a.ip("link", "set", "v1", "nomaster");
      const heal = await pass(r, spec, false, optIn);
      assert.deepEqual(heal.actions.map((x) => `${x.verb} ${x.detail}`).sort(), ["enslave v1", "release v3"]);
      assert.equal(heal.ends[0].link?.mtu, 1420);
      assert.deepEqual(heal.ends[0].slaves, ["v1", "v2"]);
      // a missing slave is reported, the rest converges
      const missing = await pass(r, { ...spec, bridge: { slaves: ["v1", "v2", "nope"] } }, false, optIn);
      assert.equal(missing.problems[0].reason, "DependencyNotFound");
      // GC: owner alive → kept; owner gone from the API → deleted; another node's and unmarked links untouched
      const t = await r.resolve({ kind: "netns-name", name: a.name });
      await a.ip("link", "add", "theirs", "type", "bridge");
      await a.ip("link", "set", "theirs", "alias", ownerMark({ ...AGENT, node: "lax2" }, KEY));
      const alive = fakeOwners({ [KEY]: { node: "lax1", names: ["nl2-bridge"] } });
      assert.deepEqual(await collectGarbage(t, AGENT, alive, false), []);
      const dry = await collectGarbage(t, AGENT, fakeOwners({}), true);
      assert.deepEqual(dry.map((x) => `${x.name}: ${x.why}`), [`nl2-bridge: owner ${KEY} no longer exists`]);
      assert.match(await a.ip("-br", "link"), /nl2-bridge/);
      await collectGarbage(t, AGENT, fakeOwners({}), false);
      assert.doesNotMatch(await a.ip("-br", "link"), /nl2-bridge/);
      assert.match(await a.ip("-br", "link"), /v3/);
      assert.match(await a.ip("-br", "link"), /theirs/, "another node's link is never collected");
    }),
});

Deno.test({
  name: "migration: a link with the earlier mark format is re-marked in place (same ifindex), never recreated",
  ignore,
  fn: () =>
    withResolver(async (r, a) => {
      for (const v of ["v1", "v2"]) {
        await a.ip("link", "add", v, "type", "veth", "peer", "name", `${v}p`);
        await a.ip("link", "set", v, "alias", grantAlias(KEY)); // the node's administrator lets the bridge use them
      }
      const spec = bridgeExample("n", netns(a));
      assert.deepEqual((await pass(r, spec)).problems, []);
      // what the previous version left: its mark names the object but no node
      await a.ip("link", "set", "nl2-bridge", "alias", legacyMark("nl", KEY));
      const before = JSON.parse(await a.ip("-j", "link", "show", "nl2-bridge"))[0].ifindex;
      const res = await pass(r, spec);
      assert.deepEqual(res.problems, []);
      assert.deepEqual(res.actions.map((x) => x.detail), [`mark ${legacyMark("nl", KEY)} → ${ownerMark(AGENT, KEY)}`]);
      const after = JSON.parse(await a.ip("-j", "-d", "link", "show", "nl2-bridge"))[0];
      assert.equal(after.ifindex, before, "not recreated");
      assert.equal(after.ifalias, ownerMark(AGENT, KEY));
      assert.deepEqual((await pass(r, spec)).actions, [], "converged");
      // a legacy mark of the object is its own on deletion too
      await a.ip("link", "set", "nl2-bridge", "alias", legacyMark("nl", KEY));
      const t = await r.resolve({ kind: "netns-name", name: a.name });
      const removed = await removeOwnLinks(AGENT, KEY, [{ target: t, name: "nl2-bridge" }], false);
      assert.deepEqual(removed.map((x) => x.name), ["nl2-bridge"]);
    }),
});

Deno.test({
  name: "vxlan: all parameters incl. local applied; a changed immutable parameter recreates; foreign conflict",
  ignore,
  fn: () =>
    withResolver(async (r, a) => {
      await a.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
      await a.ip("addr", "add", "10.4.0.1/24", "dev", "ul0");
      const spec: NetlinkInterfaceSpec = {
        node: "n",
        interfaceName: "vxlan1",
        type: "vxlan",
        up: true,
        addresses: [{ ipcidr: "fe80::1/64" }],
        container: netns(a),
        vxlan: {
          vni: 142,
          port: 4789,
          local: "10.4.0.1",
          group: "10.4.0.2",
          dev: "ul0",
          ttl: 5,
          portRange: [1000, 2000],
        },
      };
      const res = await pass(r, spec);
      assert.deepEqual(res.problems, []);
      const d = await a.ip("-d", "link", "show", "vxlan1");
      assert.match(d, /vxlan id 142 remote 10\.4\.0\.2 local 10\.4\.0\.1 dev ul0 srcport 1000 2000 dstport 4789/);
      assert.match(d, /ttl 5/);
      assert.deepEqual((await pass(r, spec)).actions, []);
      const changed = await pass(r, { ...spec, vxlan: { ...spec.vxlan!, local: "10.4.0.3" } });
      assert.equal(changed.actions[0].verb, "recreate");
      assert.match(changed.actions[0].detail, /local 10\.4\.0\.1 → 10\.4\.0\.3/);
      assert.match(await a.ip("-d", "link", "show", "vxlan1"), /local 10\.4\.0\.3/);
      // a missing underlay is a DependencyNotFound problem
      const nodev = await pass(r, { ...spec, interfaceName: "vxlan2", vxlan: { ...spec.vxlan!, dev: "nope" } });
      assert.equal(nodev.problems[0].reason, "DependencyNotFound");
      // an unmarked link with the wanted name that differs is a conflict and stays untouched
      await a.ip("link", "add", "vxlan3", "type", "vxlan", "id", "9", "dstport", "4789");
      const conflict = await pass(r, { ...spec, interfaceName: "vxlan3" });
      assert.equal(conflict.problems[0].reason, "LinkConflict");
      assert.match(await a.ip("-d", "link", "show", "vxlan3"), /vxlan id 9/);
    }),
});

Deno.test({
  name: "macvlan on a veth parent (vlan: kernel tier)",
  ignore,
  fn: () =>
    withResolver(async (r, a) => {
      await a.ip("link", "add", "p0", "type", "veth", "peer", "name", "p1");
      const mv = await pass(r, {
        node: "n",
        interfaceName: "mv0",
        type: "macvlan",
        up: true,
        container: netns(a),
        macvlan: { link: "p0", mode: "bridge" },
      });
      assert.deepEqual(mv.problems, []);
      assert.match(await a.ip("-d", "link", "show", "mv0"), /macvlan mode bridge/);
    }),
});

Deno.test({
  name: "placement: refuses pid 1 and a path to the agent's own namespace; unknown netns is PlacementNotFound",
  ignore,
  fn: async () => {
    const r = new NamespaceResolver();
    try {
      await assert.rejects(
        r.resolve({ kind: "pid", pid: 1 }),
        (e: Error & { reason?: string }) => e.reason === "PlacementForbidden",
      );
      await assert.rejects(
        r.resolve({ kind: "pid", pid: Deno.pid }),
        (e: Error & { reason?: string }) => e.reason === "PlacementForbidden",
      );
      await assert.rejects(
        r.resolve({ kind: "netns-path", path: "/proc/self/ns/net" }),
        /agent.s own network namespace/,
      );
      await assert.rejects(
        r.resolve({ kind: "netns-name", name: "dn42op-na-missing" }),
        (e: Error & { reason?: string }) => e.reason === "PlacementNotFound",
      );
      assert.equal((await r.resolve({ kind: "host" })).isHost, true);
    } finally {
      await r.close();
    }
  },
});
