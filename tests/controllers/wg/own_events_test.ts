/**
 * wg-controller against the real API server, kernel and wireguard-go: neither the link events of a pass's own changes
 * (create, move, MTU, addresses, up; src/node/monitor.ts holds them until the pass settles) nor the watch event of its
 * own finalizer write (src/kube/own_writes.ts) bring the object back for a second pass, while a change someone else
 * makes to the link afterwards still does, and is healed.
 */
import assert from "node:assert/strict";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { create, ifname, isReady, METRICS, read, reconciles, wgi, withAgent } from "./support.ts";
import { holds, until } from "../../../kit/wait.ts";

Deno.test({
  name: "wg-controller: a new link takes one pass, none for the echoes of its own changes; a later drift takes one",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withAgent(
      1,
      async ({ ns, agent, ctrs }) => {
        const name = ifname();
        const peer = (await publicKeyOf(await generatePrivateKey())).toBase64();
        const obj = wgi(ns, "w", {
          node: "lax1",
          moveToContainer: true,
          container: { netns: { name: ctrs[0].name } },
          interfaceName: name,
          privateKey: (await generatePrivateKey()).toBase64(),
          addresses: [{ family: "inet", local: "10.96.0.1", peer: "10.96.0.2", prefixlen: 32 }],
          mtu: 1400,
          peers: [{ publicKey: peer, allowedIPs: ["10.96.0.2/32"] }],
        });
        await create(obj);
        await until("Ready", async () => isReady(await read(ns, "w")), 240_000, 200);
        assert.equal(await reconciles(agent), 1, "the pass that made the link is the only one");
        await holds("no second pass for the pass's own link events", () => reconciles(agent), 1, 2000);

        // Someone else changes the MTU: one pass heals it.
        await ctrs[0].run("ip", "link", "set", "dev", name, "mtu", "1300");
        await until("MTU healed", async () =>
          (await ctrs[0].run("ip", "link", "show", "dev", name)).includes("mtu 1400"));
        assert.ok(await reconciles(agent) >= 2, "the drift brought the object back");
        const after = await reconciles(agent);
        await holds(
          "healing the drift costs no further pass",
          () =>
            reconciles(agent),
          after,
          2000,
        );
        assert.equal(after, 2, "one pass for the drift");
      },
      ["-wg-poll-interval=600", "-default-resync-period=600", `-metrics-bind-address=${METRICS}`],
      "wo",
    ),
});
