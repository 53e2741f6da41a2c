import assert from "node:assert/strict";
import { type AllowedIpRemoval, diffDevice } from "../../src/wireguard/diff.ts";
import { InvalidConfigError } from "../../src/wireguard/errors.ts";
import { WireGuardKey } from "../../src/wireguard/key.ts";
import type { DeviceConfig, DeviceState, DeviceUpdate } from "../../src/wireguard/model.ts";
import { describeUpdate } from "../../src/wireguard/client.ts";
import { device, ep, ips, key, livePeer, peer } from "./fixtures.ts";

const DUMMY = key(0xdd);

/** Renders updates as plain data (keys as base64 or kind, prefixes as text) for readable table expectations. */
function plain(updates: DeviceUpdate[]): unknown {
  return JSON.parse(JSON.stringify(updates));
}

interface Case {
  name: string;
  desired: DeviceConfig;
  actual: DeviceState;
  removal?: AllowedIpRemoval;
  want: unknown;
}

const K = (n: number) => key(n).toBase64();

const cases: Case[] = [
  {
    name: "identical state: no request",
    desired: { listenPort: 51820, peers: [peer(1, ["10.0.0.1/32"]), peer(2, ["10.0.0.2/32", "fd00::2/128"])] },
    actual: device([livePeer(2, ["fd00::2/128", "10.0.0.2/32"]), livePeer(1, ["10.0.0.1/32"])]),
    want: [],
  },
  {
    name: "canonical comparison: host bits, order, duplicates, zero psk, keepalive 0",
    desired: {
      peers: [
        peer(1, ["10.0.0.7/24", "10.0.0.0/24", "fd00::1/64"], {
          presharedKey: WireGuardKey.zero("preshared"),
          persistentKeepalive: 0,
        }),
      ],
    },
    actual: device([livePeer(1, ["fd00::/64", "10.0.0.0/24"])]),
    want: [],
  },
  {
    name: "kernel-learned endpoint is not drift when the spec gives none",
    desired: { peers: [peer(1, ["10.0.0.1/32"])] },
    actual: device([livePeer(1, ["10.0.0.1/32"], { endpoint: ep("192.0.2.1:4444") })]),
    want: [],
  },
  {
    name: "endpoint given and different is set",
    desired: { peers: [peer(1, ["10.0.0.1/32"], { endpoint: ep("192.0.2.9:51820") })] },
    actual: device([livePeer(1, ["10.0.0.1/32"], { endpoint: ep("192.0.2.1:4444") })]),
    want: [{ peers: [{ publicKey: K(1), endpoint: "192.0.2.9:51820" }] }],
  },
  {
    name: "unmanaged device fields are left alone; listen port 0 means any",
    desired: { listenPort: 0, peers: [] },
    actual: device([], { listenPort: 40000, fwmark: 7 }),
    want: [],
  },
  {
    name: "device fields: private key, port, fwmark",
    desired: { privateKey: key(9, "private"), listenPort: 51821, fwmark: 0, peers: [] },
    actual: device([], { privateKey: key(8, "private"), fwmark: 5 }),
    want: [{ privateKey: "(private key)", listenPort: 51821, fwmark: 0, peers: [] }],
  },
  {
    name: "same private key (given unclamped) is not drift",
    desired: { privateKey: WireGuardKey.fromBytes("private", new Uint8Array(32).fill(0xff)), peers: [] },
    actual: device([], { privateKey: WireGuardKey.fromHex("private", "f8" + "ff".repeat(30) + "7f") }),
    want: [],
  },
  {
    name: "add, remove and keep peers in one request, sorted by key; never replace peers",
    desired: { peers: [peer(3, ["10.0.0.3/32"], { persistentKeepalive: 25 }), peer(1, ["10.0.0.1/32"])] },
    actual: device([livePeer(1, ["10.0.0.1/32"]), livePeer(2, ["10.0.0.2/32"])]),
    want: [{
      peers: [
        { publicKey: K(2), remove: true },
        { publicKey: K(3), persistentKeepalive: 25, allowedIps: ["10.0.0.3/32"] },
      ],
    }],
  },
  {
    name: "psk added, changed to none, keepalive turned off",
    desired: { peers: [peer(1, [], { presharedKey: key(5, "preshared") }), peer(2, [])] },
    actual: device([
      livePeer(1, []),
      livePeer(2, [], { presharedKey: key(6, "preshared"), persistentKeepalive: 25 }),
    ]),
    want: [{
      peers: [
        { publicKey: K(1), presharedKey: "(preshared key)" },
        { publicKey: K(2), presharedKey: "(preshared key)", persistentKeepalive: 0 },
      ],
    }],
  },
  {
    name: "allowed IP added only",
    desired: { peers: [peer(1, ["10.0.0.1/32", "10.1.0.0/16"])] },
    actual: device([livePeer(1, ["10.0.0.1/32"])]),
    want: [{ peers: [{ publicKey: K(1), allowedIps: ["10.1.0.0/16"] }] }],
  },
  {
    name: "allowed IP removed with REMOVE_ME where supported",
    removal: "remove-me",
    desired: { peers: [peer(1, ["10.0.0.1/32"])] },
    actual: device([livePeer(1, ["10.0.0.1/32", "10.9.0.0/16", "fd00::/8"])]),
    want: [{ peers: [{ publicKey: K(1), removeAllowedIps: ["10.9.0.0/16", "fd00::/8"] }] }],
  },
  {
    name: "allowed IP removed through a dummy peer, then the dummy is removed",
    removal: "dummy-peer",
    desired: { peers: [peer(1, ["10.0.0.1/32"]), peer(2, ["10.0.0.2/32"])] },
    actual: device([livePeer(1, ["10.0.0.1/32", "10.9.0.0/16"]), livePeer(2, ["10.0.0.2/32", "10.8.0.0/16"])]),
    want: [
      { peers: [{ publicKey: DUMMY.toBase64(), allowedIps: ["10.8.0.0/16", "10.9.0.0/16"] }] },
      { peers: [{ publicKey: DUMMY.toBase64(), remove: true }] },
    ],
  },
  {
    name: "a prefix moving to another peer is only added there (no removal, no dummy)",
    removal: "dummy-peer",
    desired: { peers: [peer(1, ["10.0.0.1/32"]), peer(2, ["10.0.0.2/32", "10.5.0.0/16"])] },
    actual: device([livePeer(1, ["10.0.0.1/32", "10.5.0.0/16"]), livePeer(2, ["10.0.0.2/32"])]),
    want: [{ peers: [{ publicKey: K(2), allowedIps: ["10.5.0.0/16"] }] }],
  },
  {
    name: "a leftover dummy peer from an interrupted apply is removed",
    desired: { peers: [peer(1, ["10.0.0.1/32"])] },
    actual: device([livePeer(1, ["10.0.0.1/32"]), livePeer(0xdd, ["10.9.0.0/16"])]),
    removal: "remove-me",
    want: [{ peers: [{ publicKey: DUMMY.toBase64(), remove: true }] }],
  },
];

