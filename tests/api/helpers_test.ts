import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  AddressError,
  formatLinkAddress,
  parseNetlinkAddress,
  parseWireGuardAddress,
} from "../../src/api/addresses.ts";
import {
  isWireGuardKey,
  KeyFormatError,
  resolveSecretRef,
  wireGuardKeyFromSecretData,
} from "../../src/api/secret_ref.ts";
import { placementOf, vethEnds, wireGuardMtu, wireGuardPlacement } from "../../src/api/placement.ts";
import { findCondition, isConditionTrue, setCondition } from "../../src/api/conditions.ts";
import type { NetlinkInterfaceSpec } from "../../src/api/netlink_interface.ts";

const KEY = "EJ/JMvFbDrjWJGQrbqsxImQBaJ6hvHc5Vh7nWxBzpXA=";

Deno.test("parseWireGuardAddress: point-to-point, plain, and family/prefix mistakes", () => {
  const table: [Parameters<typeof parseWireGuardAddress>[0], ReturnType<typeof parseWireGuardAddress> | string][] = [
    [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }, {
      family: 4,
      local: "10.4.0.1",
      peer: "10.4.0.2",
      prefixlen: 32,
    }],
    [{ family: "inet6", local: "fe80::1771", peer: "fe80::a:1771", prefixlen: 64 }, {
      family: 6,
      local: "fe80::1771",
      peer: "fe80::a:1771",
      prefixlen: 64,
    }],
    [{ family: "inet", local: "172.20.0.1", prefixlen: 24 }, { family: 4, local: "172.20.0.1", prefixlen: 24 }],
    [{ family: "inet", local: "fe80::1", prefixlen: 24 }, 'a.local: "fe80::1" is not an inet address'],
    [{ family: "inet6", local: "fe80::1", peer: "10.0.0.1", prefixlen: 64 }, 'a.peer: "10.0.0.1" is not an inet6'],
    [{ family: "inet", local: "10.0.0.1", prefixlen: 33 }, 'a.prefixlen: prefix length "33" is out of range'],
    [{ family: "inet", local: "10.0.0.300", prefixlen: 8 }, 'a.local: "10.0.0.300" is not an IP address'],
  ];
  for (const [input, want] of table) {
    if (typeof want === "string") {
      assert.throws(
        () => parseWireGuardAddress(input, "a"),
        (e) => e instanceof AddressError && e.message.startsWith(want),
      );
    } else {
      assert.deepEqual(parseWireGuardAddress(input, "a"), want);
    }
  }
});

Deno.test("parseNetlinkAddress: CIDR, local plus peer CIDR kept unmasked, and mistakes", () => {
  const table: [Parameters<typeof parseNetlinkAddress>[0], ReturnType<typeof parseNetlinkAddress> | string][] = [
    [{ ipcidr: "10.2.3.0/24" }, { family: 4, local: "10.2.3.0", prefixlen: 24 }],
    [{ ipcidr: "fe80::eeee:1/64" }, { family: 6, local: "fe80::eeee:1", prefixlen: 64 }],
    [{ ipcidr: "10.99.3.1", peerCidr: "10.99.4.1/32" }, {
      family: 4,
      local: "10.99.3.1",
      peer: "10.99.4.1",
      prefixlen: 32,
    }],
    // the reference masked the peer to 10.99.4.0/24 (its bug 31); the peer is kept as written
    [{ ipcidr: "10.99.3.1", peerCidr: "10.99.4.1/24" }, {
      family: 4,
      local: "10.99.3.1",
      peer: "10.99.4.1",
      prefixlen: 24,
    }],
    [{ ipcidr: "10.2.3.1" }, 'n.ipcidr: "10.2.3.1" has no prefix length'],
    [{ ipcidr: "10.2.3.1/24", peerCidr: "10.2.3.2/32" }, 'n.ipcidr: "10.2.3.1/24" is not an IP address'],
    [{ ipcidr: "10.2.3.1", peerCidr: "fd00::1/64" }, 'n.peerCidr: "fd00::1/64" is not of the family'],
    [{ ipcidr: "fd00::1/129" }, 'n.ipcidr: prefix length "129" is out of range for IPv6'],
    [{ ipcidr: "10.0.0.1/x" }, 'n.ipcidr: prefix length "x" is out of range'],
  ];
  for (const [input, want] of table) {
    if (typeof want === "string") {
      assert.throws(
        () => parseNetlinkAddress(input, "n"),
        (e) => e instanceof AddressError && e.message.startsWith(want),
      );
    } else {
      assert.deepEqual(parseNetlinkAddress(input, "n"), want);
    }
  }
});

