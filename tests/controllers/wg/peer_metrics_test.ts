import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { handshakeDelay, PeerMetrics, peerReadings } from "../../../src/controllers/wg/peer_metrics.ts";
import { IpPrefix } from "../../../src/wireguard/addr.ts";
import { WireGuardKey } from "../../../src/wireguard/key.ts";
import type { DeviceState, PeerState } from "../../../src/wireguard/model.ts";

const KEY_A = "SRvXKLMEqN5K95PC58VhHRwL0ML+5ko53iVUSvZPgRw=";
const KEY_B = "VrtpHP5hfeuvj6hIjEhCQKRcXETYc1Z21JdmxO/HoVA=";

function peer(key: string, o: Partial<PeerState> = {}): PeerState {
  return {
    publicKey: WireGuardKey.parse("public", key),
    allowedIps: [IpPrefix.parse("0.0.0.0/0"), IpPrefix.parse("::/0")],
    lastHandshake: null,
    rxBytes: 0n,
    txBytes: 0n,
    protocolVersion: 1,
    ...o,
  };
}

function device(name: string, ...peers: PeerState[]): DeviceState {
  return { name, listenPort: 51820, fwmark: 0, peers };
}

Deno.test("peerReadings: exporter labels plus node and object; handshake in whole Unix seconds, 0 when none", () => {
  const dev = device(
    "wg1",
    peer(KEY_A, {
      lastHandshake: new Date(1_700_000_000_900),
      rxBytes: 2n ** 40n,
      txBytes: 7n,
      persistentKeepalive: 25,
    }),
    peer(KEY_B),
  );
  assert.deepEqual(peerReadings({ namespace: "default", name: "lax1-wg1" }, "lax1", dev), [
    {
      labels: {
        interface: "wg1",
        public_key: KEY_A,
        allowed_ips: "0.0.0.0/0,::/0",
        node: "lax1",
        namespace: "default",
        wireguardinterface: "lax1-wg1",
      },
      handshakeSeconds: 1_700_000_000,
      sentBytes: 7,
      receivedBytes: 2 ** 40,
      keepaliveSeconds: 25,
    },
    {
      labels: {
        interface: "wg1",
        public_key: KEY_B,
        allowed_ips: "0.0.0.0/0,::/0",
        node: "lax1",
        namespace: "default",
        wireguardinterface: "lax1-wg1",
      },
      handshakeSeconds: 0,
      sentBytes: 0,
      receivedBytes: 0,
      keepaliveSeconds: 0,
    },
  ]);
});

Deno.test("handshakeDelay: seconds since the handshake, never negative, undefined without one", () => {
  const r = (handshakeSeconds: number) => ({
    ...peerReadings({ namespace: "n", name: "x" }, "a", device("w", peer(KEY_A)))[0],
    handshakeSeconds,
  });
  const cases: [number, number, number | undefined][] = [
    [1000, 1_010_500, 10],
    [1000, 999_000, 0],
    [0, 5_000_000, undefined],
  ];
  for (const [hs, now, want] of cases) assert.equal(handshakeDelay(r(hs), now), want, `${hs} at ${now}`);
});

Deno.test("PeerMetrics: exposition after polls; a forgotten object's series are gone", async () => {
  const registry = new Registry();
  const m = new PeerMetrics(registry, "lax1", () => 1_700_000_100_000);
  m.observe(
    "default/wg1",
    device(
      "wg1",
      peer(KEY_B, { lastHandshake: new Date(1_700_000_000_000), rxBytes: 92n, txBytes: 148n, persistentKeepalive: 25 }),
    ),
  );
  m.observe("ns2/wg2", device("wg2", peer(KEY_A)));
  const labels = (iface: string, key: string, ns: string, obj: string) =>
    `{interface="${iface}",public_key="${key}",allowed_ips="0.0.0.0/0,::/0",node="lax1",namespace="${ns}",wireguardinterface="${obj}"}`;
  const l1 = labels("wg1", KEY_B, "default", "wg1");
  const l2 = labels("wg2", KEY_A, "ns2", "wg2");
  const text = await registry.metrics();
  const samples = text.split("\n").filter((l) => l && !l.startsWith("#")).sort();
  assert.deepEqual(samples, [
    `dn42op_wireguard_persistent_keepalive_seconds${l1} 25`,
    `dn42op_wireguard_persistent_keepalive_seconds${l2} 0`,
    `wireguard_latest_handshake_delay_seconds${l1} 100`,
    `wireguard_latest_handshake_seconds${l1} 1700000000`,
    `wireguard_latest_handshake_seconds${l2} 0`,
    `wireguard_received_bytes_total${l1} 92`,
    `wireguard_received_bytes_total${l2} 0`,
    `wireguard_sent_bytes_total${l1} 148`,
    `wireguard_sent_bytes_total${l2} 0`,
  ]);
  assert.match(text, /# TYPE wireguard_sent_bytes_total counter/);
  assert.match(text, /# TYPE wireguard_latest_handshake_seconds gauge/);

  m.forget("default/wg1");
  m.observe("ns2/wg2", undefined); // the link is there but no device serves it
  assert.deepEqual((await registry.metrics()).split("\n").filter((l) => l && !l.startsWith("#")), []);
});
