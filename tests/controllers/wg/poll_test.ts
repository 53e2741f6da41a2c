/**
 * wg-controller steady-state poll against the real API server, read through the controller's /metrics:
 * - Secret GETs: 20 objects with Secret keys, polled every second, cost far fewer GETs than polls (keys are kept
 *   per object and read again after the resync period), and a rotated Secret is still applied within that period
 *   plus one poll (the device's public key in status and in the kernel changes).
 * - A status write that fails (API server unreachable) is counted in dn42op_status_write_errors_total, and the
 *   status catches up once the server is back.
 */
import assert from "node:assert/strict";
import { clientNode, mergePatch } from "../../../kit/k8s.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { type Agent, metricValue } from "../../../kit/agent.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { wg } from "../../helpers/wgtool.ts";
import { cluster } from "../../../kit/cluster.ts";
import { create, ifname, isReady, METRICS, read, reconciles, secret, wgi, withAgent } from "./support.ts";
import { until } from "../../../kit/wait.ts";

const ignore = skipUnless("root", "cluster", "wireguard-go");
const START_MS = 240_000;
const POLL_S = 1;
const RESYNC_S = 30;
const WINDOW_S = 30;

async function keypair() {
  const priv = await generatePrivateKey();
  return { priv: priv.toBase64(), pub: (await publicKeyOf(priv)).toBase64() };
}

/** The value of a wg-controller metric (0 when not yet exported). */
function metric(agent: Agent, name: string, labels = 'controller="wg-controller"'): Promise<number> {
  return metricValue(agent, METRICS, name, labels);
}

Deno.test({
  name: "wg-controller: 20 objects with Secret keys polled every second send far fewer Secret GETs than polls; " +
    "a rotated Secret is applied within the resync period",
  ignore,
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent, stateDir }) => {
        const N = 20;
        const keys = await Promise.all(Array.from({ length: N }, keypair));
        const peer = (await keypair()).pub;
        for (let i = 0; i < N; i++) {
          await secret(ns, `k${i}`, keys[i].priv);
          await create(wgi(ns, `w${i}`, {
            node: "lax1",
            interfaceName: ifname(),
            privateKeySecretRef: { name: `k${i}`, key: "privatekey" },
            peers: [{ publicKey: peer, allowedIPs: [`10.97.0.${i + 1}/32`] }],
          }));
        }
        await until(
          "all Ready",
          async () => {
            for (let i = 0; i < N; i++) if (!isReady(await read(ns, `w${i}`))) return false;
            return true;
          },
          START_MS,
          500,
        );

        const [gets0, polls0] = [await metric(agent, "dn42op_secret_reads_total"), await reconciles(agent)];
        await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
        const gets = (await metric(agent, "dn42op_secret_reads_total")) - gets0;
        const polls = (await reconciles(agent)) - polls0;
        console.log(
          `${N} objects, ${WINDOW_S} s: ${polls} reconciles, ${gets} Secret GETs (one per poll was ${polls})`,
        );
        assert.ok(gets0 >= N, "the first passes read every Secret (the metric counts)");
        assert.ok(polls >= 3 * N, `the objects were polled (${polls} reconciles)`);
        assert.ok(gets <= N * (Math.ceil(WINDOW_S / RESYNC_S) + 1), `${gets} Secret GETs: at most one per resync`);

        // Rotation: a new key in the Secret reaches the device and the status within the resync period + a poll.
        const fresh = await keypair();
        const k8s = await clientNode();
        const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
        const t0 = performance.now();
        await core.patchNamespacedSecret(
          { namespace: ns, name: "k0", body: { data: { privatekey: fresh.priv } } },
          await mergePatch(),
        );
        const bound = (RESYNC_S + POLL_S) * 1000;
        const o = await until(
          "rotated key in status",
          async () => {
            const o = await read(ns, "w0");
            return o?.status?.wireguard?.public_key === fresh.pub && o;
          },
          bound + 30_000, // the bound plus slack for the status write on a loaded machine
          200,
        );
        const ms = performance.now() - t0;
        console.log(`rotated Secret applied after ${ms.toFixed(0)} ms (stated bound ${bound} ms + status write)`);
        const dump = await wg(agent.host, stateDir, "show", o.spec.interfaceName, "public-key");
        assert.equal(dump.trim(), fresh.pub, "the kernel device has the rotated key");
        assert.ok(!JSON.stringify(o.status).includes(fresh.priv), "no private key in status");
      },
      [`-wg-poll-interval=${POLL_S}`, `-default-resync-period=${RESYNC_S}`, `-metrics-bind-address=${METRICS}`],
      "wp",
    ),
});

Deno.test({
  name: "wg-controller: a status write failing while the API server is unreachable counts in " +
    "dn42op_status_write_errors_total; the status catches up afterwards",
  ignore,
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent }) => {
        const name = ifname();
        await create(wgi(ns, "w", {
          node: "lax1",
          interfaceName: name,
          privateKey: (await keypair()).priv,
          peers: [],
        }));
        const before = await until(
          "Ready",
          async () => {
            const o = await read(ns, "w");
            return isReady(o) && o;
          },
          START_MS,
          200,
        );
        assert.equal(await metric(agent, "dn42op_status_write_errors_total"), 0, "no failure while reachable");

        await agent.setApiReachable(false);
        // A change the status must show (a new ifindex): the controller heals the link, then cannot write.
        await agent.host.ip("link", "del", name);
        const index = await until(
          "link recreated",
          async () => {
            const m = /^(\d+):/.exec(await agent.host.ip("link", "show", name).catch(() => ""));
            return m && Number(m[1]);
          },
          30_000,
          100,
        );
        assert.notEqual(index, before.status.netlink.index);
        const errors = await until(
          "failed status write counted",
          async () => (await metric(agent, "dn42op_status_write_errors_total")) || false,
          60_000,
          250,
        );
        console.log(`${errors} failed status writes counted while unreachable`);

        await agent.setApiReachable(true);
        await until("status shows the new link", async () => (await read(ns, "w"))?.status?.netlink?.index === index);
      },
      [`-metrics-bind-address=${METRICS}`],
      "wp",
    ),
});
