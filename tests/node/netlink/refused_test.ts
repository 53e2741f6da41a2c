/**
 * Link creations the kernel refuses become problems of the pass (typed reason, message naming the field and the
 * kernel's answer) instead of exceptions: a kind the kernel lacks (dummy/vlan on this host) and an invalid request.
 */
import assert from "node:assert/strict";
import { missing, skipUnless } from "../../helpers/caps.ts";
import { type TestNetns, withNetns } from "../../../kit/netns.ts";
import type { NetlinkInterfaceSpec } from "../../../src/api/netlink_interface.ts";
import { Errno, NetlinkError } from "../../../src/netlink/mod.ts";
import { applyInterface, creationProblem } from "../../../src/node/netlink/apply.ts";
import { desiredInterface } from "../../../src/node/netlink/desired.ts";
import { NamespaceResolver } from "../../../src/node/placement.ts";

const netns = (n: TestNetns) => ({ netns: { name: n.name } });

async function pass(spec: NetlinkInterfaceSpec) {
  const r = new NamespaceResolver();
  try {
    const want = desiredInterface(spec, "t");
    const targets = await Promise.all(want.ends.map((e) => r.resolve(e.placement)));
    return await applyInterface(want, targets, {
      key: "default/k",
      agent: { kind: "nl", node: "n", namespace: "default" },
      dryRun: false,
    });
  } finally {
    await r.close();
  }
}

Deno.test("creationProblem: EOPNOTSUPP is KindUnsupported naming spec.type; other errnos are KernelError", () => {
  const unsupported = creationProblem(
    "dummy",
    "netns x",
    new NetlinkError({ op: "link add d0 (dummy)", errno: Errno.EOPNOTSUPP }),
  );
  assert.equal(unsupported.reason, "KindUnsupported");
  assert.match(unsupported.message, /^spec\.type "dummy": .*netns x.*link add d0 \(dummy\): EOPNOTSUPP/);
  const invalid = creationProblem(
    "macvlan",
    "netns x",
    new NetlinkError({ op: "link add m0 (macvlan)", errno: Errno.EINVAL, extAck: "bad parent" }),
  );
  assert.equal(invalid.reason, "KernelError");
  assert.match(invalid.message, /link add m0 \(macvlan\): EINVAL: bad parent/);
});

for (const kind of ["dummy", "vlan"] as const) {
  Deno.test({
    name: `${kind}, which this kernel lacks: a KindUnsupported problem, no exception, no link`,
    // runs where the kernel lacks the kind (this host); the kernel tier has it and tests creation instead
    ignore: skipUnless("root") || missing(`${kind}-kernel`) === null,
    fn: () =>
      withNetns(async (a) => {
        await a.ip("link", "add", "p0", "type", "veth", "peer", "name", "p1");
        const spec: NetlinkInterfaceSpec = {
          node: "n",
          interfaceName: `x-${kind}`,
          type: kind,
          ...(kind === "vlan" ? { vlan: { link: "p0", id: 7 } } : { dummy: {} }),
          container: netns(a),
        };
        const res = await pass(spec);
        assert.equal(res.problems.length, 1);
        assert.equal(res.problems[0].reason, "KindUnsupported");
        assert.match(res.problems[0].message, new RegExp(`^spec\\.type "${kind}": .*EOPNOTSUPP`));
        assert.equal(res.ends[0].link, null);
        assert.doesNotMatch(await a.ip("-br", "link"), new RegExp(`x-${kind}`));
      }, { tag: "nk" }),
  });
}

Deno.test({
  name: "macvlan on the loopback: the kernel's EINVAL is a KernelError problem naming the operation",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (a) => {
      const res = await pass({
        node: "n",
        interfaceName: "mv0",
        type: "macvlan",
        macvlan: { link: "lo" },
        container: netns(a),
      });
      assert.deepEqual(res.problems.map((p) => p.reason), ["KernelError"]);
      assert.match(res.problems[0].message, /link add mv0 \(macvlan\): EINVAL/);
      assert.doesNotMatch(await a.ip("-br", "link"), /mv0/);
    }, { tag: "nk" }),
});
