/**
 * wg-controller end to end: a real kube-apiserver, the real kernel, wireguard-go, the controller as a real process
 * confined to a throwaway network namespace (its host namespace), links moved into further throwaway namespaces.
 */
import assert from "node:assert/strict";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { metricValue } from "../../../kit/agent.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { wg } from "../../helpers/wgtool.ts";
import {
  condition,
  create,
  type Ctx,
  ifname,
  isReady,
  METRICS,
  type Obj,
  patchSpec,
  read,
  reconciles,
  remove,
  secret,
  snapshot,
  wgi,
  wireguardGoPids,
  withAgent,
} from "./support.ts";
import { until } from "../../../kit/wait.ts";

const ignore = skipUnless("root", "cluster", "wireguard-go");
const START_MS = 180_000;

async function keypair() {
  const priv = await generatePrivateKey();
  return { priv: priv.toBase64(), pub: (await publicKeyOf(priv)).toBase64() };
}

/** The reference examples lax1-wg1 + lax1-wg2 (Secrets with raw key bytes), with random names and netns targets. */
async function referencePair(ctx: Ctx) {
  const [c1, c2] = ctx.ctrs;
  const k1 = await keypair();
  const k2 = await keypair();
  const n1 = ifname();
  const n2 = ifname();
  await secret(ctx.ns, "wg1", k1.priv);
  await secret(ctx.ns, "wg2", k2.priv);
  await create(wgi(ctx.ns, "wg1", {
    node: "lax1",
    moveToContainer: true,
    container: { netns: { name: c1.name } },
    interfaceName: n1,
    privateKeySecretRef: { name: "wg1", key: "privatekey" },
    addresses: [{ family: "inet6", local: "fe80::1771", peer: "fe80::a:1771", prefixlen: 64 }],
    listenPort: 51021,
    mtu: 1420,
    peers: [{ publicKey: k2.pub, allowedIPs: ["0.0.0.0/0", "::/0"] }],
  }));
  await create(wgi(ctx.ns, "wg2", {
    node: "lax1",
    moveToContainer: true,
    container: { netns: { name: c2.name } },
    interfaceName: n2,
    privateKeySecretRef: { name: "wg2", key: "privatekey" },
    addresses: [{ family: "inet6", local: "fe80::a:1771", peer: "fe80::1771", prefixlen: 64 }],
    listenPort: 51022,
    mtu: 1420,
    peers: [{ publicKey: k1.pub, allowedIPs: ["0.0.0.0/0", "::/0"], endpoint: "127.0.0.1:51021" }],
  }));
  const t0 = performance.now();
  // The first Ready includes the controller's start (module loading takes 10-30 s on this shared machine).
  const o1 = await until(
    "wg1 Ready",
    async () => isReady(await read(ctx.ns, "wg1")) && await read(ctx.ns, "wg1"),
    START_MS,
  );
  const o2 = await until(
    "wg2 Ready",
    async () => isReady(await read(ctx.ns, "wg2")) && await read(ctx.ns, "wg2"),
    START_MS,
  );
  const readyMs = performance.now() - t0;
  return { c1, c2, k1, k2, n1, n2, o1, o2, readyMs };
}

