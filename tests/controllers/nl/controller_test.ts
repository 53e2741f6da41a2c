/**
 * nl-controller end to end: a real kube-apiserver, the real kernel, the controller as a real process confined to a
 * throwaway network namespace, links placed in further throwaway namespaces.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { kubectl, withNamespace } from "../../../kit/cluster.ts";
import { dadOver, type TestNetns, withNetns } from "../../../kit/netns.ts";
import { bridgeExample, vethExample } from "../../node/netlink/examples.ts";
import { grantAlias } from "../../../src/node/adoption.ts";
import {
  type Agent,
  create,
  customApi,
  isReady,
  NLI,
  nli,
  type Obj,
  read,
  ready,
  startNlAgent,
  WAIT_MS,
} from "../../../kit/nl_agent.ts";
import { holds, until } from "../../../kit/wait.ts";
import { metricSum } from "../../../kit/agent.ts";

const ignore = skipUnless("root", "cluster");

/** Runs `fn` with a Kubernetes namespace, `n` link namespaces and an agent for node "n1". */
async function scenario(
  n: number,
  fn: (ctx: { ns: string; agent: Agent; nets: TestNetns[] }) => Promise<void>,
  args: string[] = [],
) {
  await withNamespace(async ({ namespace }) => {
    await withNetns(async (...nets) => {
      const agent = await startNlAgent({ nodename: "n1", namespace, args: ["-default-resync-period=3600", ...args] });
      try {
        await fn({ ns: namespace, agent, nets });
      } catch (e) {
        console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
        throw e;
      } finally {
        await agent.dispose();
      }
    }, { count: n, tag: "na" });
  }, { prefix: "dn42op-na-" });
}

/** Registers a cluster test running {@link scenario}. */
function e2e(name: string, ...a: Parameters<typeof scenario>): void {
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn: () => scenario(...a) });
}

const netns = (t: TestNetns) => ({ netns: { name: t.name } });
const links = (t: TestNetns) => t.ip("-d", "-br", "link").catch(() => "");
const addrs = (t: TestNetns, dev: string) => t.ip("addr", "show", "dev", dev).catch(() => "");
const dadDone = (t: TestNetns, dev: string) => dadOver((...a) => t.ip(...a), dev);

/** The agent's /metrics, for the tests that pass `-metrics-bind-address=${METRICS}`. */
const METRICS = "127.0.0.1:9468";

/** Reconciliations the agent has run so far, whatever their result. */
const reconciles = (agent: Agent) =>
  metricSum(agent, METRICS, "controller_runtime_reconcile_total", 'controller="nl-controller"');

e2e(
  "veth example across two namespaces: addresses, up, ff02::1 answered by both; status, finalizer, Event",
  2,
  async ({ ns, nets: [a, b] }) => {
    const api = await customApi();
    await create(
      api,
      nli(ns, "lax1-veth1", vethExample("n1", netns(a), netns(b))),
    );
    const o: Obj = await ready(api, ns, "lax1-veth1");
    assert.deepEqual(o.metadata.finalizers, ["netlinkinterface.networking.dn42.io/finalizer"]);
    assert.equal(o.status.nodename, "n1");
    assert.ok(o.status.addresses.includes("fe80::eeee:1/64"));
    assert.ok(o.status.veth.peer.addresses.includes("fe80::eeee:2/64"));
    assert.deepEqual(o.status.flags.slice(0, 1), ["UP"]);
    await dadDone(a, "veth1-a");
    await dadDone(b, "veth1-b");
    assert.match(await a.run("ping", "-6", "-c", "3", "-w", "5", "ff02::1%veth1-a"), /fe80::eeee:2/);
    assert.match(await addrs(a, "veth1-a"), /fe80::eeee:1\/64/);
    const evs = await kubectl(["-n", ns, "get", "events", "-o", "json"]);
    assert.ok(JSON.parse(evs.stdout).items.some((e: Obj) => e.reason === "Created"));
  },
);

