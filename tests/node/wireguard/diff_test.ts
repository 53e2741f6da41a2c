/** Table tests of the pure parts: WGI spec → desired state, link plan, status facts. */
import assert from "node:assert/strict";
import type { WireGuardInterfaceSpec } from "../../../src/api/wireguard_interface.ts";
import { Endpoint, IpPrefix } from "../../../src/wireguard/addr.ts";
import { WireGuardKey } from "../../../src/wireguard/key.ts";
import { desiredState, WgSpecError, withLearnedEndpoints } from "../../../src/node/wireguard/desired.ts";
import { type LinkOp, planLink } from "../../../src/node/wireguard/diff.ts";
import { isKernelLinkLocal } from "../../../src/node/linklocal.ts";
import { deviceStatus, goNetFlags, publishedEndpoints } from "../../../src/node/wireguard/status.ts";
import type { DeviceState } from "../../../src/wireguard/model.ts";

const PRIV = WireGuardKey.parse("private", "OLI9+dbUZnZlnFRlvpdXC6S8ZDmNX96N3KLIu5eF9k8=");
const PUB1 = "SBz2J27GQ8BXGxHQ+zE7BqfpOWHqOkbTWzGr0F0DMhQ=";
const PUB2 = "pFP7qkpjCfcSzpSgWmPVll3OPJfnZfW54S0NDQCH6Ug=";
const parse = {
  endpoint: (t: string, f: string) => Endpoint.parse(t, f),
  publicKey: (t: string, f: string) => WireGuardKey.parse("public", t, f),
};

function spec(over: Partial<WireGuardInterfaceSpec> = {}): WireGuardInterfaceSpec {
  return {
    node: "lax1",
    interfaceName: "wg1",
    moveToContainer: true,
    container: { docker: { name: "agent1" } },
    addresses: [{ family: "inet6", local: "fe80::1771", peer: "FE80::000a:1771", prefixlen: 64 }],
    listenPort: 51021,
    peers: [{ publicKey: PUB1, allowedIPs: ["::/0", "0.0.0.0/0"] }],
    ...over,
  };
}

Deno.test("desiredState: reference lax1-wg1 → MTU 1420, canonical ptp address, sorted allowed IPs, port", () => {
  const d = desiredState(spec(), { privateKey: PRIV }, parse);
  assert.equal(d.name, "wg1");
  assert.equal(d.mtu, 1420);
  assert.deepEqual(d.addresses, [{ family: 6, local: "fe80::1771", peer: "fe80::a:1771", prefixlen: 64 }]);
  assert.equal(d.device.listenPort, 51021);
  assert.ok(d.device.privateKey?.equals(PRIV));
  assert.deepEqual(d.device.peers[0].allowedIps.map((p) => p.text), ["0.0.0.0/0", "::/0"]);
});