async function ping6(ctx: Ctx, ifn: string): Promise<boolean> {
  try {
    await ctx.ctrs[0].run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", `fe80::a:1771%${ifn}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "wg-controller: reference lax1-wg1 + lax1-wg2 reach the README result; status has no private key",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx);
      const shown = await r.c1.ip("addr", "show", "dev", r.n1);
      assert.match(shown, /UP/);
      assert.match(shown, /mtu 1420/);
      assert.match(shown, /inet6 fe80::1771 peer fe80::a:1771\/64 scope link/);
      assert.match(await r.c2.ip("addr", "show", "dev", r.n2), /inet6 fe80::a:1771 peer fe80::1771\/64 scope link/);
      // The UDP sockets live in the agent's host namespace, not in the containers.
      assert.match(await ctx.agent.host.run("ss", "-Hulna"), /:51021\b/);
      assert.doesNotMatch(await r.c1.run("ss", "-Hulna"), /:51021\b/);
      assert.ok(await until("ping fe80::a:1771%wg1", () => ping6(ctx, r.n1), 20_000));

      const o1 = await until("handshake in status", async () => {
        const o = await read(ctx.ns, "wg1");
        return o?.status?.wireguard?.peers?.[0]?.last_handshake_time && o;
      });
      const text = JSON.stringify(o1);
      assert.ok(!text.includes(r.k1.priv) && !text.includes(r.k2.priv), "no private key in the object");
      assert.equal(o1.status.wireguard.public_key, r.k1.pub);
      assert.equal(o1.status.wireguard.listen_port, 51021);
      assert.equal(o1.status.nodename, "lax1");
      assert.ok(o1.metadata.finalizers.includes("wireguardinterface.networking.dn42.io/finalizer"));
      assert.deepEqual(o1.status.addresses.filter((a: string) => a.includes("->")), ["fe80::1771 -> fe80::a:1771/64"]);
      assert.ok(o1.status.wireguard.peers[0].receive_bytes > 0);
      console.log(`both Ready after ${r.readyMs.toFixed(0)} ms`);

      // Peer metrics as prometheus_wireguard_exporter names them, from the controller's own poll.
      const labels = `interface="${r.n1}",public_key="${r.k2.pub}",allowed_ips="0.0.0.0/0,::/0",node="lax1",` +
        `namespace="${ctx.ns}",wireguardinterface="wg1"`;
      const metric = (name: string, l = labels) => metricValue(ctx.agent, METRICS, name, l);
      const handshake = await until("handshake in /metrics", () => metric("wireguard_latest_handshake_seconds"));
      assert.ok(Math.abs(handshake - Date.now() / 1000) < 180, `handshake ${handshake} is recent`);
      assert.ok(await metric("wireguard_received_bytes_total") > 0);
      assert.ok(await metric("wireguard_sent_bytes_total") > 0);
      assert.equal(await metric("dn42op_wireguard_persistent_keepalive_seconds"), 0);
      const ready = `kind="WireGuardInterface",namespace="${ctx.ns}",name="wg1",node="lax1"`;
      assert.equal(await metric("dn42op_object_ready", ready), 1);
    }, [`-metrics-bind-address=${METRICS}`]),
});

Deno.test({
  name: "wg-controller: every drift class is healed (link, address, MTU, down, peer, key, listen port)",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx);
      const c1 = r.c1;
      const n = r.n1;
      const healed = async (what: string, check: () => Promise<boolean>) => {
        const t0 = performance.now();
        await until(`healed: ${what}`, check, 20_000);
        console.log(`${what}: healed in ${(performance.now() - t0).toFixed(0)} ms`);
      };
      const show = () => c1.ip("addr", "show", "dev", n).catch(() => "");
      const dump = () => wg(c1, ctx.stateDir, "show", n, "dump").catch(() => "");

      await c1.ip("addr", "del", "fe80::1771", "peer", "fe80::a:1771/64", "dev", n);
      await healed("address removed", async () => /fe80::1771 peer fe80::a:1771/.test(await show()));
      await c1.ip("link", "set", n, "mtu", "1300");
      await healed("MTU changed", async () => /mtu 1420/.test(await show()));
      await c1.ip("link", "set", n, "down");
      await healed("link down", async () => /[<,]UP[,>]/.test(await show()));
      await wg(c1, ctx.stateDir, "set", n, "peer", r.k2.pub, "remove");
      await healed("peer removed", async () => (await dump()).includes(r.k2.pub));
      const other = await keypair();
      const keyFile = await Deno.makeTempFile();
      await Deno.writeTextFile(keyFile, other.priv);
      await wg(c1, ctx.stateDir, "set", n, "private-key", keyFile);
      await Deno.remove(keyFile);
      await healed("key changed", async () => (await dump()).split("\n")[0].split("\t")[1] === r.k1.pub);
      await wg(c1, ctx.stateDir, "set", n, "listen-port", "51999");
      await healed("listen port changed", async () => (await dump()).split("\n")[0].split("\t")[2] === "51021");
      await c1.ip("link", "del", n);
      await healed("link deleted", async () => /fe80::1771 peer fe80::a:1771/.test(await show()));
      assert.ok(await until("tunnel after healing", () => ping6(ctx, n), 30_000));
      // No leftovers: exactly two wireguard-go daemons, no TUN left in the host namespace.
      assert.equal((await wireguardGoPids(ctx.agent.host)).length, 2);
      assert.doesNotMatch(await ctx.agent.host.ip("link", "show"), new RegExp(`${r.n1}|${r.n2}`));
    }),
});