e2e(
  "vxlan over an underlay and a bridge with slaves reach their expected results",
  2,
  async ({ ns, nets: [a, b] }) => {
    const api = await customApi();
    // underlay: a veth pair between a and b (test setup, not managed)
    await a.ip("link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", b.name);
    await a.ip("addr", "add", "10.4.0.1/24", "dev", "ul0");
    await b.ip("addr", "add", "10.4.0.2/24", "dev", "ul0");
    await a.ip("link", "set", "ul0", "up");
    await b.ip("link", "set", "ul0", "up");
    for (
      const [t, name, local, remote, ll] of [[a, "vx1", "10.4.0.1", "10.4.0.2", "fe80::1/64"], [
        b,
        "vx2",
        "10.4.0.2",
        "10.4.0.1",
        "fe80::2/64",
      ]] as const
    ) {
      await create(
        api,
        nli(ns, `lax1-${name}`, {
          node: "n1",
          interfaceName: name === "vx1" ? "vxlan1" : "vxlan2",
          type: "vxlan",
          up: true,
          addresses: [{ ipcidr: ll }],
          container: netns(t),
          vxlan: { vni: 142, port: 4789, local, group: remote, dev: "ul0" },
        }),
      );
    }
    await a.ip("link", "add", "v1", "type", "veth", "peer", "name", "v1p");
    await a.ip("link", "add", "v2", "type", "veth", "peer", "name", "v2p");
    // v1 and v2 were not made by dn42op: the node's administrator lets the bridge example's object use them.
    for (const v of ["v1", "v2"]) await a.ip("link", "set", v, "alias", grantAlias(`${ns}/lax1-nl2-bridge`));
    await create(
      api,
      nli(ns, "lax1-nl2-bridge", bridgeExample("n1", netns(a))),
    );
    for (const n of ["lax1-vx1", "lax1-vx2", "lax1-nl2-bridge"]) {
      await ready(api, ns, n);
    }
    const br = await read(api, ns, "lax1-nl2-bridge");
    assert.deepEqual(br.status.bridge.enslavedLinks, ["v1", "v2"]);
    assert.equal(br.status.mtu, 1420);
    assert.match(await a.ip("-d", "link", "show", "vxlan1"), /remote 10\.4\.0\.2 local 10\.4\.0\.1 dev ul0/);
    await dadDone(a, "vxlan1");
    await dadDone(b, "vxlan2");
    const ping = await a.run("ping", "-6", "-c", "3", "-w", "6", "ff02::1%vxlan1");
    assert.match(ping, /fe80::2/);
  },
);

e2e(
  "drift healed from rtnetlink events (resync 1 h): deleted, address removed/added, MTU, down, slave, moved",
  2,
  async ({ ns, nets: [a, other] }) => {
    const api = await customApi();
    await a.ip("link", "add", "s1", "type", "veth", "peer", "name", "s1p");
    await a.ip("link", "set", "s1", "alias", grantAlias(`${ns}/br`)); // the node administrator lets br use it
    await create(
      api,
      nli(ns, "br", {
        node: "n1",
        interfaceName: "br0",
        type: "bridge",
        bridge: { slaves: ["s1"] },
        addresses: [{ ipcidr: "10.9.0.1/24" }],
        mtu: 1400,
        up: true,
        container: netns(a),
      }),
    );
    // bridges cannot leave their namespace (the kernel marks them netns-local): "moved away" uses a veth pair
    await create(api, nli(ns, "mv", { node: "n1", interfaceName: "mv0", type: "veth", up: true, container: netns(a) }));
    await ready(api, ns, "br");
    await ready(api, ns, "mv");
    const bridgeOk = async () => {
      const s = await a.ip("-d", "link", "show", "br0").catch(() => "");
      const ad = await addrs(a, "br0");
      const s1 = await a.ip("link", "show", "s1");
      return /mtu 1400/.test(s) && /,UP/.test(s) && /10\.9\.0\.1\/24/.test(ad) && !/10\.9\.0\.99/.test(ad) &&
        /master br0/.test(s1);
    };
    const vethOk = async () => /mv0@mv0-peer\s+UP/.test(await a.ip("-br", "link")) && !/mv0/.test(await links(other));
    const drifts: [string, () => Promise<unknown>, () => Promise<boolean>][] = [
      ["link deleted", () => a.ip("link", "del", "br0"), bridgeOk],
      ["address removed", () => a.ip("addr", "del", "10.9.0.1/24", "dev", "br0"), bridgeOk],
      ["address added", () => a.ip("addr", "add", "10.9.0.99/24", "dev", "br0"), bridgeOk],
      ["MTU changed", () => a.ip("link", "set", "br0", "mtu", "1300"), bridgeOk],
      ["link down", () => a.ip("link", "set", "br0", "down"), bridgeOk],
      ["slave released", () => a.ip("link", "set", "s1", "nomaster"), bridgeOk],
      ["moved away", () => a.ip("link", "set", "mv0", "netns", other.name), vethOk],
    ];
    for (const [what, mutate, healthy] of drifts) {
      await mutate();
      const t0 = performance.now();
      await until(`healed: ${what}`, healthy, 20_000, 20);
      console.log(`healed ${what} in ${(performance.now() - t0).toFixed(0)} ms (polled with ip(8))`);
    }
    assert.equal((await read(api, ns, "br")).status.conditions.find((c: Obj) => c.type === "Ready").status, "True");
  },
);

