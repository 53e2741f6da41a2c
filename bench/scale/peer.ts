/**
 * The kernel scale benches' peer: the same devices as bench:scale's WireGuardInterfaces built with the standard
 * tools, one shell per device, run by `xargs -P <workers> -L 1 sh <script>` over {@link peerLines}.
 */
import type { ScaleKey } from "./spec.ts";

/**
 * One device with iproute2 and wg(8): created in `hostNs`, key (a file in `keyDir`), port 20000+i and peer set
 * there, moved into `ctrNs`, address and up. Arguments: index, name, private key, the peer's public key.
 */
export function peerDeviceScript(hostNs: string, ctrNs: string, keyDir: string): string {
  return `
set -e
i=$1; n=$2; key=$3; pub=$4
printf '%s' "$key" > ${keyDir}/$n.key
ip -n ${hostNs} link add $n mtu 1420 type wireguard
ip netns exec ${hostNs} wg set $n private-key ${keyDir}/$n.key listen-port $((20000 + i)) \\
  peer $pub allowed-ips 10.200.$((i >> 8)).$((i & 255))/32
ip -n ${hostNs} link set $n netns ${ctrNs}
ip -n ${ctrNs} addr add 10.$((64 + (i >> 8))).$((i & 255)).1 peer 10.127.0.1/32 dev $n
ip -n ${ctrNs} link set $n up
`;
}

/** The input lines of {@link peerDeviceScript}: index, name, private key, the next device's public key. */
export function peerLines(kk: readonly ScaleKey[], name: (i: number) => string): string {
  return kk.map((k, i) => `${i} ${name(i)} ${k.priv} ${kk[(i + 1) % kk.length].pub}\n`).join("");
}
