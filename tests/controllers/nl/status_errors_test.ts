/**
 * nl-controller: a status write that fails while the API server is unreachable counts in
 * dn42op_status_write_errors_total (read from the controller's /metrics), the kernel is still healed meanwhile, and
 * the status catches up once the API server is back. Real kube-apiserver, real kernel, the controller as a process.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { withNamespace } from "../../../kit/cluster.ts";
import { metricValue } from "../../../kit/agent.ts";
import { withNetns } from "../../../kit/netns.ts";
import { vethExample } from "../../node/netlink/examples.ts";
import { type Agent, create, customApi, nli, read, ready, startNlAgent, WAIT_MS } from "../../../kit/nl_agent.ts";
import { until } from "../../../kit/wait.ts";

const METRICS = "127.0.0.1:9468";

function statusWriteErrors(agent: Agent): Promise<number> {
  return metricValue(agent, METRICS, "dn42op_status_write_errors_total", 'controller="nl-controller"');
}

Deno.test({
  name: "nl-controller: failed status writes count in dn42op_status_write_errors_total; status catches up",
  ignore: skipUnless("root", "cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespace(async ({ namespace: ns }) => {
      await withNetns(async (a, b) => {
        const agent = await startNlAgent({
          nodename: "n1",
          namespace: ns,
          netnsTag: "nk",
          args: [`-metrics-bind-address=${METRICS}`],
        });
        try {
          const api = await customApi();
          await create(
            api,
            nli(ns, "veth1", vethExample("n1", { netns: { name: a.name } }, { netns: { name: b.name } })),
          );
          const before = await ready(api, ns, "veth1");
          assert.equal(await statusWriteErrors(agent), 0, "no failure while reachable");

          await agent.setApiReachable(false);
          // A change the status must show (new ifindex): healed in the kernel, then the write cannot go out.
          await a.ip("link", "del", "veth1-a");
          const index = await until(
            "veth1-a recreated",
            async () => {
              const m = /^(\d+):/.exec(await a.ip("link", "show", "veth1-a").catch(() => ""));
              return m && Number(m[1]);
            },
            60_000,
            100,
          );
          assert.notEqual(index, before.status.netlink.index);
          const errors = await until(
            "failed status write counted",
            async () => (await statusWriteErrors(agent)) || false,
            60_000,
            250,
          );
          console.log(`${errors} failed status writes counted while unreachable`);

          await agent.setApiReachable(true);
          await until("status shows the new link", async () =>
            (await read(api, ns, "veth1"))?.status?.netlink?.index === index, WAIT_MS);
        } catch (e) {
          console.error(
            await Deno.readTextFile(agent.logFile).catch(() =>
              ""
            ),
          );
          throw e;
        } finally {
          await agent.dispose();
        }
      }, { count: 2, tag: "nk" });
    }, { prefix: "dn42op-nk-" }),
});
