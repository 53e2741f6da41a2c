/**
 * Status, printer columns, short names, field selectors and `kubectl explain` on a real kube-apiserver.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { clientNode, mergePatch } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl, withNamespace } from "../../kit/cluster.ts";
import { GROUP, KINDS, VERSION } from "../../src/api/constants.ts";
import type { WireGuardInterfaceStatus } from "../../src/api/wireguard_interface.ts";
import type { NetlinkInterfaceStatus } from "../../src/api/netlink_interface.ts";
import type { WireGuardNetworkPlanStatus } from "../../src/api/wireguard_network_plan.ts";
import { setCondition } from "../../src/api/conditions.ts";
import { create, dropFinalizers, ensureCrds, NS_OPTS, type Obj, readObjects, rejection } from "./support.ts";

const ignore = skipUnless("cluster");
const now = new Date("2026-11-25T12:00:00Z");
const ready = setCondition([], { type: "Ready", status: "True", reason: "Reconciled", message: "in sync" }, now);

const wgiStatus: WireGuardInterfaceStatus = {
  observedGeneration: 1,
  conditions: ready,
  hostname: "lax1-host",
  nodename: "lax1",
  mtu: 1420,
  operState: "unknown",
  addresses: ["fe80::1771 -> fe80::a:1771/64"],
  netlink: {
    index: 7,
    name: "wg1",
    kind: "wireguard",
    mtu: 1420,
    flags: 9,
    rawFlags: 0x91,
    addrs: [{ local: "fe80::1771", peer: "fe80::a:1771/64", family: "inet6", prefixlen: 64, scope: 253 }],
  },
  wireguard: {
    name: "wg1",
    type: 2,
    public_key: "OOk4xlZOZ8Il1e2V37LM1/lB2JRWM7WICjMN42zd+hU=",
    listen_port: 51021,
    firewall_mark: 0,
    peers: [{
      public_key: "oSmgiUufLrf//wvsCQccxQ0PY/Tz7X/XJAyb5dI95jQ=",
      has_preshared_key: false,
      endpoint: "192.168.65.3:51022",
      last_handshake_time: 1795000000000,
      receive_bytes: 1234,
      transmit_bytes: 5678,
      allowed_ips: ["0.0.0.0/0", "::/0"],
      protocol_version: 1,
    }],
  },
};

const nlStatus: NetlinkInterfaceStatus = {
  observedGeneration: 1,
  conditions: ready,
  hostname: "lax1-host",
  nodename: "lax1",
  mtu: 1500,
  operState: "up",
  flags: ["UP", "BROADCAST", "MULTICAST", "RUNNING"],
  addresses: ["fe80::eeee:1/64"],
  veth: {
    peer: { interfaceName: "veth1-b", addresses: ["fe80::eeee:2/64"], mtu: 1500, flags: ["UP"], operState: "up" },
  },
};

const planStatus: WireGuardNetworkPlanStatus = {
  observedGeneration: 1,
  conditions: ready,
  desiredInterfaces: 2,
  readyInterfaces: 2,
  nodes: [{ nodeName: "lax1", publicKey: "SRvXKLMEqN5K95PC58VhHRwL0ML+5ko53iVUSvZPgRw=" }],
  interfaces: [{
    wgObjectRef: "wg-lax1-lax2-0",
    nodeName: "lax1",
    peerNodeName: "lax2",
    interfaceName: "wg-lax1-lax2-0",
    listenPort: 52820,
    publicKey: "SRvXKLMEqN5K95PC58VhHRwL0ML+5ko53iVUSvZPgRw=",
    lastHandshake: 1795000000000,
    mtu: 1420,
    addresses: ["10.4.0.1 -> 10.4.0.2/32"],
    ready: true,
  }],
};

/** Writes `status` through the status subresource with strict field validation and returns the stored object. */
async function putStatus(kc: k8s.KubeConfig, namespace: string, obj: Obj, status: unknown): Promise<Obj> {
  const k8s = await clientNode();
  const co = kc.makeApiClient(k8s.CustomObjectsApi);
  return await co.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace,
      plural: KINDS[obj.kind as keyof typeof KINDS].plural,
      name: obj.metadata.name,
      body: { status },
      fieldValidation: "Strict",
    },
    await mergePatch(),
  ) as Promise<Obj>;
}

/** The first object of `kind` in an example file. */
function example(file: string, kind: string): Obj {
  const obj = readObjects(file).find((o) => o.kind === kind);
  if (!obj) throw new Error(`${file} has no ${kind}`);
  return { ...obj, metadata: { name: obj.metadata.name } };
}

