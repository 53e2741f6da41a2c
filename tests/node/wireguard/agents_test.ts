/**
 * Two wg agents (nodes lax1 and lax2) on one host sharing a container namespace, each with its own state directory
 * (as wg-controller's default gives them): equal interface names, sweeps and daemon sweeps never touch the other
 * agent's links or daemons. And the upgrade path: a link with the earlier mark format, served by a wireguard-go this
 * agent cannot reach, is re-marked and replaced; the old daemon exits with its TUN.
 */
import assert from "node:assert/strict";
import type { WireGuardInterfaceSpec } from "../../../src/api/wireguard_interface.ts";
import { Netns } from "../../../src/netlink/mod.ts";
import { type AgentIdentity, legacyMark, ownerMark } from "../../../src/node/ownership.ts";
import { desiredState } from "../../../src/node/wireguard/desired.ts";
import { WgNode } from "../../../src/node/wireguard/apply.ts";
import { Endpoint } from "../../../src/wireguard/addr.ts";
import { generatePrivateKey, WireGuardKey } from "../../../src/wireguard/key.ts";
import { daemonSocketDir, findWireGuardGo, startWireGuardGo, stopWireGuardGo } from "../../../src/wireguard/wggo.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { createNetns, deleteNetns, type TestNetns } from "../../../kit/netns.ts";
import { fakeOwners } from "../../helpers/owners.ts";
import { ifname } from "./scenario.ts";
import { until } from "../../../kit/wait.ts";

const ignore = skipUnless("root", "wireguard-go");
const parse = {
  endpoint: (t: string, f: string) => Endpoint.parse(t, f),
  publicKey: (t: string, f: string) => WireGuardKey.parse("public", t, f),
};

interface Host {
  host: TestNetns;
  ctr: TestNetns;
  hostH: Netns;
  ctrH: Netns;
  dir: string;
  agent(node: string): { id: AgentIdentity; node: WgNode; stateDir: string };
}

