import assert from "node:assert/strict";
import { Endpoint, IpPrefix } from "../../src/wireguard/addr.ts";
import { InvalidConfigError } from "../../src/wireguard/errors.ts";

Deno.test("prefixes: host bits cleared, canonical text, bare addresses are host prefixes", () => {
  const table: [string, string][] = [
    ["10.1.2.3/8", "10.0.0.0/8"],
    ["10.1.2.3", "10.1.2.3/32"],
    ["192.168.1.255/23", "192.168.0.0/23"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["FD00:0:0:0:0:0:0:1/64", "fd00::/64"],
    ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1/128"],
    ["2001:db8:ffff::/33", "2001:db8:8000::/33"],
    ["::/0", "::/0"],
  ];
  for (const [input, want] of table) assert.equal(IpPrefix.parse(input).text, want, input);
});

Deno.test("prefixes: order is v4 before v6, then address, then length", () => {
  const sorted = ["fd00::/8", "10.0.0.0/16", "10.0.0.0/8", "9.0.0.0/8", "::/0"].map((t) => IpPrefix.parse(t))
    .sort(IpPrefix.compare).map(String);
  assert.deepEqual(sorted, ["9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16", "::/0", "fd00::/8"]);
});

Deno.test("prefixes and endpoints: bad input is a typed error naming the field", () => {
  for (const bad of ["", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/", "10.1/8", "010.0.0.1/8", "fe80::1%eth0/64", "x"]) {
    assert.throws(() => IpPrefix.parse(bad, "peers[0].allowedIps[2]"), (e: unknown) => {
      assert.ok(e instanceof InvalidConfigError, bad);
      assert.match(e.message, /^peers\[0\]\.allowedIps\[2\]: /);
      return true;
    });
  }
  for (const bad of ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", "[10.0.0.1]:5", "fd00::1:5", "host:51820"]) {
    assert.throws(() => Endpoint.parse(bad), InvalidConfigError, bad);
  }
});

Deno.test("endpoints: canonical text", () => {
  assert.equal(Endpoint.parse("192.0.2.1:51820").text, "192.0.2.1:51820");
  assert.equal(Endpoint.parse("[FD00:0::1]:1").text, "[fd00::1]:1");
});
