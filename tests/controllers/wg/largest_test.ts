/**
 * The largest WireGuardInterface the CRD admits (512 peers, 4096 allowed IPs in all, 64 addresses, longest texts),
 * converged by the real wg-controller (wireguard-go) against the real API server: its status is written (bounded),
 * the stored object stays inside what the API server stores, and one allowed IP more is refused at admission.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { MAX_PEERS, MAX_TOTAL_ALLOWED_IPS } from "../../../src/api/wireguard_interface.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import { metricValue } from "../../../kit/agent.ts";
import { until } from "../../../kit/wait.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { wg } from "../../helpers/wgtool.ts";
import { create, ifname, isReady, read, wgi, withAgent } from "./support.ts";

const METRICS = "127.0.0.1:18080";
/** What etcd stores at most per object (its default --max-request-bytes). */
const ETCD_MAX_BYTES = 1.5 * 1024 * 1024;

const hex4 = (n: number) => n.toString(16).padStart(4, "0");

async function largestSpec(name: string): Promise<Record<string, unknown>> {
  const perPeer = MAX_TOTAL_ALLOWED_IPS / MAX_PEERS;
  const peers = [];
  for (let i = 0; i < MAX_PEERS; i++) {
    peers.push({
      publicKey: (await publicKeyOf(await generatePrivateKey())).toBase64(),
      allowedIPs: Array.from({ length: perPeer }, (_, j) => `fd00:ffff:ffff:ffff:ffff:ffff:${hex4(i)}:${hex4(j)}/128`),
      endpoint: `[fd01:ffff:ffff:ffff:ffff:ffff:ffff:${hex4(i)}]:65535`,
      persistentKeepalive: 65535,
    });
  }
  return {
    node: "lax1",
    interfaceName: name,
    privateKey: (await generatePrivateKey()).toBase64(),
    mtu: 1420,
    addresses: Array.from({ length: 64 }, (_, i) => ({
      family: "inet6",
      local: `fd02:ffff:ffff:ffff:ffff:ffff:ffff:${hex4(i)}`,
      peer: `fd03:ffff:ffff:ffff:ffff:ffff:ffff:${hex4(i)}`,
      prefixlen: 128,
    })),
    peers,
  };
}

Deno.test({
  name: "wg-controller: the largest object the CRD admits converges and its status stays within what is stored",
  ignore: skipUnless("root", "cluster", "wireguard-go"),
  fn: () =>
    withAgent(
      0,
      async ({ ns, agent, stateDir }) => {
        const name = ifname();
        const spec = await largestSpec(name);
        // One allowed IP more than the CRD admits: refused, naming the field.
        const over = structuredClone(spec) as { peers: { allowedIPs: string[] }[] };
        over.peers[0].allowedIPs.push("fd04::1/128");
        await assert.rejects(create(wgi(ns, "over", over)), (e: unknown) => {
          assert.equal((e as k8s.ApiException<string>).code, 422);
          assert.match(String((e as k8s.ApiException<string>).body), /spec\.peers may hold at most 4096 allowedIPs/);
          return true;
        });

        await create(wgi(ns, "largest", spec));
        const o = await until(
          "the largest object Ready",
          async () => {
            const o = await read(ns, "largest");
            return isReady(o) ? o : undefined;
          },
          600_000,
          1000,
        );
        const dev = o.status.wireguard;
        assert.equal(dev.peers.length, MAX_PEERS, "every peer is shown");
        assert.equal(dev.allowed_ips_omitted, true, "their allowed IPs are in the spec only");
        const stored = new TextEncoder().encode(JSON.stringify(o)).length;
        console.log(`largest object as stored (with managedFields and status): ${stored} bytes`);
        assert.ok(stored < ETCD_MAX_BYTES * 0.8, `${stored} bytes`);
        assert.equal(
          await metricValue(agent, METRICS, "dn42op_status_write_errors_total", 'controller="wg-controller"'),
          0,
        );
        // The device holds every peer with all its allowed IPs (read until it does: right after its creation the
        // agent re-adds peers without a first handshake one by one, src/node/wireguard/kick.ts).
        const want = spec.peers as { publicKey: string; allowedIPs: string[] }[];
        let missing: string[] = [];
        await until(
          "every peer on the device",
          async () => {
            const dump = (await wg(agent.host, stateDir, "show", name, "allowed-ips")).trim().split("\n");
            const onDevice = new Map(dump.map((l) => l.split("\t")).map(([k, ips]) => [k, ips.split(" ").length]));
            missing = want.filter((p) => onDevice.get(p.publicKey) !== p.allowedIPs.length).map((p) => p.publicKey);
            return missing.length === 0;
          },
          30_000,
          250,
        ).catch((e) => {
          throw new Error(`${(e as Error).message}; missing ${missing.join(", ")}`);
        });
      },
      [`-metrics-bind-address=${METRICS}`],
      "ten",
    ),
});