for (const c of cases) {
  Deno.test(`diff: ${c.name}`, () => {
    const got = diffDevice(c.desired, c.actual, { allowedIpRemoval: c.removal ?? "remove-me", dummyPeerKey: DUMMY });
    assert.deepEqual(plain(got), c.want);
    assert.ok(got.every((u) => !u.replacePeers));
  });
}

Deno.test("diff: applying the diff to a model of the device reaches the desired state (shuffled, 200 rounds)", () => {
  // Model of the kernel semantics: a prefix belongs to one peer; REMOVE_ME on a prefix only if that peer owns it.
  const apply = (state: Map<string, Set<string>>, updates: DeviceUpdate[]) => {
    for (const u of updates) {
      for (const p of u.peers) {
        const k = p.publicKey.toBase64();
        if (p.remove) {
          state.delete(k);
          continue;
        }
        if (!state.has(k)) state.set(k, new Set());
        for (const ip of p.removeAllowedIps ?? []) state.get(k)!.delete(ip.text);
        for (const ip of p.allowedIps ?? []) {
          for (const set of state.values()) set.delete(ip.text);
          state.get(k)!.add(ip.text);
        }
      }
    }
  };
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const pool = Array.from({ length: 12 }, (_, i) => `10.${i}.0.0/16`);
  for (const removal of ["remove-me", "dummy-peer"] as const) {
    for (let round = 0; round < 100; round++) {
      const pick = () => {
        const owner = new Map<number, string[]>();
        for (const p of pool) if (rnd(3) > 0) owner.set(1 + rnd(5), [...(owner.get(1 + rnd(5)) ?? []), p]);
        return owner;
      };
      const dedupe = (m: Map<number, string[]>) => {
        const seen = new Set<string>();
        return [...m].map(([n, list]) => [n, list.filter((p) => !seen.has(p) && seen.add(p))] as const);
      };
      const want = dedupe(pick());
      const have = dedupe(pick());
      const actual = device(have.map(([n, list]) => livePeer(n, list)));
      const desired: DeviceConfig = { peers: want.map(([n, list]) => peer(n, list)) };
      const updates = diffDevice(desired, actual, { allowedIpRemoval: removal, dummyPeerKey: DUMMY });
      const state = new Map(have.map(([n, list]) => [K(n), new Set(list)]));
      apply(state, updates);
      const expect = new Map(want.map(([n, list]) => [K(n), new Set(list)]));
      assert.deepEqual(state, expect, `${removal} round ${round}`);
      const again = device(
        [...state].map(([k, set]) => ({ ...livePeer(0, [...set]), publicKey: WireGuardKey.parse("public", k) })),
      );
      assert.deepEqual(diffDevice(desired, again, { allowedIpRemoval: removal, dummyPeerKey: DUMMY }), []);
    }
  }
});

