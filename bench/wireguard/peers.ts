/** The benchmark's deterministic peers (bench.ts, read_profile.ts). */
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import type { PeerConfig } from "../../src/wireguard/model.ts";

/** `n` peers: key i, endpoint 192.0.2.x, one IPv4 /32 and one IPv6 /128. */
export function benchPeers(n: number): PeerConfig[] {
  const out: PeerConfig[] = [];
  for (let i = 0; i < n; i++) {
    const k = new Uint8Array(32);
    new DataView(k.buffer).setUint32(0, i + 1);
    k[31] = 0x42;
    out.push({
      publicKey: WireGuardKey.fromBytes("public", k),
      endpoint: Endpoint.parse(`192.0.2.${(i % 250) + 1}:${1024 + (i % 60000)}`),
      allowedIps: [
        IpPrefix.parse(`10.${(i >> 8) & 255}.${i & 255}.1/32`),
        IpPrefix.parse(`fd00::${i.toString(16)}/128`),
      ],
    });
  }
  return out;
}