Deno.test({
  name: "status subresource stores every status field; private keys have no place in status",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      const wg = example("example/wgi/lax1-wg1.yaml", "WireGuardInterface");
      const veth = example("example/nl/veth.yaml", "NetlinkInterface");
      const plan = example("example/wgp/wgp1.yaml", "WireGuardNetworkPlan");
      try {
        for (const [obj, status] of [[wg, wgiStatus], [veth, nlStatus], [plan, planStatus]] as const) {
          await create(kc, namespace, obj);
          const stored = await putStatus(kc, namespace, obj, status);
          assert.deepEqual(stored.status, status, `${obj.kind} status pruned or changed`);
        }
        const withKey = structuredClone(wgiStatus) as Record<string, unknown> & typeof wgiStatus;
        (withKey.wireguard as Record<string, unknown>).private_key = "EJ/JMvFbDrjWJGQrbqsxImQBaJ6hvHc5Vh7nWxBzpXA=";
        const text = await rejection(putStatus(kc, namespace, wg, withKey));
        assert.match(text, /unknown field "status\.wireguard\.private_key"/);
        const planWithKey = structuredClone(planStatus) as typeof planStatus;
        (planWithKey.interfaces![0] as Record<string, unknown>).privateKey = "x";
        assert.match(
          await rejection(putStatus(kc, namespace, plan, planWithKey)),
          /unknown field "status\.interfaces\[0\]\.privateKey"/,
        );
      } finally {
        await dropFinalizers(kc, namespace);
      }
    }, NS_OPTS),
});

Deno.test({
  name: "kubectl get shows the printer columns through every short name",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      const wg = example("example/wgi/lax1-wg1.yaml", "WireGuardInterface");
      const veth = example("example/nl/veth.yaml", "NetlinkInterface");
      const plan = example("example/wgp/wgp1.yaml", "WireGuardNetworkPlan");
      try {
        for (const [obj, status] of [[wg, wgiStatus], [veth, nlStatus], [plan, planStatus]] as const) {
          await create(kc, namespace, obj);
          await putStatus(kc, namespace, obj, status);
        }
        const get = async (resource: string) =>
          (await kubectl(["get", resource, "-n", namespace, "-o", "wide"])).stdout.split("\n").map((l) =>
            l.trim().split(/\s{2,}/)
          );
        for (const short of ["wgi", "wgif"]) {
          const [head, row] = await get(short);
          assert.deepEqual(head, ["NAME", "NODE", "INTERFACE", "READY", "PUBLIC KEY", "PORT", "REASON", "AGE"]);
          assert.deepEqual(row.slice(0, 7), [
            "wg1",
            "lax1",
            "wg1",
            "True",
            "OOk4xlZOZ8Il1e2V37LM1/lB2JRWM7WICjMN42zd+hU=",
            "51021",
            "Reconciled",
          ]);
        }
        for (const short of ["nl", "nli", "nlif"]) {
          const [head, row] = await get(short);
          assert.deepEqual(head, ["NAME", "NODE", "INTERFACE", "TYPE", "READY", "STATE", "REASON", "AGE"]);
          assert.deepEqual(row.slice(0, 7), ["lax1-veth1", "lax1", "veth1-a", "veth", "True", "up", "Reconciled"]);
        }
        for (const short of ["wgp", "wgplan"]) {
          const [head, row] = await get(short);
          assert.deepEqual(head, ["NAME", "INTERFACES", "READY INTERFACES", "READY", "REASON", "AGE"]);
          assert.deepEqual(row.slice(0, 5), ["wgp1", "2", "2", "True", "Reconciled"]);
        }
        const all = await kubectl(["get", "dn42", "-n", namespace, "-o", "name"]);
        assert.equal(all.stdout.trim().split("\n").length, 3, all.stdout);
      } finally {
        await dropFinalizers(kc, namespace);
      }
    }, NS_OPTS),
});

Deno.test({
  name: "a node agent can list only its own objects with a spec.node field selector",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      const k8s = await clientNode();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      for (const file of ["example/wgi/lax1-wg1.yaml", "example/wgi/netns-by-name.yaml"]) {
        await create(kc, namespace, example(file, "WireGuardInterface"));
      }
      for (const file of ["example/nl/veth.yaml", "example/nl/macvlan.yaml"]) {
        await create(kc, namespace, example(file, "NetlinkInterface"));
      }
      try {
        for (
          const [plural, node, names] of [
            [KINDS.WireGuardInterface.plural, "lax1", ["wg1"]],
            [KINDS.WireGuardInterface.plural, "host1", ["host1-blue-wg1"]],
            [KINDS.NetlinkInterface.plural, "host1", ["host1-mv0"]],
            [KINDS.NetlinkInterface.plural, "nowhere", []],
          ] as const
        ) {
          const list = await co.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural,
            fieldSelector: `spec.node=${node}`,
          }) as { items: Obj[] };
          assert.deepEqual(list.items.map((i) => i.metadata.name), names, `${plural} on ${node}`);
        }
      } finally {
        await dropFinalizers(kc, namespace);
      }
    }, NS_OPTS),
});

Deno.test({
  name: "kubectl explain teaches the API from the field descriptions",
  ignore,
  fn: async () => {
    await ensureCrds();
    const explain = async (path: string) => (await kubectl(["explain", path])).stdout;
    assert.match(await explain("wgi.spec.privateKeySecretRef.namespace"), /own namespace/);
    assert.match(await explain("wgi.spec.moveToContainer"), /host network namespace/);
    assert.match(await explain("nl.spec.vxlan.portRange"), /exactly two items/);
    assert.match(await explain("wgp.spec.links.toNodes.overrideAddresses"), /replace/);
    assert.match(await explain("wgi.status.wireguard"), /never holds the private key/);
  },
});
