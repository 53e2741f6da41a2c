/**
 * Links the operator did not create, with the real nl-controller and the real API server: a namespace plays the node,
 * holding an `eth0`-like link and a `docker0`-like bridge with a port, made by "someone else". The agent neither
 * enslaves eth0 nor adopts docker0 — a condition and one Event name the link, and stay one across many passes — until
 * an administrator opts in with the object's annotation; deleting the bridge never deletes eth0.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { clientNode, mergePatch } from "../../../kit/k8s.ts";
import { metricValue } from "../../../kit/agent.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { cluster, withNamespace } from "../../../kit/cluster.ts";
import { ADOPT_ANNOTATION } from "../../../src/node/adoption.ts";
import {
  create,
  customApi,
  isReady,
  NLI,
  type Obj,
  read,
  ready,
  startNlAgent,
  WAIT_MS,
} from "../../../kit/nl_agent.ts";
import { until } from "../../../kit/wait.ts";

const METRICS = "127.0.0.1:18081";

/** The Ready condition once it has `reason`. */
function readyWith(api: k8s.CustomObjectsApi, ns: string, name: string, reason: string): Promise<Obj> {
  return until(`${name} Ready=False ${reason}`, async () => {
    const c = (await read(api, ns, name))?.status?.conditions?.find((c: Obj) => c.type === "Ready");
    return c?.status === "False" && c.reason === reason ? c : undefined;
  }, WAIT_MS);
}

