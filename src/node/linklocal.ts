/**
 * Which unlisted IPv6 link-local addresses belong to the kernel (pure; shared by the wg and nl agents).
 *
 * Address lists in specs are exact, but the kernel adds an fe80::/64 address to most links when they come up
 * (neighbour discovery needs it; the vxlan/veth ff02::1 examples rely on it). Removing it would make the link flap
 * between "drift" and "healed" each time the kernel re-adds it, so it is kept. Every other unlisted address —
 * including a link-local one added by hand — is removed. (The reference removed kernel link-locals too: docs/reference.md#link-local.)
 *
 * How an address is recognised, strongest evidence first:
 * 1. IFA_PROTO (Linux ≥ 5.18 reports `kernel_ll` for the addresses it generates, whatever the addrgenmode —
 *    EUI-64, stable-privacy or random): authoritative when present.
 * 2. Without a protocol, on a link with a MAC: the modified EUI-64 form (`…ff:fe…` in the interface identifier),
 *    which is what the kernel derives from a MAC (a bridge's MAC, and so its link-local, changes as ports come and go,
 *    so matching the current MAC alone is not enough).
 * 3. Without a protocol, on a link without a MAC (a WireGuard or TUN device): any fe80::/64 address without a peer
 *    (the kernel gives a TUN device a random interface identifier on up).
 */
import type { AddressProto } from "../netlink/mod.ts";
import { parseIp } from "../netlink/ip.ts";

/** The parts of an observed address the decision reads. */
export interface LinkLocalCandidate {
  family: 4 | 6;
  local: string;
  peer: string | null;
  prefixlen: number;
  /** IFA_PROTO as the netlink layer decodes it; null or absent when the kernel sent none. */
  proto?: AddressProto | null;
}

/** The EUI-64 IPv6 link-local address of a MAC (`aa:bb:cc:dd:ee:ff` → `fe80::a8bb:ccff:fedd:eeff`). */
export function eui64LinkLocal(mac: string): string | null {
  const b = mac.split(":").map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) return null;
  const w = [((b[0] ^ 2) << 8) | b[1], (b[2] << 8) | 0xff, 0xfe00 | b[3], (b[4] << 8) | b[5]];
  return parseIp(`fe80::${w.map((x) => x.toString(16)).join(":")}`, "eui64", "mac").address;
}

/** True for an IPv6 link-local address the kernel generated for a link with MAC `mac` (null: the link has none). */
export function isKernelLinkLocal(a: LinkLocalCandidate, mac: string | null): boolean {
  if (a.family !== 6 || a.peer !== null || a.prefixlen !== 64 || !/^fe[89ab][0-9a-f]:/i.test(a.local)) return false;
  if (a.proto !== undefined && a.proto !== null) return a.proto === "kernel_ll";
  if (mac === null) return true;
  if (eui64LinkLocal(mac) === a.local) return true;
  const b = parseIp(a.local, "link-local", "address").bytes;
  return b[11] === 0xff && b[12] === 0xfe;
}
