import assert from "node:assert/strict";
import { eui64LinkLocal, isKernelLinkLocal, type LinkLocalCandidate } from "../../src/node/linklocal.ts";

const MAC = "b2:4b:e8:30:51:9d";
const v6 = (local: string, more: Partial<LinkLocalCandidate> = {}): LinkLocalCandidate => ({
  family: 6,
  local,
  peer: null,
  prefixlen: 64,
  ...more,
});

Deno.test("eui64LinkLocal derives the kernel's link-local address from a MAC", () => {
  assert.equal(eui64LinkLocal(MAC), "fe80::b04b:e8ff:fe30:519d");
  assert.equal(eui64LinkLocal("02:00:00:00:00:01"), "fe80::ff:fe00:1");
  assert.equal(eui64LinkLocal("zz"), null);
});

Deno.test("isKernelLinkLocal: IFA_PROTO first, then the link's kind", () => {
  const cases: [string, LinkLocalCandidate, string | null, boolean][] = [
    ["proto kernel_ll, random IID", v6("fe80::1234:5678:9abc:def0", { proto: "kernel_ll" }), MAC, true],
    ["proto kernel_ll on a link without MAC", v6("fe80::1", { proto: "kernel_ll" }), null, true],
    ["proto set by a user, EUI-64 shape", v6("fe80::b04b:e8ff:fe30:519d", { proto: 42 }), MAC, false],
    [
      "proto kernel_ra is not link-local generation",
      v6("fe80::b04b:e8ff:fe30:519d", { proto: "kernel_ra" }),
      MAC,
      false,
    ],
    ["no proto, this MAC's EUI-64", v6("fe80::b04b:e8ff:fe30:519d"), MAC, true],
    ["no proto, EUI-64 of an earlier MAC", v6("fe80::ff:fe00:1"), MAC, true],
    ["no proto, hand-made IID on a MAC link", v6("fe80::5"), MAC, false],
    ["no proto, no MAC (TUN/WireGuard)", v6("fe80::5"), null, true],
    ["point-to-point link-local is never the kernel's", v6("fe80::1771", { peer: "fe80::a:1771" }), null, false],
    ["not /64", v6("fe80::b04b:e8ff:fe30:519d", { prefixlen: 128 }), MAC, false],
    ["not link-local", v6("fd00::b04b:e8ff:fe30:519d"), MAC, false],
    ["IPv4", { family: 4, local: "169.254.0.1", peer: null, prefixlen: 16 }, MAC, false],
  ];
  for (const [name, a, mac, want] of cases) assert.equal(isKernelLinkLocal(a, mac), want, name);
});
