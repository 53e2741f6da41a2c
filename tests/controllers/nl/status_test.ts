import assert from "node:assert/strict";
import { addressText, buildStatus, flagNames, problemsShown } from "../../../src/controllers/nl/status.ts";
import { containerKeys } from "../../../src/controllers/nl/containers.ts";
import type { Link } from "../../../src/netlink/mod.ts";
import type { ObservedEnd } from "../../../src/node/netlink/observe.ts";
import type { NsTarget } from "../../../src/node/placement.ts";

const target = { id: "1:2", isHost: false, label: "x" } as unknown as NsTarget;
const link: Link = {
  index: 7,
  name: "br0",
  kind: "bridge",
  mtu: 1420,
  flags: 0x1 | 0x2 | 0x40 | 0x1000,
  up: true,
  operstate: "up",
  master: null,
  group: 0xd42,
  alias: "dn42op:nl:default/br",
  mac: "02:00:00:00:00:01",
  link: null,
  linkNetnsId: null,
};
const end = (over: Partial<ObservedEnd> = {}): ObservedEnd => ({
  target,
  name: "br0",
  link,
  addresses: [
    {
      index: 7,
      family: 4,
      local: "10.100.3.1",
      peer: "10.100.4.1",
      prefixlen: 32,
      flags: [],
      scope: "universe",
      label: null,
      proto: null,
    },
    {
      index: 7,
      family: 4,
      local: "10.2.4.0",
      peer: null,
      prefixlen: 24,
      flags: [],
      scope: "universe",
      label: null,
      proto: null,
    },
  ],
  slaves: ["v1", "v2"],
  ...over,
});
const now = new Date("2026-11-25T16:00:00Z");

Deno.test("flag names keep the reference order; address texts", () => {
  assert.deepEqual(flagNames(0x1 | 0x8 | 0x10 | 0x40 | 0x1000 | 0x2), [
    "UP",
    "BROADCAST",
    "POINTOPOINT",
    "MULTICAST",
    "RUNNING",
    "LOOPBACK",
  ]);
  assert.deepEqual(flagNames(0x1000 | 0x1), ["UP", "MULTICAST"]);
  assert.equal(addressText(end().addresses[0]), "10.100.3.1 -> 10.100.4.1/32");
  assert.equal(addressText(end().addresses[1]), "10.2.4.0/24");
});

Deno.test("status: converged → observedGeneration and Ready=True; problem → previous generation, Degraded", () => {
  const ok = buildStatus({
    previous: undefined,
    generation: 3,
    nodename: "lax1",
    hostname: "h",
    ends: [end()],
    problems: [],
    now,
  });
  assert.equal(ok.observedGeneration, 3);
  assert.equal(ok.mtu, 1420);
  assert.deepEqual(ok.flags, ["UP", "BROADCAST", "MULTICAST", "RUNNING"]);
  assert.deepEqual(ok.bridge, { enslavedLinks: ["v1", "v2"] });
  assert.equal(ok.netlink?.flags, 1 | 2 | 16 | 32);
  assert.deepEqual(ok.conditions?.map((c) => [c.type, c.status]), [["Ready", "True"], ["Progressing", "False"], [
    "Degraded",
    "False",
  ]]);
  const bad = buildStatus({
    previous: ok,
    generation: 4,
    nodename: "lax1",
    hostname: "h",
    ends: [end()],
    problems: [{ reason: "DependencyNotFound", message: "bridge slave v3 not found" }],
    now: new Date(now.getTime() + 1000),
  });
  assert.equal(bad.observedGeneration, 3, "not advanced while not converged");
  const ready = bad.conditions!.find((c) => c.type === "Ready")!;
  assert.deepEqual([ready.status, ready.reason], ["False", "DependencyNotFound"]);
  assert.equal(bad.conditions!.find((c) => c.type === "Degraded")!.message, "bridge slave v3 not found");
  const same = buildStatus({
    previous: ok,
    generation: 3,
    nodename: "lax1",
    hostname: "h",
    ends: [end()],
    problems: [],
    now: new Date(now.getTime() + 5000),
  });
  assert.deepEqual(same, ok, "unchanged facts give an identical status (no write)");
  const missing = buildStatus({
    previous: undefined,
    generation: 1,
    nodename: "n",
    hostname: "h",
    ends: [end({ link: null, addresses: [] })],
    problems: [],
    now,
  });
  assert.equal(missing.observedGeneration, undefined);
});

Deno.test("veth peer status; container names of a spec", () => {
  const s = buildStatus({
    previous: undefined,
    generation: 1,
    nodename: "n",
    hostname: "h",
    ends: [end({ slaves: [], link: { ...link, kind: "veth" } }), end({ name: "veth1-b", slaves: [] })],
    problems: [],
    now,
  });
  assert.equal(s.veth?.peer?.interfaceName, "veth1-b");
  assert.equal(s.bridge, undefined);
  assert.deepEqual(
    containerKeys({
      node: "n",
      interfaceName: "a",
      type: "veth",
      up: true,
      container: { docker: { name: "agent1" } },
      veth: {
        peer: { container: { pod: { name: "web-0" } } },
        local: { container: { docker: { name: "agent1" } } },
      },
    }, "team-a"),
    ["docker:agent1", "pod:team-a/web-0"],
  );
  assert.deepEqual(
    containerKeys({ node: "n", interfaceName: "b", type: "bridge", container: { netns: { name: "x" } } }, "t"),
    [],
  );
});

Deno.test("problemsShown: true only when the Degraded condition already reports exactly these problems", () => {
  const unsupported = { reason: "KindUnsupported" as const, message: 'spec.type "dummy": EOPNOTSUPP' };
  const other = { reason: "DependencyNotFound" as const, message: "link p0 not found" };
  const base = { previous: undefined, generation: 1, nodename: "n", hostname: "h", now };
  const degraded = buildStatus({ ...base, ends: [end({ link: null })], problems: [unsupported] });
  const ready = buildStatus({ ...base, ends: [end()], problems: [] });
  assert.equal(problemsShown(degraded, [unsupported]), true);
  assert.equal(problemsShown(degraded, [other]), false, "another reason");
  assert.equal(problemsShown(degraded, [{ ...unsupported, message: "other text" }]), false, "another message");
  assert.equal(problemsShown(degraded, [unsupported, other]), false, "one more problem");
  assert.equal(problemsShown(ready, [unsupported]), false, "not degraded");
  assert.equal(problemsShown(undefined, [unsupported]), false, "no status yet");
  assert.equal(problemsShown(degraded, []), false, "no problems");
  const ready2 = degraded.conditions!.find((c) => c.type === "Ready")!;
  assert.deepEqual([ready2.status, ready2.reason], ["False", "KindUnsupported"]);
});