Deno.test("desiredState: table of values and errors", async (t) => {
  const cases: {
    name: string;
    over: Partial<WireGuardInterfaceSpec>;
    check?: (d: ReturnType<typeof desiredState>) => void;
    field?: string;
  }[] = [
    { name: "mtu 0 means 1420", over: { mtu: 0 }, check: (d) => assert.equal(d.mtu, 1420) },
    { name: "mtu kept", over: { mtu: 1380 }, check: (d) => assert.equal(d.mtu, 1380) },
    {
      name: "listenPort 0 not managed",
      over: { listenPort: 0 },
      check: (d) => assert.equal(d.device.listenPort, undefined),
    },
    {
      name: "IPv4 ptp (wgp1 lax1)",
      over: { addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }] },
      check: (d) => assert.deepEqual(d.addresses, [{ family: 4, local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }]),
    },
    {
      name: "plain address without peer",
      over: { addresses: [{ family: "inet", local: "10.4.0.1", prefixlen: 24 }] },
      check: (d) => assert.deepEqual(d.addresses, [{ family: 4, local: "10.4.0.1", prefixlen: 24 }]),
    },
    {
      name: "endpoint and keepalive",
      over: { peers: [{ publicKey: PUB1, endpoint: "192.168.65.3:51021", persistentKeepalive: 25 }] },
      check: (d) => {
        assert.equal(d.device.peers[0].endpoint?.text, "192.168.65.3:51021");
        assert.equal(d.device.peers[0].persistentKeepalive, 25);
      },
    },
    { name: "empty interfaceName", over: { interfaceName: "" }, field: "spec.interfaceName" },
    {
      name: "bad allowed IP",
      over: { peers: [{ publicKey: PUB1, allowedIPs: ["10.0.0.0/33"] }] },
      field: "spec.peers[0].allowedIPs[0]",
    },
    { name: "bad endpoint", over: { peers: [{ publicKey: PUB1, endpoint: "nope" }] }, field: "spec.peers[0].endpoint" },
    {
      name: "duplicate address",
      over: {
        addresses: [
          { family: "inet", local: "10.0.0.1", prefixlen: 24 },
          { family: "inet", local: "10.0.0.1", prefixlen: 24 },
        ],
      },
      field: "spec.addresses[1]",
    },
    {
      name: "address of wrong family",
      over: { addresses: [{ family: "inet", local: "fe80::1", prefixlen: 24 }] },
      field: "spec.addresses[0].local",
    },
    { name: "peer listed twice", over: { peers: [{ publicKey: PUB1 }, { publicKey: PUB1 }] }, field: "spec" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      if (c.field) {
        assert.throws(() => desiredState(spec(c.over), { privateKey: PRIV }, parse), (e) => {
          assert.ok(e instanceof WgSpecError, String(e));
          assert.equal(e.field, c.field);
          assert.ok(!e.message.includes(PRIV.toBase64()));
          return true;
        });
      } else c.check!(desiredState(spec(c.over), { privateKey: PRIV }, parse));
    });
  }
});

Deno.test("desiredState: preshared keys by peer index", () => {
  const psk = WireGuardKey.parse("preshared", new Uint8Array(32).fill(7));
  const d = desiredState(spec({ peers: [{ publicKey: PUB1 }, { publicKey: PUB2 }] }), {
    privateKey: PRIV,
    presharedKeys: [undefined, psk],
  }, parse);
  const byKey = new Map(d.device.peers.map((p) => [p.publicKey.toBase64(), p]));
  assert.equal(byKey.get(PUB1)!.presharedKey, undefined);
  assert.ok(byKey.get(PUB2)!.presharedKey!.equals(psk));
});

const A = (local: string, peer: string | null, prefixlen: number, family: 4 | 6 = 4) => ({
  family,
  local,
  peer,
  prefixlen,
});

Deno.test("planLink: table", async (t) => {
  const want = { mtu: 1420, addresses: [{ family: 4 as const, local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }] };
  const cases: { name: string; mtu: number; up: boolean; addrs: ReturnType<typeof A>[]; ops: LinkOp["op"][] }[] = [
    { name: "converged", mtu: 1420, up: true, addrs: [A("10.4.0.1", "10.4.0.2", 32)], ops: [] },
    { name: "fresh after a move", mtu: 1420, up: false, addrs: [], ops: ["add-address", "set-up"] },
    { name: "mtu drift", mtu: 1300, up: true, addrs: [A("10.4.0.1", "10.4.0.2", 32)], ops: ["set-mtu"] },
    {
      name: "foreign address removed, kernel link-local kept",
      mtu: 1420,
      up: true,
      addrs: [A("10.4.0.1", "10.4.0.2", 32), A("10.9.9.9", null, 24), A("fe80::1234:5678:9abc:def0", null, 64, 6)],
      ops: ["del-address"],
    },
    {
      name: "changed peer = remove old, add new",
      mtu: 1420,
      up: true,
      addrs: [A("10.4.0.1", "10.4.0.3", 32)],
      ops: ["del-address", "add-address"],
    },
    {
      name: "everything",
      mtu: 9000,
      up: false,
      addrs: [A("10.1.1.1", null, 8)],
      ops: ["set-mtu", "del-address", "add-address", "set-up"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(planLink(want, { mtu: c.mtu, up: c.up, addresses: c.addrs }).map((o) => o.op), c.ops);
    });
  }
});

