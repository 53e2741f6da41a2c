/**
 * nl-controller against a kernel that lacks a link kind (dummy on this host; the kernel tier has it): the object
 * gets Ready=False/Degraded=True with reason KindUnsupported and one Warning Event while the controller keeps
 * retrying with backoff, and an object beside it converges. A kind the code does not implement is refused at
 * admission by the CRD schema. Real kube-apiserver, real kernel, the controller as a real process.
 */
import assert from "node:assert/strict";
import { missing, skipUnless } from "../../helpers/caps.ts";
import { cluster, withNamespace } from "../../../kit/cluster.ts";
import { clientNode } from "../../../kit/k8s.ts";
import { withNetns } from "../../../kit/netns.ts";
import { vethExample } from "../../node/netlink/examples.ts";
import {
  create,
  customApi,
  isReady,
  nli,
  type Obj,
  read,
  ready,
  startNlAgent,
  WAIT_MS,
} from "../../../kit/nl_agent.ts";
import { until } from "../../../kit/wait.ts";

const condition = (o: Obj, type: string) => o?.status?.conditions?.find((c: Obj) => c.type === type);

async function alive(pid: number): Promise<boolean> {
  return (await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" }).output()).success;
}

Deno.test({
  name: "dummy on a kernel without it: KindUnsupported condition, one Warning Event over retries; a veth converges",
  ignore: skipUnless("root", "cluster") || missing("dummy-kernel") === null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespace(async ({ namespace: ns }) => {
      await withNetns(async (a, b) => {
        const agent = await startNlAgent({ nodename: "n1", namespace: ns, netnsTag: "nk" });
        try {
          const api = await customApi();
          // the reference's nl1-dummy example, placed in a throwaway namespace
          await create(
            api,
            nli(ns, "nl1-dummy", {
              node: "n1",
              interfaceName: "nl1-dummy",
              type: "dummy",
              dummy: {},
              up: true,
              mtu: 1420,
              addresses: [{ ipcidr: "10.2.3.0/24" }],
              container: { netns: { name: a.name } },
            }),
          );
          await create(
            api,
            nli(ns, "veth1", vethExample("n1", { netns: { name: a.name } }, { netns: { name: b.name } })),
          );

          const bad = await until("nl1-dummy Degraded", async () => {
            const o = await read(api, ns, "nl1-dummy");
            return condition(o, "Degraded")?.status === "True" && o;
          }, WAIT_MS);
          const [rdy, deg, prog] = ["Ready", "Degraded", "Progressing"].map((t) => condition(bad, t));
          assert.deepEqual([rdy.status, rdy.reason], ["False", "KindUnsupported"]);
          assert.equal(deg.reason, "KindUnsupported");
          assert.match(deg.message, /^spec\.type "dummy": .*does not support link kind dummy.*EOPNOTSUPP/);
          assert.equal(prog.status, "False");
          assert.equal(bad.status.observedGeneration, undefined, "never converged");
          assert.deepEqual(bad.metadata.finalizers, ["netlinkinterface.networking.dn42.io/finalizer"]);

          // the object beside it converges meanwhile
          const veth = await ready(api, ns, "veth1");
          assert.ok(veth.status.veth.peer.addresses.includes("fe80::eeee:2/64"));
          assert.match(await a.ip("-br", "link"), /veth1-a/);

          // retries go on (backing off) without a new Event each time
          const retries = await until("two more passes over nl1-dummy", async () => {
            const log = await Deno.readTextFile(agent.logFile);
            const n = log.split("\n").filter((l) => l.includes("still not converged") && l.includes("nl1-dummy"))
              .length;
            return n >= 2 && n;
          }, WAIT_MS);
          const k8s = await clientNode();
          const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
          const evs = (await core.listNamespacedEvent({
            namespace: ns,
            fieldSelector: "involvedObject.name=nl1-dummy",
          })).items;
          assert.deepEqual(
            evs.map((e) => [e.type, e.reason, e.count]),
            [["Warning", "KindUnsupported", 1]],
            `one Event after ${retries} retries, no "Created"`,
          );
          assert.match(evs[0].message ?? "", /spec\.type "dummy".*EOPNOTSUPP/);
          assert.ok(await alive(agent.pid), "the controller keeps running");
          assert.doesNotMatch(await a.ip("-br", "link"), /nl1-dummy/);

          // deletion: nothing was created, so the finalizer goes at once; the veth stays
          await api.deleteNamespacedCustomObject({
            group: "networking.dn42.io",
            version: "v1alpha1",
            plural: "netlinkinterfaces",
            namespace: ns,
            name: "nl1-dummy",
          });
          await until("nl1-dummy gone", async () => (await read(api, ns, "nl1-dummy")) === null, WAIT_MS);
          assert.ok(isReady(await read(api, ns, "veth1")));
          assert.match(await a.ip("-br", "link"), /veth1-a/);
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
        }
      }, { count: 2, tag: "nk" });
    }, { prefix: "dn42op-nk-" }),
});

Deno.test({
  name: "a kind the code does not implement is refused at admission, naming spec.type",
  ignore: skipUnless("cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespace(async ({ namespace: ns }) => {
      const api = await customApi();
      for (const type of ["gre", "wireguard", ""]) {
        const err = await create(api, nli(ns, "odd", { node: "n1", interfaceName: "odd0", type })).then(
          () => null,
          (e) => e,
        );
        assert.ok(err, `type "${type}" was admitted`);
        assert.equal(err.code, 422, String(err));
        assert.match(String(err.body ?? err.message), /spec\.type/);
      }
      assert.equal(await read(api, ns, "odd"), null);
    }, { prefix: "dn42op-nk-" }),
});