Deno.test("formatLinkAddress: status text without the reference's doubled prefix", () => {
  assert.equal(
    formatLinkAddress({ family: 4, local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }),
    "10.4.0.1 -> 10.4.0.2/32",
  );
  assert.equal(formatLinkAddress({ family: 6, local: "fe80::1", prefixlen: 64 }), "fe80::1/64");
});

Deno.test("resolveSecretRef: defaults to the object's namespace and refuses any other", () => {
  assert.deepEqual(resolveSecretRef({ name: "wg1", key: "privatekey" }, "team-a", "spec.privateKeySecretRef"), {
    allowed: true,
    namespace: "team-a",
    name: "wg1",
    key: "privatekey",
  });
  assert.deepEqual(resolveSecretRef({ name: "wg1", key: "k", namespace: "default" }, "default", "f"), {
    allowed: true,
    namespace: "default",
    name: "wg1",
    key: "k",
  });
  const refused = resolveSecretRef(
    { name: "wg1", key: "k", namespace: "kube-system" },
    "team-a",
    "spec.peers[0].presharedKeySecretRef",
  );
  assert.equal(refused.allowed, false);
  assert.ok(!refused.allowed && refused.reason === "SecretNamespaceForbidden");
  assert.ok(
    !refused.allowed && refused.message.startsWith('spec.peers[0].presharedKeySecretRef.namespace is "kube-system"'),
  );
});

Deno.test("wireGuardKeyFromSecretData: raw 32 bytes (data:) and base64 text (stringData:), never echoing keys", () => {
  const raw = Buffer.from(KEY, "base64");
  assert.equal(raw.length, 32);
  assert.equal(wireGuardKeyFromSecretData(new Uint8Array(raw), "f"), KEY);
  assert.equal(wireGuardKeyFromSecretData(new TextEncoder().encode(KEY), "f"), KEY);
  assert.equal(wireGuardKeyFromSecretData(new TextEncoder().encode(` ${KEY}\n`), "f"), KEY);
  for (
    const bad of [
      new Uint8Array(0),
      new Uint8Array(31),
      new TextEncoder().encode(KEY.slice(0, 43)),
      new TextEncoder().encode(`${KEY}x`),
    ]
  ) {
    assert.throws(
      () => wireGuardKeyFromSecretData(bad, "spec.privateKeySecretRef"),
      (e) =>
        e instanceof KeyFormatError && e.field === "spec.privateKeySecretRef" && !e.message.includes(KEY.slice(0, 20)),
    );
  }
  assert.ok(isWireGuardKey(KEY));
  assert.ok(!isWireGuardKey(KEY.replace(/A=$/, "B=")), "the last character must encode 4 zero bits");
});