Deno.test("diff: invalid desired state is a typed error naming the field", () => {
  const actual = device([], { publicKey: key(4) });
  const bad: [DeviceConfig, RegExp][] = [
    [{ peers: [peer(1, ["10.0.0.1/32"]), peer(2, ["10.0.0.1/32"])] }, /^peers\[1\]\.allowedIps: /],
    [
      {
        peers: [
          peer(1, ["10.0.0.2/32"]),
          peer(2, ["10.0.0.1/32"]),
          peer(3, ["10.0.0.2/32", "10.0.0.1/32"]),
          peer(5, ["10.0.0.2/32"]),
        ],
      },
      /^peers\[2\]\.allowedIps: 10\.0\.0\.1\/32 is also an allowed IP of peer AgICAgIC/,
    ],
    [{ peers: [peer(1, []), peer(1, [])] }, /^peers: .* listed twice/],
    [{ peers: [peer(4, [])] }, /^peers: .*own public key/],
    [{ listenPort: 70000, peers: [] }, /^listenPort: /],
    [{ fwmark: -1, peers: [] }, /^fwmark: /],
    [{ peers: [peer(1, [], { persistentKeepalive: 1.5 })] }, /^peers\[0\]\.persistentKeepalive: /],
    [{ privateKey: key(1), peers: [] }, /^privateKey: /],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(() => diffDevice(cfg, actual, { allowedIpRemoval: "remove-me" }), (e: unknown) => {
      assert.ok(e instanceof InvalidConfigError, String(e));
      assert.match(e.message, re);
      return true;
    });
  }
  assert.throws(
    () =>
      diffDevice({ peers: [peer(1, [])] }, device([livePeer(1, ["10.0.0.0/8"])]), { allowedIpRemoval: "dummy-peer" }),
    /dummyPeerKey/,
  );
});

Deno.test("describeUpdate is log-safe", () => {
  const text = describeUpdate({
    privateKey: key(3, "private"),
    peers: [{ publicKey: key(1), presharedKey: key(2, "preshared"), allowedIps: ips("10.0.0.0/8") }],
  });
  assert.ok(!text.includes(key(3, "private").toBase64()));
  assert.ok(!text.includes(key(2, "preshared").toBase64()));
  assert.equal(text, `set private key; peer ${K(1)} (set psk, +1 allowed IPs)`);
});
