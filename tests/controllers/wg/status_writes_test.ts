/**
 * wg-controller status write budget: a live tunnel (keepalive every second, so its counters change on every 1 s
 * poll) with no spec change gets at most one counter-only status write per -wg-status-stats-interval, counted as
 * MODIFIED events of a real watch (each is one resourceVersion change); the counters still advance.
 */
import assert from "node:assert/strict";
import { KubeClient } from "../../../src/kube/client.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { startAgent, until } from "../../helpers/agent.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { withNamespace } from "../../helpers/cluster.ts";
import { withNetns } from "../../helpers/netns.ts";
import { create, ifname, isReady, type Obj, read, WGI, wgi } from "./support.ts";

const STATS_S = 4;
const WINDOW_S = 14;

async function keypair() {
  const priv = await generatePrivateKey();
  return { priv: priv.toBase64(), pub: (await publicKeyOf(priv)).toBase64() };
}

Deno.test({
  name: "wg-controller: a live tunnel without spec changes causes at most one counter write per stats interval",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withNamespace(async ({ namespace, kc }) => {
      await withNetns(async (c1, c2) => {
        const stateDir = await Deno.makeTempDir({ prefix: "dn42op-ap-" });
        const agent = await startAgent({
          program: "src/cmd/wg-controller.ts",
          netnsTag: "ap",
          nodename: "lax1",
          namespace,
          args: [
            "-wg-poll-interval=1",
            `-wg-status-stats-interval=${STATS_S}`,
            "-wg-backend=userspace",
            `-wg-state-dir=${stateDir}`,
          ],
        });
        try {
          const [k1, k2] = [await keypair(), await keypair()];
          const base = (c: typeof c1, local: string, peer: string) => ({
            node: "lax1",
            moveToContainer: true,
            container: { netns: { name: c.name } },
            interfaceName: ifname(),
            addresses: [{ family: "inet", local, peer, prefixlen: 32 }],
            mtu: 1420,
          });
          await create(wgi(namespace, "a", {
            ...base(c1, "10.99.0.1", "10.99.0.2"),
            privateKey: k1.priv,
            listenPort: 51031,
            peers: [{ publicKey: k2.pub, allowedIPs: ["10.99.0.2/32"] }],
          }));
          await create(wgi(namespace, "b", {
            ...base(c2, "10.99.0.2", "10.99.0.1"),
            privateKey: k2.priv,
            listenPort: 51032,
            peers: [{
              publicKey: k1.pub,
              allowedIPs: ["10.99.0.1/32"],
              endpoint: "127.0.0.1:51031",
              persistentKeepalive: 1,
            }],
          }));
          const handshaken = (o: Obj) => isReady(o) && o.status?.wireguard?.peers?.[0]?.last_handshake_time;
          await until("a Ready with a handshake", async () => handshaken(await read(namespace, "a")), 180_000);
          await until("b Ready with a handshake", async () => handshaken(await read(namespace, "b")), 30_000);

          const client = new KubeClient(kc);
          const before = await read(namespace, "a");
          const writes: { rv: string; rx: number }[] = [];
          const stop = await client.watch<Obj>(
            { ...WGI },
            { namespace, fieldSelector: "metadata.name=a", resourceVersion: before.metadata.resourceVersion },
            (ev) => {
              if (ev.type === "MODIFIED") {
                writes.push({
                  rv: ev.object.metadata.resourceVersion,
                  rx: ev.object.status.wireguard.peers[0].receive_bytes,
                });
              }
            },
            () => {},
          );
          await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
          stop();
          const after = await read(namespace, "a");
          console.log(`${writes.length} status writes of a live tunnel in ${WINDOW_S} s (stats interval ${STATS_S} s)`);
          assert.equal(after.metadata.generation, before.metadata.generation, "no spec change");
          assert.ok(writes.length >= 1, "counters are still published");
          assert.ok(
            writes.length <= Math.ceil(WINDOW_S / STATS_S) + 1,
            `${writes.length} writes in ${WINDOW_S} s exceed one per ${STATS_S} s`,
          );
          assert.ok(
            after.status.wireguard.peers[0].receive_bytes > before.status.wireguard.peers[0].receive_bytes,
            "receive_bytes advanced in the status",
          );
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
          await Deno.remove(stateDir, { recursive: true }).catch(() => {});
        }
      }, { count: 2, tag: "ap" });
    }, { prefix: "dn42op-ap-" }),
});