Deno.test("placementOf / wireGuardPlacement: docker wins, a pod of the object's namespace, netns, host by default", () => {
  assert.deepEqual(placementOf(undefined, "t"), { kind: "host" });
  assert.deepEqual(placementOf({}, "t"), { kind: "host" });
  assert.deepEqual(placementOf({ docker: { name: "agent1" }, netns: { pid: 4 } }, "t"), {
    kind: "docker",
    name: "agent1",
  });
  assert.deepEqual(placementOf({ netns: { pid: 42 } }, "t"), { kind: "pid", pid: 42 });
  assert.deepEqual(placementOf({ pod: { name: "web-0" } }, "team-a"), {
    kind: "pod",
    namespace: "team-a",
    name: "web-0",
  });
  assert.deepEqual(placementOf({ netns: { name: "blue" } }, "t"), { kind: "netns-name", name: "blue" });
  assert.deepEqual(placementOf({ netns: { path: "/run/netns/x" } }, "t"), { kind: "netns-path", path: "/run/netns/x" });
  const container = { docker: { name: "agent1" } };
  assert.deepEqual(wireGuardPlacement({ moveToContainer: true, container }, "t"), { kind: "docker", name: "agent1" });
  assert.deepEqual(wireGuardPlacement({ moveToContainer: false, container }, "t"), { kind: "host" });
  assert.deepEqual(wireGuardPlacement({ container }, "t"), { kind: "host" });
  assert.equal(wireGuardMtu({}), 1420);
  assert.equal(wireGuardMtu({ mtu: 0 }), 1420);
  assert.equal(wireGuardMtu({ mtu: 1280 }), 1280);
});

Deno.test("vethEnds: reference naming and override rules", () => {
  const base: NetlinkInterfaceSpec = {
    node: "lax1",
    interfaceName: "veth1-a",
    type: "veth",
    addresses: [{ ipcidr: "fe80::eeee:1/64" }],
    container: { docker: { name: "agent1" } },
  };
  assert.deepEqual(vethEnds(base, "t"), {
    local: { interfaceName: "veth1-a", placement: { kind: "docker", name: "agent1" }, addresses: base.addresses },
    peer: { interfaceName: "veth1-a-peer", placement: { kind: "docker", name: "agent1" }, addresses: [] },
  });
  const overridden = vethEnds({
    ...base,
    veth: {
      local: { interfaceName: "l", container: { netns: { name: "blue" } }, addresses: [] },
      peer: { interfaceName: "p", container: { pod: { name: "router-0" } }, addresses: [{ ipcidr: "10.0.0.1/31" }] },
    },
  }, "team-a");
  assert.deepEqual(overridden, {
    local: { interfaceName: "l", placement: { kind: "netns-name", name: "blue" }, addresses: [] },
    peer: {
      interfaceName: "p",
      placement: { kind: "pod", namespace: "team-a", name: "router-0" },
      addresses: [{ ipcidr: "10.0.0.1/31" }],
    },
  });
});

Deno.test("setCondition: lastTransitionTime changes only with status; other conditions kept", () => {
  const t1 = new Date("2026-01-01T00:00:00.123Z");
  const t2 = new Date("2026-01-02T00:00:00Z");
  let list = setCondition(undefined, { type: "Ready", status: "False", reason: "Pending", message: "waiting" }, t1);
  assert.deepEqual(list, [{
    type: "Ready",
    status: "False",
    reason: "Pending",
    message: "waiting",
    lastTransitionTime: "2026-01-01T00:00:00Z",
  }]);
  list = setCondition(list, { type: "Degraded", status: "False", reason: "Reconciled", message: "" }, t1);
  list = setCondition(list, { type: "Ready", status: "False", reason: "SecretNotFound", message: "no secret" }, t2);
  assert.equal(findCondition(list, "Ready")?.lastTransitionTime, "2026-01-01T00:00:00Z");
  assert.equal(findCondition(list, "Ready")?.reason, "SecretNotFound");
  list = setCondition(
    list,
    { type: "Ready", status: "True", reason: "Reconciled", message: "", observedGeneration: 3 },
    t2,
  );
  assert.equal(findCondition(list, "Ready")?.lastTransitionTime, "2026-01-02T00:00:00Z");
  assert.equal(findCondition(list, "Ready")?.observedGeneration, 3);
  assert.deepEqual(list.map((c) => c.type), ["Ready", "Degraded"]);
  assert.ok(isConditionTrue(list, "Ready"));
  assert.ok(!isConditionTrue(list, "Degraded"));
  assert.ok(!isConditionTrue(list, "Progressing"));
});
