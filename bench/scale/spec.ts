/** The shape of bench:scale's WireGuardInterfaces, shared by bench:scale and bench:scale:kernel. */
import type { WireGuardInterfaceSpec } from "../../src/api/wireguard_interface.ts";

/** A device's key pair, base64. */
export interface ScaleKey {
  priv: string;
  pub: string;
}

/**
 * The spec of bench:scale's WireGuardInterface number `x` of `kk.length`, named `name`: moved into the
 * container namespace `ctr`, listen port 20000+x, 10.(64+x/256).(x%256).1 peer 10.127.0.1/32, one peer (the next
 * device's key) with one allowed IP, default MTU.
 */
export function scaleSpec(x: number, kk: readonly ScaleKey[], ctr: string, name: string): WireGuardInterfaceSpec {
  return {
    node: "bench",
    moveToContainer: true,
    container: { netns: { name: ctr } },
    interfaceName: name,
    privateKey: kk[x].priv,
    listenPort: 20000 + x,
    addresses: [{ family: "inet", local: `10.${64 + (x >> 8)}.${x & 255}.1`, peer: "10.127.0.1", prefixlen: 32 }],
    peers: [{ publicKey: kk[(x + 1) % kk.length].pub, allowedIPs: [`10.200.${x >> 8}.${x & 255}/32`] }],
  };
}

/** The kernel scale benches' name of device `i` (the same on both sides: each side has its own namespaces). */
export function scaleName(i: number): string {
  return `ks${i.toString(16).padStart(4, "0")}`;
}
