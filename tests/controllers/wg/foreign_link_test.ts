/**
 * wg-controller and a link it did not create (real API server, wireguard-go): a WireGuardInterface named like the
 * node's `eth0` gets Ready=False LinkConflict naming the link and one Warning Event, stays so across many passes with
 * eth0 exactly as it was, and the agent keeps serving the node's other objects.
 */
import assert from "node:assert/strict";
import { clientNode } from "../../../kit/k8s.ts";
import { generatePrivateKey } from "../../../src/wireguard/key.ts";
import { metricValue } from "../../../kit/agent.ts";
import { cluster } from "../../../kit/cluster.ts";
import { until } from "../../../kit/wait.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { condition, create, ifname, isReady, type Obj, read, wgi, withAgent } from "./support.ts";

const METRICS = "127.0.0.1:18080";

/** eth0 as an operator could have changed it: kind, alias, MTU, state, addresses. */
async function eth0(host: { ip(...a: string[]): Promise<string> }): Promise<Obj> {
  const [l] = JSON.parse(await host.ip("-j", "-d", "addr", "show", "dev", "eth0"));
  return {
    kind: l.linkinfo?.info_kind,
    alias: l.ifalias ?? null,
    mtu: l.mtu,
    up: l.flags.includes("UP"),
    master: l.master ?? null,
    addresses: l.addr_info.filter((a: Obj) => a.scope !== "link").map((a: Obj) => `${a.local}/${a.prefixlen}`),
  };
}

Deno.test({
  name: "wg-controller: an interface named like the node's eth0 is refused (LinkConflict, one Event), eth0 untouched",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent }) => {
        const host = agent.host;
        await host.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
        await host.ip("addr", "add", "192.0.2.10/24", "dev", "eth0");
        await host.ip("link", "set", "eth0", "up");
        const before = await eth0(host);

        const spec = async (interfaceName: string) => ({
          node: "lax1",
          interfaceName,
          privateKey: (await generatePrivateKey()).toBase64(),
          mtu: 1300,
          addresses: [{ family: "inet", local: "198.51.100.1", peer: "198.51.100.2", prefixlen: 32 }],
        });
        await create(wgi(ns, "uplink", await spec("eth0")));
        await create(wgi(ns, "fine", await spec(ifname())));
        const c = await until(
          "uplink LinkConflict",
          async () => {
            const c = condition(await read(ns, "uplink"), "Ready");
            return c?.reason === "LinkConflict" && c;
          },
          120_000,
          250,
        );
        assert.equal(c.status, "False");
        assert.match(c.message, /link eth0 .*was not created by dn42op, so it is not ours to adopt/);
        await until("fine Ready", async () => isReady(await read(ns, "fine")), 120_000, 250);

        // Many passes later (poll every second): still one Event, eth0 as it was.
        const passes = () =>
          metricValue(agent, METRICS, "controller_runtime_reconcile_total", 'controller="wg-controller",result="error"')
            .then(async (e) =>
              e + await metricValue(
                agent,
                METRICS,
                "controller_runtime_reconcile_total",
                'controller="wg-controller",result="requeue_after"',
              )
            );
        const p0 = await passes();
        await until("10 more passes", async () => (await passes()) >= p0 + 10, 120_000, 250);
        const k8s = await clientNode();
        const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
        const events = (await core.listNamespacedEvent({ namespace: ns, fieldSelector: "involvedObject.name=uplink" }))
          .items.filter((e) => e.type === "Warning");
        assert.deepEqual(events.map((e) => [e.reason, e.count ?? 1]), [["LinkConflict", 1]]);
        assert.match(events[0].message!, /link eth0/);
        assert.deepEqual(await eth0(host), before, "eth0 untouched");
        assert.ok(isReady(await read(ns, "fine")), "the other object stays Ready");
      },
      [`-metrics-bind-address=${METRICS}`],
      "ten",
    ),
});
