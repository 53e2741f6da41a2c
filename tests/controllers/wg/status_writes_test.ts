/**
 * wg-controller status write budget: a live tunnel (keepalive every second, so its counters change on every 1 s
 * poll) with no spec change gets at most one counter-only status write per -wg-status-stats-interval, counted as
 * MODIFIED events of a real watch (each is one resourceVersion change); the counters still advance.
 */
import assert from "node:assert/strict";
import { KubeClient } from "../../../src/kube/client.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { cluster } from "../../../kit/cluster.ts";
import { create, ifname, isReady, type Obj, read, WGI, wgi, withAgent } from "./support.ts";
import { until } from "../../../kit/wait.ts";

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
    withAgent(
      2,
      async ({ ns, ctrs: [c1, c2] }) => {
        const [k1, k2] = [await keypair(), await keypair()];
        const base = (c: typeof c1, local: string, peer: string) => ({
          node: "lax1",
          moveToContainer: true,
          container: { netns: { name: c.name } },
          interfaceName: ifname(),
          addresses: [{ family: "inet", local, peer, prefixlen: 32 }],
          mtu: 1420,
        });
        await create(wgi(ns, "a", {
          ...base(c1, "10.99.0.1", "10.99.0.2"),
          privateKey: k1.priv,
          listenPort: 51031,
          peers: [{ publicKey: k2.pub, allowedIPs: ["10.99.0.2/32"] }],
        }));
        await create(wgi(ns, "b", {
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
        await until("a Ready with a handshake", async () => handshaken(await read(ns, "a")), 180_000);
        await until("b Ready with a handshake", async () => handshaken(await read(ns, "b")), 30_000);

        const client = new KubeClient((await cluster()).kc);
        const before = await read(ns, "a");
        let writes = 0;
        const stop = await client.watch<Obj>(
          { ...WGI },
          { namespace: ns, fieldSelector: "metadata.name=a", resourceVersion: before.metadata.resourceVersion },
          (ev) => void (ev.type === "MODIFIED" && writes++),
          () => {},
        );
        await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
        stop();
        const after = await read(ns, "a");
        console.log(`${writes} status writes of a live tunnel in ${WINDOW_S} s (stats interval ${STATS_S} s)`);
        assert.equal(after.metadata.generation, before.metadata.generation, "no spec change");
        assert.ok(writes >= 1, "counters are still published");
        assert.ok(
          writes <= Math.ceil(WINDOW_S / STATS_S) + 1,
          `${writes} writes in ${WINDOW_S} s exceed 1 per ${STATS_S} s`,
        );
        assert.ok(
          after.status.wireguard.peers[0].receive_bytes > before.status.wireguard.peers[0].receive_bytes,
          "receive_bytes advanced in the status",
        );
      },
      [`-wg-status-stats-interval=${STATS_S}`],
      "ap",
    ),
});