async function withHost(fn: (h: Host) => Promise<void>): Promise<void> {
  const host = await createNetns("own-h");
  const ctr = await createNetns("own-c");
  const dir = await Deno.makeTempDir({ prefix: "dn42op-own-" });
  const hostH = Netns.byPath(host.path, host.name);
  const ctrH = Netns.byPath(ctr.path, ctr.name);
  const made: { node: WgNode; stateDir: string }[] = [];
  try {
    await fn({
      host,
      ctr,
      hostH,
      ctrH,
      dir,
      agent(node) {
        const id: AgentIdentity = { kind: "wg", node, namespace: "ns" };
        const stateDir = `${dir}/${node}`;
        const a = {
          id,
          node: new WgNode(hostH, { agent: id, backend: "userspace", wireguardGo: { stateDir } }),
          stateDir,
        };
        made.push(a);
        return a;
      },
    });
  } finally {
    for (const a of made) await a.node.sweepDaemons((names) => Promise.resolve(names)).catch(() => {});
    hostH.close();
    ctrH.close();
    await deleteNetns(ctr);
    await deleteNetns(host);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function desired(name: string, port: number) {
  const spec: WireGuardInterfaceSpec = { node: "x", interfaceName: name, listenPort: port, peers: [] };
  return desiredState(spec, { privateKey: await generatePrivateKey() }, parse);
}

async function ifindex(ns: TestNetns, name: string): Promise<number | undefined> {
  const r = await ns.run("ip", "-j", "link", "show", "dev", name).catch(() => "[]");
  return JSON.parse(r)[0]?.ifindex;
}

Deno.test({
  name: "two agents, one host: equal names, shared namespace; sweeps and daemon sweeps keep to their own",
  ignore,
  fn: () =>
    withHost(async (h) => {
      const lax1 = h.agent("lax1");
      const lax2 = h.agent("lax2");
      const same = ifname();
      const only2 = ifname();
      // lax1's `same` in the container, lax2's `same` in the host (equal names), lax2's `only2` in the container
      const w2 = await desired(same, 40002);
      const r1 = await lax1.node.ensure("ns/a", await desired(same, 40001), h.ctrH);
      const r2 = await lax2.node.ensure("ns/b", w2, h.hostH);
      const r3 = await lax2.node.ensure("ns/c", await desired(only2, 40003), h.ctrH);
      assert.ok(
        r1.converged && r2.converged && r3.converged,
        [r1, r2, r3].map((r) => r.actions.join("; ")).join(" | "),
      );
      const d1 = await findWireGuardGo(same, { stateDir: lax1.stateDir });
      const d2 = await findWireGuardGo(same, { stateDir: lax2.stateDir });
      assert.ok(d1 && d2 && d1.pid !== d2.pid, "one daemon per agent for the equal name");
      for (const a of [lax1, lax2]) await Deno.lstat(`${daemonSocketDir({ stateDir: a.stateDir })}/${same}.sock`);
      const before = { c: await ifindex(h.ctr, same), h: await ifindex(h.host, same), o: await ifindex(h.ctr, only2) };

      // lax1's sweep: its cache holds only ns/a; lax2's objects are unknown to it (the API would show them on lax2)
      const owners1 = fakeOwners({ "ns/a": { node: "lax1", names: [same] } }, { cached: ["ns/a"] });
      for (const ns of [h.hostH, h.ctrH]) assert.deepEqual(await lax1.node.sweep(ns, owners1), []);
      assert.deepEqual(owners1.gets, [], "another agent's links are not even looked up");
      // lax1's daemon sweep with everything unwanted stops lax1's daemon only
      assert.deepEqual(await lax1.node.sweepDaemons((n) => Promise.resolve(n)), [`stop orphan wireguard-go ${same}`]);
      assert.equal(await findWireGuardGo(same, { stateDir: lax1.stateDir }), undefined);
      assert.equal((await findWireGuardGo(same, { stateDir: lax2.stateDir }))?.pid, d2.pid);
      await until("lax1's TUN went with its daemon", async () => (await ifindex(h.ctr, same)) === undefined);

      // lax2 is untouched: nothing to do, same links, same daemon
      assert.deepEqual((await lax2.node.ensure("ns/b", w2, h.hostH)).actions, []);
      assert.equal(await ifindex(h.host, same), before.h);
      assert.equal(await ifindex(h.ctr, only2), before.o);
      assert.ok(before.c !== undefined);

      // lax2's object ns/c deleted from the API: lax2's sweep removes its link, lax1's would not have
      const gone = fakeOwners({ "ns/b": { node: "lax2", names: [same] } }, { cached: ["ns/b"] });
      assert.deepEqual(await lax1.node.sweep(h.ctrH, fakeOwners({})), []);
      assert.deepEqual(await lax2.node.sweep(h.ctrH, gone), [
        `delete orphan ${only2} in ${h.ctrH.label} (owner ns/c no longer exists)`,
      ]);
      assert.equal(await ifindex(h.ctr, only2), undefined);
    }),
});

Deno.test({
  name: "upgrade: a link of the earlier mark format is re-marked; one served by an unreachable daemon is replaced",
  ignore,
  fn: () =>
    withHost(async (h) => {
      const lax1 = h.agent("lax1");
      const name = ifname();
      const want = await desired(name, 40011);
      // What the previous version left: a daemon with its socket elsewhere, its TUN moved, the old mark on it.
      const old = await startWireGuardGo(name, { netnsPath: h.host.path, stateDir: `${h.dir}/old` });
      try {
        await h.host.run("ip", "link", "set", name, "alias", legacyMark("wg", "ns/a"), "netns", h.ctr.name);
        const r = await lax1.node.ensure("ns/a", want, h.ctrH);
        assert.deepEqual(r.actions.slice(0, 3), [
          `mark ${name} in ${h.ctrH.label}`,
          `replace ${name} in ${h.ctrH.label}: no wireguard-go of this agent serves it`,
          `create ${name} (userspace)`,
        ]);
        assert.ok(r.converged, r.actions.join("; "));
        await until("the old daemon exited with its TUN", async () =>
          !(await findWireGuardGo(name, { stateDir: `${h.dir}/old` })));
        const link = JSON.parse(await h.ctr.run("ip", "-j", "-d", "link", "show", "dev", name))[0];
        assert.equal(link.ifalias, ownerMark(lax1.id, "ns/a"));
        assert.ok(await findWireGuardGo(name, { stateDir: lax1.stateDir }), "served by lax1's own daemon");
        // a legacy mark on a link our own daemon serves: re-marked in place, not replaced
        await h.ctr.run("ip", "link", "set", name, "alias", legacyMark("wg", "ns/a"));
        const index = link.ifindex;
        const r2 = await lax1.node.ensure("ns/a", want, h.ctrH);
        assert.deepEqual(r2.actions, [`mark ${name} in ${h.ctrH.label}`]);
        assert.equal(await ifindex(h.ctr, name), index);
        // the sweep leaves legacy marks alone (they name no node), whatever the API says
        await h.ctr.run("ip", "link", "set", name, "alias", legacyMark("wg", "ns/gone"));
        assert.deepEqual(await lax1.node.sweep(h.ctrH, fakeOwners({})), []);
      } finally {
        await stopWireGuardGo(old, { stateDir: `${h.dir}/old` }).catch(() => {});
      }
    }),
});