e2e(
  "deletion with our finalizer removes the links; without it (finalizer stripped) too; foreign links stay",
  1,
  async ({ ns, nets: [a] }) => {
    const api = await customApi();
    await a.ip("link", "add", "foreign0", "type", "veth", "peer", "name", "foreign1");
    for (const n of ["d1", "d2"]) {
      await create(api, nli(ns, n, { node: "n1", interfaceName: n, type: "bridge", up: true, container: netns(a) }));
      await ready(api, ns, n);
    }
    await api.deleteNamespacedCustomObject({ ...NLI, namespace: ns, name: "d1" });
    await until("d1 gone", async () => (await read(api, ns, "d1")) === null, WAIT_MS);
    await until("link d1 removed", async () => !/^d1 /m.test(await links(a)), WAIT_MS);
    await api.patchNamespacedCustomObject({
      ...NLI,
      namespace: ns,
      name: "d2",
      body: [{ op: "remove", path: "/metadata/finalizers" }],
    }, { headers: { "Content-Type": "application/json-patch+json" } } as never);
    await api.deleteNamespacedCustomObject({ ...NLI, namespace: ns, name: "d2" });
    await until("link d2 removed", async () => !/^d2 /m.test(await links(a)), WAIT_MS);
    assert.match(await links(a), /foreign0/);
  },
);

e2e(
  "API server unreachable over two resync passes: no kernel change; afterwards still converged",
  1,
  async ({ ns, agent, nets: [a] }) => {
    const api = await customApi();
    for (const n of ["u1", "u2"]) {
      await create(
        api,
        nli(ns, n, {
          node: "n1",
          interfaceName: n,
          type: "bridge",
          up: true,
          addresses: [{ ipcidr: n === "u1" ? "10.1.0.1/24" : "10.1.1.1/24" }],
          container: netns(a),
        }),
      );
      await ready(api, ns, n);
    }
    // links (name, flags, mtu, group, alias) and addresses; kernel timers and DAD progress are not our changes
    const snap = async () =>
      `${await a.ip("-o", "link")}\n${await a.ip("-o", "addr")}`.replace(/\\\s+valid_lft.*$/gm, "")
        .replace(/ tentative/g, "").replace(/ qlen \d+/g, "");
    const before = await snap();
    await agent.setApiReachable(false);
    // Everything the agent does on its own while the API server is away: both objects reconciled twice from the
    // cache (resync period 2 s) and the sweep run again.
    const start = await reconciles(agent);
    await until("two resync passes during the outage", async () => await reconciles(agent) >= start + 4, WAIT_MS);
    const during = await snap();
    await agent.setApiReachable(true).catch(() => {}); // a slow pipe start only delays reconnection
    assert.equal(during, before, "kernel state changed while the API server was unreachable");
    const back = await reconciles(agent);
    await until("a resync pass after the outage", async () => await reconciles(agent) >= back + 2, WAIT_MS);
    assert.equal(await snap(), before);
    assert.ok(isReady(await read(api, ns, "u1")));
  },
  ["-default-resync-period=2", `-metrics-bind-address=${METRICS}`],
);

e2e(
  "-dry-run changes nothing: no links, no status, no finalizer",
  1,
  async ({ ns, agent, nets: [a] }) => {
    const api = await customApi();
    await create(
      api,
      nli(ns, "dry", { node: "n1", interfaceName: "dry0", type: "bridge", up: true, container: netns(a) }),
    );
    // nothing observable changes in dry-run mode while the agent reconciles the object three times (the first pass
    // and two resyncs); then it is stopped (the log is flushed on exit)
    await until("three passes over the object", async () => {
      assert.doesNotMatch(await links(a), /dry0/);
      return await reconciles(agent) >= 3;
    }, WAIT_MS);
    await agent.stop("SIGTERM");
    const logged = (re: RegExp) =>
      until(`log ${re}`, async () => re.test(await Deno.readTextFile(agent.logFile)), 20_000);
    await logged(/dry-run: would add finalizer/);
    await logged(/dry-run: would change.*create dry0/);
    const o = await read(api, ns, "dry");
    assert.equal(o.status, undefined);
    assert.equal(o.metadata.finalizers, undefined);
    assert.doesNotMatch(await links(a), /dry0/);
  },
  ["-dry-run", "-default-resync-period=2", `-metrics-bind-address=${METRICS}`],
);

