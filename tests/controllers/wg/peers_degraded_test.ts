/**
 * One bad peer never blocks the rest (real wg-controller, wireguard-go, real API server): a peer whose preshared-key
 * Secret is missing is held as the device has it, a peer whose endpoint does not resolve keeps its endpoint, every
 * other change — a peer removal included — is applied; the condition and one Event per problem name the peer, and
 * nothing repeats across many polls.
 */
import assert from "node:assert/strict";
import { clientNode } from "../../../kit/k8s.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import type { Agent } from "../../../kit/agent.ts";
import { until } from "../../../kit/wait.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { wg } from "../../helpers/wgtool.ts";
import { cluster } from "../../../kit/cluster.ts";
import {
  condition,
  create,
  ifname,
  isReady,
  METRICS,
  type Obj,
  patchSpec,
  read,
  reconciles,
  secret,
  wgi,
  withAgent,
} from "./support.ts";

async function publicKey(): Promise<string> {
  return (await publicKeyOf(await generatePrivateKey())).toBase64();
}

/** `wg show <name> dump` peer lines by public key: [psk, endpoint, allowed ips]. */
async function peers(agent: Agent, stateDir: string, name: string): Promise<Map<string, string[]>> {
  const lines = (await wg(agent.host, stateDir, "show", name, "dump")).trim().split("\n").slice(1);
  return new Map(lines.map((l) => l.split("\t")).map((f) => [f[0], [f[1], f[2], f[3]]]));
}

/** Warning Events of object `name`: reason → [count, message]. */
async function warnings(ns: string, name: string): Promise<Map<string, [number, string]>> {
  const k8s = await clientNode();
  const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
  return new Map(list.items.filter((e) => e.type === "Warning").map((e) => [e.reason!, [e.count ?? 1, e.message!]]));
}

Deno.test({
  name: "wg-controller: a missing preshared-key Secret or an unresolvable endpoint degrades only that peer",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent, stateDir }) => {
        const [a, b, c, d] = await Promise.all([publicKey(), publicKey(), publicKey(), publicKey()]);
        const psk = (await generatePrivateKey()).toBase64();
        await secret(ns, "psk-b", psk, "psk");
        const name = ifname();
        const peer = (publicKey: string, ip: string, extra: Obj = {}) => ({ publicKey, allowedIPs: [ip], ...extra });
        await create(wgi(ns, "w", {
          node: "lax1",
          interfaceName: name,
          privateKey: (await generatePrivateKey()).toBase64(),
          peers: [
            peer(a, "10.96.0.1/32", { endpoint: "127.0.0.1:51001" }),
            peer(b, "10.96.0.2/32", { presharedKeySecretRef: { name: "psk-b", key: "psk" } }),
            peer(d, "10.96.0.4/32"),
          ],
        }));
        await until("w Ready", async () => isReady(await read(ns, "w")), 240_000, 250);
        assert.equal((await peers(agent, stateDir, name)).get(b)?.[0], psk);

        // The Secret goes, peer d is removed, peer c names a host that does not resolve.
        const k8s = await clientNode();
        const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
        await core.deleteNamespacedSecret({ namespace: ns, name: "psk-b" });
        await patchSpec(ns, "w", {
          peers: [
            peer(a, "10.96.0.1/32", { endpoint: "127.0.0.1:51001" }),
            peer(b, "10.96.0.2/32", { presharedKeySecretRef: { name: "psk-b", key: "psk" } }),
            peer(c, "10.96.0.3/32", { endpoint: "dn42op-ten-nx.invalid:51003" }),
          ],
        });
        const o = await until(
          "w degraded by its peers",
          async () => {
            const o = await read(ns, "w");
            const ready = condition(o, "Ready");
            // (A pass between the Secret's deletion and the spec change may report the key alone first.)
            return ready?.reason === "PeersDegraded" && ready.message.includes("nx.invalid") ? o : undefined;
          },
          120_000,
          250,
        );
        const ready = condition(o!, "Ready");
        assert.equal(ready.status, "False");
        assert.match(
          ready.message,
          new RegExp(`peer ${b.replace(/\+/g, "\\+")}: spec\\.peers\\[1\\]\\.presharedKeySecretRef`),
        );
        assert.match(ready.message, /spec\.peers\[2\]\.endpoint: host "dn42op-ten-nx\.invalid" does not resolve/);
        const dev = await until(
          "peer d removed, c added",
          async () => {
            const p = await peers(agent, stateDir, name);
            return !p.has(d) && p.has(c) ? p : undefined;
          },
          60_000,
          250,
        );
        assert.deepEqual(dev!.get(a), ["(none)", "127.0.0.1:51001", "10.96.0.1/32"], "the good peer as specified");
        assert.deepEqual(dev!.get(b), [psk, "(none)", "10.96.0.2/32"], "the held peer as the device had it");
        assert.deepEqual(dev!.get(c), ["(none)", "(none)", "10.96.0.3/32"], "the peer without its endpoint");

        // One Event per problem, and none more while the problems last, across many polls.
        const ev = await until(
          "both Warning Events",
          async () => {
            const w = await warnings(ns, "w");
            return w.has("SecretNotFound") && w.has("EndpointUnresolvable") ? w : undefined;
          },
          30_000,
          250,
        );
        assert.match(ev!.get("SecretNotFound")![1], new RegExp(`Secret ${ns}/psk-b not found`));
        const polls = await reconciles(agent);
        await until(
          "20 more polls",
          async () => (await reconciles(agent)) >= polls + 20,
          120_000,
          500,
        );
        const later = await warnings(ns, "w");
        assert.deepEqual([...later.keys()].sort(), ["EndpointUnresolvable", "SecretNotFound"]);
        for (const [reason, [count, msg]] of later) assert.equal(count, 1, `${reason} was repeated: ${msg}`);
        assert.deepEqual(await peers(agent, stateDir, name), dev, "the device stays as it was");

        // The Secret is back: peer b is configured with it, c stays degraded alone.
        const psk2 = (await generatePrivateKey()).toBase64();
        await secret(ns, "psk-b", psk2, "psk");
        await until(
          "b gets the new key",
          async () => (await peers(agent, stateDir, name)).get(b)?.[0] === psk2,
          120_000,
          250,
        );
        // The status is written in the background, after the pass that changed the device.
        const after = await until(
          "Ready no longer names the Secret",
          async () => {
            const o = await read(ns, "w");
            return /presharedKeySecretRef/.test(condition(o, "Ready").message) ? undefined : o;
          },
          30_000,
          100,
        );
        assert.match(condition(after, "Ready").message, /dn42op-ten-nx\.invalid/);
      },
      [`-metrics-bind-address=${METRICS}`],
      "ten",
    ),
});