Deno.test({
  name:
    "wg-controller: spec changes apply minimally; Secret in another namespace refused; deletion with/without finalizer",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx);
      // MTU and an extra address through the spec.
      await patchSpec(ctx.ns, "wg1", {
        mtu: 1380,
        addresses: [
          { family: "inet6", local: "fe80::1771", peer: "fe80::a:1771", prefixlen: 64 },
          { family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 },
        ],
      });
      await until("spec change applied", async () =>
        isReady(await read(ctx.ns, "wg1")) &&
        /mtu 1380/.test(await r.c1.ip("link", "show", r.n1)) &&
        /inet 10\.4\.0\.1 peer 10\.4\.0\.2\/32/.test(await r.c1.ip("addr", "show", "dev", r.n1)));

      // A Secret reference into another namespace is refused with a condition; nothing is created.
      const nx = ifname();
      await create(wgi(ctx.ns, "bad", {
        node: "lax1",
        interfaceName: nx,
        privateKeySecretRef: { name: "wg1", key: "privatekey", namespace: "kube-system" },
        peers: [],
      }));
      const bad = await until("refused", async () => {
        const o = await read(ctx.ns, "bad");
        return condition(o, "Degraded")?.status === "True" && o;
      });
      assert.equal(condition(bad, "Degraded").reason, "SecretNamespaceForbidden");
      await assert.rejects(ctx.agent.host.ip("link", "show", nx));

      // Deletion with our finalizer: link and daemon go, then the object.
      await remove(ctx.ns, "wg2");
      await until("wg2 gone", async () => (await read(ctx.ns, "wg2")) === null);
      await assert.rejects(r.c2.ip("link", "show", r.n2));
      await until("one daemon left", async () => (await wireguardGoPids(ctx.agent.host)).length === 1);

      // Deletion without our finalizer (removed by hand first): the cache delete still removes the link.
      const o1: Obj = await read(ctx.ns, "wg1");
      await patchSpec(ctx.ns, "wg1", {}); // no-op; keeps generation
      const { customApi } = await import("../../../kit/agent.ts");
      const k8s = await import("@kubernetes/client-node");
      await (await customApi()).patchNamespacedCustomObject(
        {
          group: "networking.dn42.io",
          version: "v1alpha1",
          plural: "wireguardinterfaces",
          namespace: ctx.ns,
          name: "wg1",
          body: [{ op: "replace", path: "/metadata/finalizers", value: [] }],
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
      );
      assert.ok(o1);
      await remove(ctx.ns, "wg1");
      await until("wg1 link removed", async () => {
        try {
          await r.c1.ip("link", "show", r.n1);
          return false;
        } catch {
          return true;
        }
      });
      await until("no daemon left", async () => (await wireguardGoPids(ctx.agent.host)).length === 0);
    }),
});

Deno.test({
  name: "wg-controller: SIGKILL mid-reconcile, restart converges with no leaked links or daemons",
  ignore,
  fn: () =>
    withAgent(1, async (ctx) => {
      const [c] = ctx.ctrs;
      const names: string[] = [];
      for (let i = 0; i < 6; i++) {
        const k = await keypair();
        const n = ifname();
        names.push(n);
        await create(wgi(ctx.ns, `w${i}`, {
          node: "lax1",
          moveToContainer: true,
          container: { netns: { name: c.name } },
          interfaceName: n,
          privateKey: k.priv,
          addresses: [{ family: "inet", local: `10.5.${i}.1`, peer: `10.5.${i}.2`, prefixlen: 32 }],
          peers: [],
        }));
      }
      // Kill as soon as the first link exists (others are mid-flight).
      await until("first link", async () => /wa[0-9a-f]{6}/.test(await c.ip("link", "show")), START_MS, 10);
      await ctx.agent.stop("SIGKILL");
      ctx.agent.restart();
      for (let i = 0; i < 6; i++) {
        await until(`w${i} Ready`, async () => isReady(await read(ctx.ns, `w${i}`)), START_MS);
      }
      const links = (await c.ip("-o", "link", "show")).split("\n").filter((l) => /: wa[0-9a-f]{6}/.test(l));
      assert.equal(links.length, 6);
      assert.doesNotMatch(await ctx.agent.host.ip("link", "show"), /: wa[0-9a-f]{6}/, "no link leaked in the host");
      assert.equal((await wireguardGoPids(ctx.agent.host)).length, 6, "one daemon per link");
    }),
});

