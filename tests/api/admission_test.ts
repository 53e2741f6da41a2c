/**
 * The CRDs on a real kube-apiserver: the examples are accepted unchanged and round-trip; every invalid manifest
 * is rejected with a message naming the offending field; immutable fields stay immutable.
 */
import assert from "node:assert/strict";
import { clientNode, mergePatch } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { kubectl, withNamespace } from "../../kit/cluster.ts";
import { GROUP, KINDS, VERSION } from "../../src/api/constants.ts";
import {
  create,
  dropFinalizers,
  ensureCrds,
  expectationOf,
  kindOf,
  missingIn,
  NS_OPTS,
  type Obj,
  readObjects,
  rejection,
  ROOT,
  yamlFiles,
} from "./support.ts";

const ignore = skipUnless("cluster");
const validFiles = ["example/wgp", "example/wgi", "example/nl"].flatMap(yamlFiles);
const invalidFiles = yamlFiles("example/invalid");

Deno.test({
  name: "every example applies unchanged with kubectl (server-side dry run, namespace default)",
  ignore,
  fn: async () => {
    await ensureCrds();
    for (const file of validFiles) {
      const r = await kubectl(["apply", "--dry-run=server", "-f", `${ROOT}${file}`], { check: false });
      assert.equal(r.code, 0, `${file}: ${r.stderr}`);
    }
  },
});

Deno.test({
  name: "every example is accepted and round-trips: stored spec holds every field as written, plus defaults",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      const k8s = await clientNode();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      let count = 0;
      try {
        for (const file of validFiles) {
          for (const obj of readObjects(file)) {
            await create(kc, namespace, obj).catch((e) => {
              throw new Error(`${file} ${obj.kind}/${obj.metadata.name}: ${e}`);
            });
            if (obj.kind === "Secret") continue;
            const stored = await co.getNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace,
              plural: kindOf(obj).plural,
              name: obj.metadata.name,
            }) as Obj;
            const diff = missingIn(obj.spec, stored.spec, "spec");
            assert.equal(diff, null, `${file} ${obj.metadata.name}: ${diff}`);
            assert.deepEqual(stored.metadata.finalizers, obj.metadata.finalizers);
            count++;
          }
        }
        assert.ok(count >= 20, `only ${count} objects in the examples`);
        // defaults are filled in by the API server (these examples leave the fields out)
        const get = (plural: string, name: string) =>
          co.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }) as Promise<
            { spec: Record<string, unknown> & { vlan?: { protocol?: string } } }
          >;
        const plain = await get(KINDS.WireGuardInterface.plural, "host1-wg0");
        assert.equal(plain.spec.moveToContainer, false);
        const moved = await get(KINDS.WireGuardInterface.plural, "host1-blue-wg1");
        assert.equal(moved.spec.mtu, 1420);
        const vlan = await get(KINDS.NetlinkInterface.plural, "host1-eth0-100");
        assert.equal(vlan.spec.up, true);
        assert.equal(vlan.spec.vlan?.protocol, "802.1Q");
      } finally {
        await dropFinalizers(kc, namespace);
      }
    }, NS_OPTS),
});

Deno.test({
  name: "every manifest in example/invalid is rejected with a message naming the offending field",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      assert.ok(invalidFiles.length >= 40, `only ${invalidFiles.length} invalid manifests`);
      const wrong: string[] = [];
      for (const file of invalidFiles) {
        const expect = expectationOf(file);
        const [obj] = readObjects(file);
        const text = await rejection(create(kc, namespace, obj, { dryRun: true })).catch((e) => `ACCEPTED (${e})`);
        if (!text.includes(`${expect.field}:`) && !text.includes(`"${expect.field}"`)) {
          wrong.push(`${file}: field ${expect.field} not named in: ${text}`);
        } else if (!text.includes(expect.message)) {
          wrong.push(`${file}: "${expect.message}" not in: ${text}`);
        }
        const key = (obj.spec as { privateKey?: string }).privateKey;
        if (key && text.includes(key)) wrong.push(`${file}: the private key is echoed in: ${text}`);
      }
      assert.deepEqual(wrong, []);
    }, NS_OPTS),
});