e2e(
  "two nodes: each agent handles and writes status only for its own node's objects (docs/reference.md#nl-status-all-nodes)",
  2,
  async ({ ns, nets: [a, b] }) => {
    const api = await customApi();
    const n2 = await startNlAgent({ nodename: "n2", namespace: ns });
    try {
      // n3's object first: an agent that wrongly took it would have handled it before the other two were Ready
      await create(
        api,
        nli(ns, "on-n3", { node: "n3", interfaceName: "x3", type: "bridge", up: true, container: netns(b) }),
      );
      await create(
        api,
        nli(ns, "on-n1", { node: "n1", interfaceName: "x1", type: "bridge", up: true, container: netns(a) }),
      );
      await create(
        api,
        nli(ns, "on-n2", { node: "n2", interfaceName: "x2", type: "bridge", up: true, container: netns(b) }),
      );
      const o1 = await ready(api, ns, "on-n1");
      const o2 = await ready(api, ns, "on-n2");
      assert.equal(o1.status.nodename, "n1");
      assert.equal(o2.status.nodename, "n2");
      const o3 = await read(api, ns, "on-n3");
      assert.equal(o3.status, undefined, "nobody writes the status of another node's object");
      assert.doesNotMatch(await links(b), /x3/);
      assert.equal((await read(api, ns, "on-n1")).status.nodename, "n1");
    } finally {
      await n2.dispose();
    }
  },
);

e2e(
  "SIGKILL mid-reconcile, restart: converges with no leaked links; deleting all leaves none",
  1,
  async ({ ns, agent, nets: [a] }) => {
    const api = await customApi();
    const N = 20;
    for (let i = 0; i < N; i++) {
      await create(
        api,
        nli(ns, `k${i}`, {
          node: "n1",
          interfaceName: `k${i}`,
          type: "veth",
          up: true,
          container: netns(a),
          addresses: [{ ipcidr: `10.7.${i}.1/24` }],
        }),
      );
    }
    await until("some links exist", async () => /k\d+@/.test(await links(a)), 120_000, 5);
    await agent.stop("SIGKILL");
    await agent.restart();
    for (let i = 0; i < N; i++) await ready(api, ns, `k${i}`);
    const names = (await links(a)).split("\n").map((l) => l.split(/[\s@]/)[0]).filter((x) => /^k\d+(-peer)?$/.test(x));
    assert.equal(names.length, 2 * N, `exactly ${N} pairs: ${names.join(",")}`);
    for (let i = 0; i < N; i++) await api.deleteNamespacedCustomObject({ ...NLI, namespace: ns, name: `k${i}` });
    await until("all removed", async () => !/k\d+/.test(await links(a)), 30_000);
  },
);

e2e(
  "a new link takes one pass, none for the echoes of its own changes (links, addresses, finalizer); a drift takes one",
  1,
  async ({ ns, agent, nets: [a] }) => {
    // No IPv6 here: the kernel's own link-local address, added about a second after the link comes up, is a change
    // the status shows (one more pass, rightly), not an echo of ours.
    await a.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
    const api = await customApi();
    await create(
      api,
      nli(ns, "echo", {
        node: "n1",
        interfaceName: "echo0",
        type: "bridge",
        up: true,
        mtu: 1400,
        addresses: [{ ipcidr: "10.9.0.1/24" }, { ipcidr: "10.9.1.1", peerCidr: "10.9.2.1/32" }],
        container: netns(a),
      }),
    );
    await ready(api, ns, "echo");
    assert.equal(await reconciles(agent), 1, "the pass that made the link is the only one");
    await holds("no second pass for the pass's own link and address events", () => reconciles(agent), 1, 2000);

    // Someone else changes the MTU: one pass heals it.
    await a.ip("link", "set", "dev", "echo0", "mtu", "1300");
    await until("MTU healed", async () => (await a.ip("link", "show", "dev", "echo0")).includes("mtu 1400"), WAIT_MS);
    const after = await reconciles(agent);
    await holds("healing the drift costs no further pass", () => reconciles(agent), after, 2000);
    assert.equal(after, 2, "one pass for the drift");
  },
  [`-metrics-bind-address=${METRICS}`],
);
