/** `dn42op status` (pure): one row per interface and peer, as a table, a wide table, JSON or YAML. */
import { stringify } from "yaml";
import { type Cell, type Colour, humanBytes, humanDuration, renderTable, shortKey } from "./format.ts";
import { type Freshness, freshness, type InterfaceView, type ReadyStatus } from "./model.ts";

/** One row of the status: an interface and one of its peers (none for an interface without peers). */
export interface StatusRow {
  namespace: string;
  name: string;
  node: string;
  interface: string;
  plan?: string;
  listenPort?: number;
  addresses: string[];
  peer?: {
    publicKey: string;
    name?: string;
    endpoint?: string;
    keepalive?: number;
    latestHandshake?: string;
    handshakeAgeSeconds?: number;
    freshness: Freshness;
    rxBytes?: number;
    txBytes?: number;
  };
  reported: boolean;
  ready: ReadyStatus;
  reason?: string;
  message?: string;
}

/** The rows of `views` at `nowMs`. */
export function statusRows(views: readonly InterfaceView[], nowMs: number, staleAfterS: number): StatusRow[] {
  return views.flatMap((v) => {
    const base: StatusRow = {
      namespace: v.namespace,
      name: v.name,
      node: v.node,
      interface: v.interfaceName,
      addresses: v.addresses,
      reported: v.reported,
      ready: v.ready,
      ...(v.plan ? { plan: v.plan } : {}),
      ...(v.listenPort ? { listenPort: v.listenPort } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
      ...(v.message ? { message: v.message } : {}),
    };
    if (!v.peers.length) return [base];
    return v.peers.map((p) => ({
      ...base,
      peer: {
        publicKey: p.publicKey,
        ...(p.peerName ? { name: p.peerName } : {}),
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        ...(p.keepalive ? { keepalive: p.keepalive } : {}),
        ...(p.handshakeMs
          ? {
            latestHandshake: new Date(p.handshakeMs).toISOString(),
            handshakeAgeSeconds: Math.max(0, Math.floor((nowMs - p.handshakeMs) / 1000)),
          }
          : {}),
        freshness: freshness(p.handshakeMs, nowMs, staleAfterS),
        ...(p.rxBytes !== undefined ? { rxBytes: p.rxBytes } : {}),
        ...(p.txBytes !== undefined ? { txBytes: p.txBytes } : {}),
      },
    }));
  });
}

const NONE = "<none>";

function handshakeCell(r: StatusRow): Cell {
  if (!r.peer) return NONE;
  if (!r.reported) return "-";
  if (r.peer.freshness === "never") return { text: "never", colour: "red" };
  const text = humanDuration(r.peer.handshakeAgeSeconds ?? 0);
  return r.peer.freshness === "stale" ? { text, colour: "red" } : { text, colour: "green" };
}

function readyColour(r: StatusRow): Colour | undefined {
  if (!r.reported) return "dim";
  return r.ready === "True" ? undefined : "red";
}

/** Output formats of status. */
export type StatusFormat = "table" | "wide" | "json" | "yaml";

/** The status in `format`; `allNamespaces` adds the NAMESPACE column; `colour` highlights (tables only). */
export function renderStatus(
  rows: readonly StatusRow[],
  format: StatusFormat,
  o: { allNamespaces: boolean; colour: boolean },
): string {
  if (format === "json" || format === "yaml") {
    const list = { apiVersion: "dn42op/v1", kind: "TunnelStatusList", items: rows };
    return format === "json" ? JSON.stringify(list, null, 2) + "\n" : stringify(list);
  }
  const wide = format === "wide";
  const headers = [
    ...(o.allNamespaces ? ["NAMESPACE"] : []),
    "NAME",
    "NODE",
    "INTERFACE",
    "PEER",
    "ENDPOINT",
    "HANDSHAKE",
    "RX",
    "TX",
    "READY",
    "REASON",
    ...(wide ? ["PLAN", "PORT", "ADDRESSES", "KEEPALIVE", "PEER-KEY"] : []),
  ];
  const body = rows.map((r) => {
    const c = readyColour(r);
    const paint = (text: string): Cell => c ? { text, colour: c } : text;
    const counter = (n: number | undefined) => r.peer ? (n === undefined ? "-" : humanBytes(n)) : NONE;
    return [
      ...(o.allNamespaces ? [paint(r.namespace)] : []),
      paint(r.name),
      paint(r.node),
      paint(r.interface),
      r.peer ? r.peer.name ?? shortKey(r.peer.publicKey) : NONE,
      r.peer?.endpoint ?? NONE,
      handshakeCell(r),
      counter(r.peer?.rxBytes),
      counter(r.peer?.txBytes),
      paint(r.reported ? r.ready : "Unknown"),
      paint(r.reported ? (r.ready === "True" ? "" : r.reason ?? "") : "NotReported"),
      ...(wide
        ? [
          r.plan ?? NONE,
          r.listenPort ? String(r.listenPort) : NONE,
          r.addresses.length ? r.addresses.join(",") : NONE,
          r.peer?.keepalive ? `${r.peer.keepalive}s` : NONE,
          r.peer?.publicKey ?? NONE,
        ]
        : []),
    ];
  });
  if (!body.length) return "";
  return renderTable(headers, body, o.colour);
}