Deno.test("planLink: a listed link-local ptp address is managed like any other", () => {
  const want = {
    mtu: 1420,
    addresses: [{ family: 6 as const, local: "fe80::1771", peer: "fe80::a:1771", prefixlen: 64 }],
  };
  assert.deepEqual(planLink(want, { mtu: 1420, up: true, addresses: [A("fe80::1771", "fe80::a:1771", 64, 6)] }), []);
  assert.equal(isKernelLinkLocal(A("fe80::1771", "fe80::a:1771", 64, 6), null), false);
  assert.equal(isKernelLinkLocal(A("fe80::1", null, 64, 6), null), true);
  assert.equal(isKernelLinkLocal(A("fd00::1", null, 64, 6), null), false);
});

Deno.test("status: Go net flags and a device without any secret", () => {
  assert.equal(goNetFlags(0x1 | 0x10 | 0x40 | 0x80), 1 | 8 | 32);
  const psk = WireGuardKey.parse("preshared", new Uint8Array(32).fill(9));
  const dev: DeviceState = {
    name: "wg1",
    privateKey: PRIV,
    publicKey: WireGuardKey.parse("public", PUB2),
    listenPort: 51021,
    fwmark: 0,
    peers: [{
      publicKey: WireGuardKey.parse("public", PUB1),
      presharedKey: psk,
      endpoint: Endpoint.parse("10.0.0.2:51022"),
      persistentKeepalive: 25,
      allowedIps: [IpPrefix.parse("0.0.0.0/0")],
      lastHandshake: new Date(1_700_000_000_123),
      rxBytes: 10n,
      txBytes: 20n,
      protocolVersion: 1,
    }],
  };
  const s = deviceStatus(dev, "wg1", "userspace")!;
  const text = JSON.stringify(s);
  assert.ok(!text.includes(PRIV.toBase64()));
  assert.ok(!text.includes(psk.toBase64()));
  assert.equal(s.public_key, PUB2);
  assert.equal(s.type, 2);
  assert.deepEqual(s.peers![0], {
    public_key: PUB1,
    has_preshared_key: true,
    endpoint: "10.0.0.2:51022",
    persistent_keepalive_seconds: 25,
    last_handshake_time: 1_700_000_000_123,
    receive_bytes: 10,
    transmit_bytes: 20,
    allowed_ips: ["0.0.0.0/0"],
    protocol_version: 1,
  });
});

Deno.test("withLearnedEndpoints: published endpoints fill peers without a spec endpoint, never override one", () => {
  const PUB3 = WireGuardKey.parse("public", new Uint8Array(32).fill(3)).toBase64();
  const d = desiredState(
    spec({
      peers: [
        { publicKey: PUB1, allowedIPs: ["10.0.0.1/32"] },
        { publicKey: PUB2, allowedIPs: ["10.0.0.2/32"], endpoint: "192.0.2.2:2" },
        { publicKey: PUB3, allowedIPs: ["10.0.0.3/32"] },
      ],
    }),
    { privateKey: PRIV },
    parse,
  );
  const learned = publishedEndpoints({
    wireguard: {
      name: "wg1",
      type: 2,
      listen_port: 1,
      firewall_mark: 0,
      peers: [
        { public_key: PUB1, endpoint: "[2001:db8::1]:51820", has_preshared_key: false, allowed_ips: [] },
        { public_key: PUB2, endpoint: "198.51.100.2:9", has_preshared_key: false, allowed_ips: [] },
        { public_key: PUB3, endpoint: "not an endpoint", has_preshared_key: false, allowed_ips: [] },
      ],
    },
  } as never);
  assert.deepEqual([...learned.keys()], [PUB1, PUB2], "unparsable entries are skipped");
  const byKey = (c: ReturnType<typeof withLearnedEndpoints>) =>
    Object.fromEntries(c.peers.map((p) => [p.publicKey.toBase64(), p.endpoint?.text]));
  assert.deepEqual(byKey(withLearnedEndpoints(d.device, learned)), {
    [PUB1]: "[2001:db8::1]:51820",
    [PUB2]: "192.0.2.2:2",
    [PUB3]: undefined,
  });
  assert.deepEqual(byKey(withLearnedEndpoints(d.device, new Map())), byKey(d.device), "nothing learned: unchanged");
  assert.equal(publishedEndpoints(undefined).size, 0);
});
