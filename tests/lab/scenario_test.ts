/** Pure parts of the lab: example rendering under other names, ping parsing, address formatting, pipe addresses. */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { parsePipeAddress } from "../../lab/apipipe.ts";
import { formatAddress, formatTable, pingArgs, replySources } from "../../lab/checks.ts";
import { isExampleNames, LAB_EXAMPLES, LAB_NAMES, renderExample } from "../../lab/scenario.ts";

const NAMES = {
  namespace: "dn42op-e2e-x",
  containers: { agent1: "dn42op-e2e-1-agent1", agent2: "dn42op-e2e-1-agent2" },
};
const ROOT = new URL("../../", import.meta.url).pathname;
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);

Deno.test("renderExample: namespace everywhere (also where the example has none), secret refs, container names", async () => {
  const vxlan = docs(renderExample(await Deno.readTextFile(`${ROOT}example/nl/vxlan.yaml`), NAMES));
  assert.deepEqual(vxlan.map((o) => o.metadata.namespace), [NAMES.namespace, NAMES.namespace]);
  assert.deepEqual(vxlan.map((o) => o.spec.container.docker.name), [NAMES.containers.agent1, NAMES.containers.agent2]);
  assert.deepEqual(vxlan.map((o) => o.spec.vxlan.dev), ["wg-lax1-lax2-0", "wg-lax2-lax1-0"], "nothing else changes");

  const wg1 = docs(renderExample(await Deno.readTextFile(`${ROOT}example/wgi/lax1-wg1.yaml`), NAMES));
  assert.equal(wg1[0].kind, "Secret");
  assert.equal(wg1[0].metadata.namespace, NAMES.namespace);
  assert.equal(wg1[1].spec.privateKeySecretRef.namespace, NAMES.namespace);
  assert.equal(wg1[1].spec.container.docker.name, NAMES.containers.agent1);

  const veth = docs(renderExample(await Deno.readTextFile(`${ROOT}example/nl/veth.yaml`), NAMES))[0];
  assert.equal(veth.spec.container.docker.name, NAMES.containers.agent1);
  assert.equal(veth.spec.veth.peer.container.docker.name, NAMES.containers.agent2, "nested placements too");
});

Deno.test("renderExample: netns placement replaces every docker block by the named namespace, nothing else", async () => {
  const names = { ...NAMES, placement: "netns" as const };
  const veth = docs(renderExample(await Deno.readTextFile(`${ROOT}example/nl/veth.yaml`), names))[0];
  assert.deepEqual(veth.spec.container, { netns: { name: NAMES.containers.agent1 } });
  assert.deepEqual(veth.spec.veth.peer.container, { netns: { name: NAMES.containers.agent2 } });
  const plan = docs(renderExample(await Deno.readTextFile(`${ROOT}example/wgp/wgp1.yaml`), names))[0];
  assert.deepEqual(plan.spec.nodes.map((n: { container: unknown }) => n.container), [
    { netns: { name: NAMES.containers.agent1 } },
    { netns: { name: NAMES.containers.agent2 } },
  ]);
  assert.equal(plan.spec.nodes[0].underlay.hostname, "192.168.65.3", "nothing else changes");
  assert.ok(!isExampleNames({ ...LAB_NAMES, placement: "netns" }), "the examples' own names, other placement");
});

Deno.test("renderExample: with the examples' own names every example renders to the same objects", async () => {
  assert.ok(isExampleNames(LAB_NAMES));
  assert.ok(!isExampleNames(NAMES));
  for (const f of LAB_EXAMPLES) {
    const text = await Deno.readTextFile(`${ROOT}${f}`);
    const want = docs(text).map((o) => ({ ...o, metadata: { namespace: "default", ...o.metadata } }));
    assert.deepEqual(docs(renderExample(text, LAB_NAMES)), want, f);
  }
});

Deno.test("replySources: distinct echo-reply sources, scope suffix removed, DUP lines counted once", () => {
  const out = [
    "PING ff02::1%veth1-a(ff02::1%veth1-a) 56 data bytes",
    "64 bytes from fe80::eeee:1%veth1-a: icmp_seq=1 ttl=64 time=0.040 ms",
    "64 bytes from fe80::eeee:2%veth1-a: icmp_seq=1 ttl=64 time=0.090 ms (DUP!)",
    "64 bytes from fe80::eeee:1%veth1-a: icmp_seq=2 ttl=64 time=0.040 ms",
  ].join("\n");
  assert.deepEqual(replySources(out), ["fe80::eeee:1", "fe80::eeee:2"]);
  assert.deepEqual(replySources("64 bytes from 10.4.0.2: icmp_seq=1 ttl=64 time=1.2 ms"), ["10.4.0.2"]);
  assert.deepEqual(replySources("From 10.4.0.1 icmp_seq=1 Destination Host Unreachable"), []);
});

Deno.test("formatAddress: point-to-point as the README prints it, plain otherwise", () => {
  const table: [Parameters<typeof formatAddress>[0], string][] = [
    [{ family: "inet", local: "10.4.0.1", address: "10.4.0.2", prefixlen: 32 }, "10.4.0.1 peer 10.4.0.2/32"],
    [
      { family: "inet6", local: "fe80::1771", address: "fe80::a:1771", prefixlen: 64 },
      "fe80::1771 peer fe80::a:1771/64",
    ],
    [{ family: "inet6", local: "fe80::eeee:1", prefixlen: 64 }, "fe80::eeee:1/64"],
    [{ family: "inet", local: "10.2.4.0", address: "10.2.4.0", prefixlen: 24 }, "10.2.4.0/24"],
  ];
  for (const [a, want] of table) assert.equal(formatAddress(a), want);
});

Deno.test("formatTable: a header and aligned columns", () => {
  const t = formatTable([{ check: "a", expected: "x", observed: "yy", status: "ok" }]).split("\n");
  assert.deepEqual(t, ["check  expected  observed  ok", "a      x         yy        ok"]);
});

Deno.test("parsePipeAddress: tcp and unix forms; anything else names the bad address", () => {
  assert.deepEqual(parsePipeAddress("tcp:127.0.0.1:6443"), { transport: "tcp", hostname: "127.0.0.1", port: 6443 });
  assert.deepEqual(parsePipeAddress("unix:/run/x/api.sock"), { transport: "unix", path: "/run/x/api.sock" });
  for (const bad of ["tcp:127.0.0.1", "tcp:h:0", "tcp:h:70000", "unix:relative.sock", "http://x"]) {
    assert.throws(() => parsePipeAddress(bad), (e: Error) => e instanceof TypeError && e.message.includes(bad));
  }
});

Deno.test("pingArgs: multicast pings last the whole deadline (the local reply must not end them); unicast counts", () => {
  const cases: [string, number, string[]][] = [
    ["ff02::1%vxlan1", 1, ["-i", "0.2", "-w", "2"]],
    ["ff02::1%veth1-a", 3, ["-i", "0.2", "-w", "2"]],
    ["10.4.0.2", 1, ["-c", "1", "-W", "1"]],
    ["fe80::a:1771%wg1", 3, ["-c", "3", "-i", "0.2", "-w", "2"]],
  ];
  for (const [target, count, want] of cases) assert.deepEqual(pingArgs(target, count), want, target);
});
