/**
 * wg-controller and a plan child's recorded public key (real API server, wireguard-go): a key read from the Secret
 * whose public key is not the one the child carries (annotation networkplan.networking.dn42.io/public-key) is
 * refused with KeySecretNotTrusted and one Event, no link is made with it; with the matching record the link comes up.
 */
import assert from "node:assert/strict";
import { clientNode, mergePatch } from "../../../kit/k8s.ts";
import { PLAN_PUBLIC_KEY_ANNOTATION } from "../../../src/api/constants.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { cluster } from "../../../kit/cluster.ts";
import { until } from "../../../kit/wait.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { wg } from "../../helpers/wgtool.ts";
import { customApi } from "../../../kit/agent.ts";
import { condition, create, ifname, isReady, read, secret, WGI, wgi, withAgent } from "./support.ts";

Deno.test({
  name: "wg-controller: a plan child's key whose public key is not the recorded one is refused, the link not made",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent, stateDir }) => {
        const key = await generatePrivateKey();
        const pub = (await publicKeyOf(key)).toBase64();
        const recorded = (await publicKeyOf(await generatePrivateKey())).toBase64();
        await secret(ns, "p-wgplan-keys", key.toBase64(), "lax1");
        const name = ifname();
        const child = wgi(ns, "wg-lax1-lax2-0", {
          node: "lax1",
          interfaceName: name,
          privateKeySecretRef: { name: "p-wgplan-keys", key: "lax1" },
          addresses: [{ family: "inet", local: "198.51.100.1", peer: "198.51.100.2", prefixlen: 32 }],
        });
        child.metadata.annotations = { [PLAN_PUBLIC_KEY_ANNOTATION]: recorded };
        await create(child);

        const c = await until(
          "KeySecretNotTrusted",
          async () => {
            const c = condition(await read(ns, child.metadata.name), "Ready");
            return c?.reason === "KeySecretNotTrusted" && c;
          },
          120_000,
          250,
        );
        assert.equal(c.status, "False");
        assert.ok(c.message.includes(pub) && c.message.includes(recorded), c.message);
        assert.ok(!c.message.includes(key.toBase64()), "never the private key");
        assert.doesNotMatch(await agent.host.ip("-br", "link"), new RegExp(name), "no link with the refused key");
        const k8s = await clientNode();
        const events = await (await cluster()).kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${child.metadata.name},reason=KeySecretNotTrusted`,
        });
        assert.deepEqual(events.items.map((e) => e.count ?? 1), [1]);

        // The record matches the key (as after the plan controller took a rotation): the link comes up with it.
        await (await customApi()).patchNamespacedCustomObject(
          {
            ...WGI,
            namespace: ns,
            name: child.metadata.name,
            body: { metadata: { annotations: { [PLAN_PUBLIC_KEY_ANNOTATION]: pub } } },
          },
          await mergePatch(),
        );
        await until(
          "Ready",
          async () => isReady(await read(ns, child.metadata.name)),
          120_000,
          250,
        );
        assert.equal((await wg(agent.host, stateDir, "show", name, "public-key")).trim(), pub);
      },
      [],
      "ten",
    ),
});