Deno.test({
  name: "wg-controller: API server unreachable while the agent reconciles from its cache changes nothing in the kernel",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx);
      // A handshake lets the kernel learn the peer's endpoint; have it happen before the first snapshot, since
      // that is the data plane working, not the agent changing anything.
      assert.ok(await until("tunnel up before the outage", () => ping6(ctx, r.n1), 30_000));
      const state = () =>
        Promise.all([
          snapshot(r.c1, ctx.stateDir),
          snapshot(r.c2, ctx.stateDir),
          snapshot(ctx.agent.host, ctx.stateDir),
        ]);
      let last = "";
      const before = await until("kernel state settled (two equal snapshots)", async () => {
        const now = await state();
        const same = JSON.stringify(now) === last;
        last = JSON.stringify(now);
        return same && now;
      }, 30_000);
      await ctx.agent.setApiReachable(false);
      // What the agent does on its own while the API server is away: four reconciliations from its cache (resyncs
      // every 5 s and whatever the 1 s device poll enqueues), with the polls in between.
      const start = await reconciles(ctx.agent);
      await until(
        "four reconciliations during the outage",
        async () => await reconciles(ctx.agent) >= start + 4,
        60_000,
      );
      const during = await state();
      await ctx.agent.setApiReachable(true);
      assert.deepEqual(during, before);
      // The agent is still alive and keeps working afterwards.
      await patchSpec(ctx.ns, "wg1", { mtu: 1400 });
      await until("works again", async () => /mtu 1400/.test(await r.c1.ip("link", "show", r.n1)), 60_000);
    }, [`-metrics-bind-address=${METRICS}`]),
});

Deno.test({
  name: "wg-controller: -dry-run changes nothing (no link, no status, no finalizer)",
  ignore,
  fn: () =>
    withAgent(1, async (ctx) => {
      const [c] = ctx.ctrs;
      const n = ifname();
      const k = await keypair();
      await create(wgi(ctx.ns, "dry", {
        node: "lax1",
        moveToContainer: true,
        container: { netns: { name: c.name } },
        interfaceName: n,
        privateKey: k.priv,
        peers: [],
      }));
      const before = await Promise.all([snapshot(c, ctx.stateDir), snapshot(ctx.agent.host, ctx.stateDir)]);
      await until(
        "dry-run logged",
        async () => (await Deno.readTextFile(ctx.agent.logFile)).includes("would"),
        START_MS,
      );
      await until("three passes over the object", async () => await reconciles(ctx.agent) >= 3, START_MS);
      assert.deepEqual(await Promise.all([snapshot(c, ctx.stateDir), snapshot(ctx.agent.host, ctx.stateDir)]), before);
      const o = await read(ctx.ns, "dry");
      assert.equal(o.status, undefined);
      assert.equal(o.metadata.finalizers, undefined);
    }, ["-dry-run", `-metrics-bind-address=${METRICS}`]),
});

Deno.test({
  name: "wg-controller: a restarted container (new namespace under the same name) is followed",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx);
      // "Restart" container 1: its namespace is replaced by a new one under the same name.
      await new Deno.Command("ip", { args: ["netns", "del", r.c1.name] }).output();
      await new Deno.Command("ip", { args: ["netns", "add", r.c1.name] }).output();
      await r.c1.ip("link", "set", "lo", "up");
      await until("link in the new namespace", async () =>
        /fe80::1771 peer fe80::a:1771/.test(await r.c1.ip("addr", "show", "dev", r.n1).catch(() => "")), 30_000);
      assert.ok(
        await until("tunnel in the new namespace", () =>
          ping6(ctx, r.n1), 30_000),
      );
      await until("two daemons", async () =>
        (await wireguardGoPids(ctx.agent.host)).length === 2);
    }),
});

Deno.test({
  name: "wg-controller: a deleted listening side is recreated with its peer's last learned endpoint",
  ignore,
  fn: () =>
    withAgent(2, async (ctx) => {
      const r = await referencePair(ctx); // wg1 listens (no endpoint for wg2), wg2 dials 127.0.0.1:51021
      const [c1, c2] = ctx.ctrs;
      const ping = (c: typeof c1, to: string, ifn: string) =>
        c.run("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", `${to}%${ifn}`).then(() => true, () => false);
      assert.ok(await until("wg2 → wg1", () => ping(c2, "fe80::1771", r.n2), 30_000));
      await until("wg1's status publishes the endpoint it learned", async () => {
        const o = await read(ctx.ns, "wg1");
        return o?.status?.wireguard?.peers?.[0]?.endpoint === "127.0.0.1:51022";
      });
      const index = (await c1.ip("link", "show", r.n1)).split(":")[0];
      await c1.ip("link", "del", r.n1);
      const endpoints = await until("wg1 recreated with its peer", async () => {
        const shown = await c1.ip("link", "show", r.n1).catch(() => "");
        if (!shown || shown.startsWith(`${index}:`)) return false;
        const e = await wg(c1, ctx.stateDir, "show", r.n1, "endpoints").catch(() => "");
        return e.includes(r.k2.pub) && e;
      });
      // Right after the recreate (wg2 has not re-handshaken: it has no keepalive and sent nothing since).
      assert.match(String(endpoints), /\t127\.0\.0\.1:51022\b/, "the learned endpoint is restored");
      assert.ok(await until("wg1 → wg2 after the recreate", () => ping(c1, "fe80::a:1771", r.n1), 30_000));
    }),
});