/** Warning Events of object `name`. */
async function warnings(ns: string, name: string): Promise<k8s.CoreV1Event[]> {
  const k8s = await clientNode();
  const core = (await cluster()).kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` });
  return list.items.filter((e) => e.type === "Warning");
}

/** What an operator could have changed on the node's own links: master, alias, MTU, admin state, addresses. */
async function facts(node: { ip(...a: string[]): Promise<string> }): Promise<Obj[]> {
  const links: Obj[] = JSON.parse(await node.ip("-j", "addr", "show"));
  return links.filter((l) => ["eth0", "docker0", "vethd"].includes(l.ifname)).map((l) => ({
    name: l.ifname,
    master: l.master ?? null,
    alias: l.ifalias ?? null,
    mtu: l.mtu,
    up: l.flags.includes("UP"),
    addresses: l.addr_info.filter((a: Obj) => a.scope !== "link").map((a: Obj) => `${a.local}/${a.prefixlen}`),
  }));
}

Deno.test({
  name: "adoption: eth0 is not enslaved and docker0 not adopted without an administrator's annotation; then they are",
  ignore: skipUnless("root", "cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespace(async ({ namespace }) => {
      const agent = await startNlAgent({
        nodename: "lax1",
        namespace,
        netnsTag: "ten",
        args: [`-metrics-bind-address=${METRICS}`, "-default-resync-period=2"],
      });
      const node = agent.host;
      try {
        // What the node had before dn42op: its uplink and a container bridge with a port.
        await node.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
        await node.ip("addr", "add", "192.0.2.10/24", "dev", "eth0");
        await node.ip("link", "set", "eth0", "up");
        await node.ip("link", "add", "docker0", "type", "bridge");
        await node.ip("addr", "add", "172.17.0.1/16", "dev", "docker0");
        await node.ip("link", "set", "docker0", "up");
        await node.ip("link", "add", "vethd", "type", "veth", "peer", "name", "vethdp");
        await node.ip("link", "set", "vethd", "master", "docker0");
        const before = await facts(node);

        const api = await customApi();
        const bridge = (name: string, spec: Obj) =>
          create(api, {
            apiVersion: "networking.dn42.io/v1alpha1",
            kind: "NetlinkInterface",
            metadata: { name, namespace },
            spec: { node: "lax1", type: "bridge", ...spec },
          });
        await bridge("uplink", { interfaceName: "br-up", bridge: { slaves: ["eth0"] } });
        await bridge("docker", { interfaceName: "docker0", addresses: [{ ipcidr: "172.17.0.1/16" }], up: true });

        const up = await readyWith(api, namespace, "uplink", "LinkConflict");
        assert.match(
          up.message,
          /link eth0 in host was not created by dn42op, so it is not ours to enslave into br-up/,
        );
        assert.match(up.message, new RegExp(`${ADOPT_ANNOTATION}: "eth0" on ${namespace}/uplink`));
        const dk = await readyWith(api, namespace, "docker", "LinkConflict");
        assert.match(dk.message, /link docker0 in host was not created by dn42op, so it is not ours to adopt/);

        // Many passes later: still one Event each, and the node's links exactly as they were (br-up aside).
        const passes = () =>
          metricValue(
            agent,
            METRICS,
            "controller_runtime_reconcile_total",
            'controller="nl-controller",result="requeue_after"',
          );
        const p0 = await passes();
        await until("10 more passes", async () => (await passes()) >= p0 + 10, WAIT_MS);
        for (const name of ["uplink", "docker"]) {
          const w = await warnings(namespace, name);
          assert.deepEqual(w.map((e) => [e.reason, e.count ?? 1]), [["LinkConflict", 1]], name);
          assert.match(w[0].message!, name === "uplink" ? /link eth0/ : /link docker0/);
        }
        assert.deepEqual(await facts(node), before, "eth0, docker0 and its port untouched");
        assert.doesNotMatch(await node.ip("-d", "link", "show", "docker0"), /alias/);

        // An administrator opts in, per object and per link.
        const merge = await mergePatch();
        const annotate = (name: string, links: string) =>
          api.patchNamespacedCustomObject(
            { ...NLI, namespace, name, body: { metadata: { annotations: { [ADOPT_ANNOTATION]: links } } } },
            merge,
          );
        await annotate("uplink", "eth0");
        await ready(api, namespace, "uplink");
        assert.match(await node.ip("link", "show", "eth0"), /master br-up/);
        await annotate("docker", "docker0");
        await ready(api, namespace, "docker");
        assert.match(await node.ip("-d", "link", "show", "docker0"), new RegExp(`alias dn42op:nl:lax1:${namespace}:`));
        assert.match(await node.ip("link", "show", "vethd"), /master docker0/, "the bridge's port stays");

        // Deleting the bridge deletes what dn42op made (br-up) and never eth0.
        await api.deleteNamespacedCustomObject({ ...NLI, namespace, name: "uplink" });
        await until("uplink gone", async () => (await read(api, namespace, "uplink")) === null, WAIT_MS);
        assert.doesNotMatch(await node.ip("-br", "link"), /br-up/);
        assert.match(await node.ip("-br", "addr", "show", "eth0"), /192\.0\.2\.10\/24/);
        assert.ok(isReady(await read(api, namespace, "docker")));
      } catch (e) {
        console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
        throw e;
      } finally {
        await agent.dispose();
      }
    }, { prefix: "dn42op-ten-" }),
});

Deno.test({
  name: "adoption: a bridge with the most slaves the CRD admits, none ours, gets one bounded LinkConflict condition",
  ignore: skipUnless("root", "cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespace(async ({ namespace }) => {
      const agent = await startNlAgent({ nodename: "lax1", namespace, netnsTag: "ten" });
      const node = agent.host;
      const batch = await Deno.makeTempFile({ prefix: "dn42op-ten-" });
      try {
        const slaves = Array.from({ length: 256 }, (_, i) => `port${i}`);
        await Deno.writeTextFile(batch, slaves.map((s) => `link add ${s} type veth peer name ${s}p\n`).join(""));
        await node.ip("-batch", batch);
        const api = await customApi();
        await create(api, {
          apiVersion: "networking.dn42.io/v1alpha1",
          kind: "NetlinkInterface",
          metadata: { name: "wide", namespace },
          spec: { node: "lax1", type: "bridge", interfaceName: "br-wide", bridge: { slaves } },
        });
        const c = await readyWith(api, namespace, "wide", "LinkConflict");
        assert.match(c.message, /^link port0 in host was not created by dn42op/);
        assert.match(c.message, /; and 246 more$/, "ten listed, the rest counted");
        assert.ok(c.message.length <= 32768, `${c.message.length} characters`);
        assert.doesNotMatch(await node.ip("link", "show", "master", "br-wide"), /port/, "no port enslaved");
      } catch (e) {
        console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
        throw e;
      } finally {
        await agent.dispose();
        await Deno.remove(batch);
      }
    }, { prefix: "dn42op-ten-" }),
});
