import assert from "node:assert/strict";
import ipaddr from "ipaddr.js";
import { NetlinkError } from "../../src/netlink/errors.ts";
import { AF_INET, AF_INET6, formatIp, parseIp } from "../../src/netlink/ip.ts";

const VALID: [string, number, string, number, boolean, number[]][] = [
  // text, family, canonical address, prefixlen, hasPrefix, first bytes
  ["10.0.0.1", AF_INET, "10.0.0.1", 32, false, [10, 0, 0, 1]],
  ["10.0.0.1/24", AF_INET, "10.0.0.1", 24, true, [10, 0, 0, 1]],
  ["0.0.0.0/0", AF_INET, "0.0.0.0", 0, true, [0, 0, 0, 0]],
  ["255.255.255.255/32", AF_INET, "255.255.255.255", 32, true, [255, 255, 255, 255]],
  ["fd00::1/64", AF_INET6, "fd00::1", 64, true, [0xfd, 0, 0, 0]],
  ["FD00:0:0:0:0:0:0:1", AF_INET6, "fd00::1", 128, false, [0xfd, 0, 0, 0]],
  ["::", AF_INET6, "::", 128, false, [0, 0, 0, 0]],
  ["::/0", AF_INET6, "::", 0, true, [0, 0, 0, 0]],
  ["2001:db8:0:0:1:0:0:1", AF_INET6, "2001:db8::1:0:0:1", 128, false, [0x20, 0x01, 0x0d, 0xb8]],
  ["::ffff:192.0.2.1/128", AF_INET6, "::ffff:c000:201", 128, true, [0, 0, 0, 0]],
  ["fe80::1/64", AF_INET6, "fe80::1", 64, true, [0xfe, 0x80, 0, 0]],
];

const INVALID: [string, RegExp][] = [
  ["", /not an IPv4 or IPv6 address/],
  ["10.0.0", /not an IPv4 or IPv6 address/],
  ["10.0.0.256", /not an IPv4 or IPv6 address/],
  ["010.0.0.1", /not an IPv4 or IPv6 address/],
  ["0x0a.0.0.1", /not an IPv4 or IPv6 address/],
  ["10.0.0.1/33", /prefix length must be 0\.\.32/],
  ["10.0.0.1/-1", /prefix length must be 0\.\.32/],
  ["10.0.0.1/", /prefix length must be 0\.\.32/],
  ["10.0.0.1/8/8", /more than one '\/'/],
  ["fd00::1/129", /prefix length must be 0\.\.128/],
  ["fd00:::1", /not an IPv4 or IPv6 address/],
  ["fd00::g", /not an IPv4 or IPv6 address/],
  ["1:2:3:4:5:6:7:8:9", /not an IPv4 or IPv6 address/],
  ["fe80::1%eth0", /zone ids are not allowed/],
  ["host.example", /not an IPv4 or IPv6 address/],
];

Deno.test("parseIp: valid IPv4 and IPv6 text (table)", () => {
  for (const [text, family, address, prefixlen, hasPrefix, head] of VALID) {
    const p = parseIp(text, "test", "address");
    assert.equal(p.family, family, text);
    assert.equal(p.address, address, text);
    assert.equal(p.prefixlen, prefixlen, text);
    assert.equal(p.hasPrefix, hasPrefix, text);
    assert.equal(p.bytes.length, family === AF_INET ? 4 : 16, text);
    assert.deepEqual([...p.bytes.subarray(0, 4)], head, text);
    assert.equal(formatIp(p.bytes), address, `${text} formats back`);
  }
});

Deno.test("parseIp: invalid text is a typed EINVAL error naming the field and the value (table)", () => {
  for (const [text, why] of INVALID) {
    assert.throws(() => parseIp(text, "add address", "spec.addresses[0]"), (e) => {
      assert.ok(e instanceof NetlinkError, text);
      assert.equal(e.errnoName, "EINVAL", text);
      assert.match(e.message, /add address/, text);
      assert.match(e.message, /spec\.addresses\[0\]/, text);
      assert.ok(e.message.includes(`"${text}"`), text);
      assert.match(e.message, why, text);
      return true;
    });
  }
});

Deno.test("parseIp: valid addresses of either family parse without ipaddr.js throwing and catching inside", () => {
  // ipaddr.js 2.x's isValid functions answer false by catching an exception of their own parser; count those.
  const originals = [ipaddr.IPv4, ipaddr.IPv6].map((cls) => [cls, cls.isValid] as const);
  let caught = 0;
  const probe = (fn: () => void) => {
    for (const [cls, isValid] of originals) {
      cls.isValid = (s: string) => {
        const ok = isValid.call(cls, s);
        if (!ok) caught++;
        return ok;
      };
    }
    try {
      fn();
    } finally {
      for (const [cls, isValid] of originals) cls.isValid = isValid;
    }
  };
  probe(() => {
    for (const [text] of VALID) formatIp(parseIp(text, "test", "address").bytes);
  });
  assert.equal(caught, 0);
  // the probe sees the exception path: ipaddr.js's own four-part check of IPv6 text goes through it
  probe(() => ipaddr.IPv4.isValidFourPartDecimal("fd00::1"));
  assert.equal(caught, 1);
});

Deno.test("formatIp: RFC 5952 for IPv6, dotted quad for IPv4, null for other lengths (table)", () => {
  const cases: [number[], string | null][] = [
    [[192, 0, 2, 1], "192.0.2.1"],
    [[0, 0, 0, 0], "0.0.0.0"],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "2001:db8::1"],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], "2001:db8:0:1::1"],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], "2001:db8::1:0:0:1"],
    [new Array(16).fill(0), "::"],
    [[1, 2, 3], null],
    [new Array(6).fill(0), null],
  ];
  for (const [bytes, want] of cases) assert.equal(formatIp(Uint8Array.from(bytes)), want, String(bytes));
});
