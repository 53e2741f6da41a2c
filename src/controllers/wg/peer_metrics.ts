/**
 * WireGuard peer metrics on wg-controller's /metrics, named and labelled like the widely used
 * prometheus_wireguard_exporter (`wireguard_sent_bytes_total`, `wireguard_received_bytes_total`,
 * `wireguard_latest_handshake_seconds` with `interface`, `public_key`, `allowed_ips`; its optional
 * `wireguard_latest_handshake_delay_seconds`), so its dashboards and alerts apply. Added labels: `node` (the agent's
 * -nodename), `namespace` and `wireguardinterface` (the object; interface names repeat across container namespaces).
 * `dn42op_wireguard_persistent_keepalive_seconds` (0: off) lets an alert tell a silent tunnel that should talk from
 * one that only listens.
 *
 * Fed by the reconciler's device poll ({@link PeerMetrics.observe} gets the device it has just read): scraping reads
 * no kernel state. Values are what the last poll saw; the delay is computed at scrape time.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { splitKey } from "../../kube/client.ts";
import type { DeviceState } from "../../wireguard/model.ts";

/** Label names of every peer series, in exposition order. */
export const PEER_LABELS = [
  "interface",
  "public_key",
  "allowed_ips",
  "node",
  "namespace",
  "wireguardinterface",
] as const;

/** Labels of one peer series. */
export type PeerLabels = Record<typeof PEER_LABELS[number], string>;

/** One peer as last polled. */
export interface PeerReading {
  labels: PeerLabels;
  /** Latest handshake, Unix seconds; 0 when none happened (the exporter's convention). */
  handshakeSeconds: number;
  sentBytes: number;
  receivedBytes: number;
  keepaliveSeconds: number;
}

/** The readings of one device (pure): one per peer, labels as the exporter forms them. */
export function peerReadings(
  object: { namespace: string; name: string },
  node: string,
  device: DeviceState,
): PeerReading[] {
  return device.peers.map((p) => ({
    labels: {
      interface: device.name,
      public_key: p.publicKey.toBase64(),
      allowed_ips: p.allowedIps.map((a) => a.text).join(","),
      node,
      namespace: object.namespace,
      wireguardinterface: object.name,
    },
    handshakeSeconds: p.lastHandshake ? Math.floor(p.lastHandshake.getTime() / 1000) : 0,
    sentBytes: Number(p.txBytes),
    receivedBytes: Number(p.rxBytes),
    keepaliveSeconds: p.persistentKeepalive ?? 0,
  }));
}

/** Seconds since the latest handshake at `nowMs`; undefined when there was none. */
export function handshakeDelay(r: PeerReading, nowMs: number): number | undefined {
  return r.handshakeSeconds ? Math.max(0, Math.floor(nowMs / 1000) - r.handshakeSeconds) : undefined;
}

/** What the reconciler reports to (kept small so tests and other backends can observe polls too). */
export interface PeerObserver {
  /** The device object `key` ("namespace/name") has just been polled; undefined: no device serves the link. */
  observe(key: string, device: DeviceState | undefined): void;
  /** Object `key`'s link is gone. */
  forget(key: string): void;
}

/** The peer metrics of one agent, registered in `registry`. */
export class PeerMetrics implements PeerObserver {
  readonly #readings = new Map<string, PeerReading[]>();

  constructor(registry: Registry, readonly node: string, private readonly now: () => number = Date.now) {
    const all = () => [...this.#readings.values()].flat();
    /** A counter or gauge whose samples are the readings' `value`s (absent where it is undefined). */
    const metric = (
      type: "counter" | "gauge",
      name: string,
      help: string,
      value: (r: PeerReading) => number | undefined,
    ) => {
      const samples = function* () {
        for (const r of all()) {
          const v = value(r);
          if (v !== undefined) yield [r.labels, v] as const;
        }
      };
      const common = { name, help, labelNames: PEER_LABELS, registers: [registry] };
      if (type === "counter") {
        return new Counter({
          ...common,
          collect() {
            this.reset();
            for (const [labels, v] of samples()) this.inc(labels, v);
          },
        });
      }
      return new Gauge({
        ...common,
        collect() {
          this.reset();
          for (const [labels, v] of samples()) this.set(labels, v);
        },
      });
    };
    metric("counter", "wireguard_sent_bytes_total", "Bytes sent to the peer", (r) => r.sentBytes);
    metric("counter", "wireguard_received_bytes_total", "Bytes received from the peer", (r) => r.receivedBytes);
    metric(
      "gauge",
      "wireguard_latest_handshake_seconds",
      "Unix time of the latest handshake with the peer (0: none yet)",
      (r) => r.handshakeSeconds,
    );
    metric(
      "gauge",
      "wireguard_latest_handshake_delay_seconds",
      "Seconds since the latest handshake with the peer (absent: none yet)",
      (r) => handshakeDelay(r, this.now()),
    );
    metric(
      "gauge",
      "dn42op_wireguard_persistent_keepalive_seconds",
      "Persistent keepalive interval configured for the peer (0: off)",
      (r) => r.keepaliveSeconds,
    );
  }

  observe(key: string, device: DeviceState | undefined): void {
    if (!device) return void this.#readings.delete(key);
    this.#readings.set(key, peerReadings(splitKey(key), this.node, device));
  }

  forget(key: string): void {
    this.#readings.delete(key);
  }
}