/** A valid WireGuardInterface to mutate. */
function wgi(name: string): Obj {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "WireGuardInterface",
    metadata: { name },
    spec: {
      node: "host1",
      interfaceName: "wg0",
      privateKey: "mCe+zbjoXyqeHI9bV47fL9CGqyMqtVF8Imjo9D8K1UA=",
      moveToContainer: true,
      container: { docker: { name: "agent1" } },
      addresses: [{ family: "inet", local: "10.0.0.1", peer: "10.0.0.2", prefixlen: 32 }],
      peers: [{ publicKey: "Id6brvgFFv10dFmFoqR014wffCdoZXg2TAGdw5pWzDw=" }],
    },
  };
}

/** A valid NetlinkInterface of each immutable-parameter type. */
function nl(name: string, spec: Record<string, unknown>): Obj {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "NetlinkInterface",
    metadata: { name },
    spec: { node: "host1", interfaceName: "x0", ...spec },
  };
}

Deno.test({
  name: "immutable fields: node, interface name, placement, type and vxlan/vlan/macvlan/veth parameters",
  ignore,
  fn: () =>
    withNamespace(async ({ kc, namespace }) => {
      await ensureCrds();
      const k8s = await clientNode();
      const co = kc.makeApiClient(k8s.CustomObjectsApi);
      const merge = await mergePatch();
      const patch = (obj: Obj, spec: Record<string, unknown>) =>
        co.patchNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: kindOf(obj).plural,
          name: obj.metadata.name,
          body: { spec },
        }, merge);
      const cases: [Obj, Record<string, unknown>, string][] = [];
      const w = wgi("w");
      cases.push(
        [w, { node: "host2" }, "spec.node: Invalid value"],
        [w, { interfaceName: "wg1" }, "spec.interfaceName: Invalid value"],
        [w, { container: { docker: { name: "agent2" } } }, "spec.container: Invalid value"],
        [w, { container: null, moveToContainer: false }, "spec.container: Invalid value"],
        [w, { moveToContainer: false }, "spec.moveToContainer: Invalid value"],
      );
      const vx = nl("vx", { type: "vxlan", vxlan: { vni: 1, port: 4789 } });
      const vl = nl("vl", { type: "vlan", vlan: { id: 10, link: "eth0" } });
      const mv = nl("mv", { type: "macvlan", macvlan: { link: "eth0" } });
      const ve = nl("ve", { type: "veth", veth: { peer: { interfaceName: "x1" } } });
      const du = nl("du", { type: "dummy" });
      cases.push(
        [vx, { vxlan: { vni: 2 } }, "spec.vxlan: Invalid value"],
        [vx, { vxlan: { ttl: 3 } }, "spec.vxlan: Invalid value"],
        [vl, { vlan: { id: 11 } }, "spec.vlan: Invalid value"],
        [mv, { macvlan: { link: "eth1" } }, "spec.macvlan.link: Invalid value"],
        [ve, { veth: { peer: { interfaceName: "x2" } } }, "spec.veth: Invalid value"],
        [
          ve,
          { veth: { peer: { interfaceName: "x1", container: { netns: { name: "blue" } } } } },
          "spec.veth: Invalid value",
        ],
        [du, { type: "bridge" }, "spec.type: Invalid value"],
        [du, { container: { netns: { name: "blue" } } }, "spec.container: Invalid value"],
      );
      for (const obj of [w, vx, vl, mv, ve, du]) await create(kc, namespace, obj);
      for (const [obj, spec, expected] of cases) {
        const text = await rejection(patch(obj, spec));
        assert.ok(text.includes(expected) && text.includes("immutable"), `${JSON.stringify(spec)}: ${text}`);
      }
      // mutable fields still change
      await patch(w, { mtu: 1400, listenPort: 51000, peers: [] });
      await patch(mv, { macvlan: { link: "eth0", mode: "vepa" } });
      await patch(du, { up: false, mtu: 9000, addresses: [{ ipcidr: "10.9.0.1/24" }] });
      await patch(ve, { veth: { peer: { interfaceName: "x1", addresses: [{ ipcidr: "10.8.0.1/31" }] } } });
    }, NS_OPTS),
});
