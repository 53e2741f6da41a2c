import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withHandle } from "./handle.ts";
import { addAddress, deleteAddress, listAddresses } from "../../src/netlink/addr.ts";
import { NetlinkError } from "../../src/netlink/errors.ts";
import { createLink } from "../../src/netlink/link.ts";

const root = skipUnless("root");

Deno.test({
  name: "addresses: IPv4/IPv6 plain and point-to-point (IPv6 peer via raw codec), flags, delete",
  ignore: root,
  fn: () =>
    withHandle(async (ns, t) => {
      await createLink(ns, { kind: "veth", name: "nla0", up: true, peer: { name: "nla1", up: true } });
      await addAddress(ns, "nla0", { local: "10.99.0.1/24" });
      await addAddress(ns, "nla0", { local: "10.99.1.1", peer: "10.99.1.2/32", noprefixroute: true });
      await addAddress(ns, "nla0", { local: "fd99::1/64", nodad: true });
      await addAddress(ns, "nla0", { local: "fd98::1", peer: "fd98::2/128", nodad: true, noprefixroute: true });

      const got = (await listAddresses(ns, "nla0")).filter((a) => a.scope === "global")
        .map(({ local, peer, prefixlen, family, flags }) => ({ local, peer, prefixlen, family, flags }));
      assert.deepEqual(got, [
        { local: "10.99.0.1", peer: null, prefixlen: 24, family: 4, flags: ["permanent"] },
        { local: "10.99.1.1", peer: "10.99.1.2", prefixlen: 32, family: 4, flags: ["permanent", "noprefixroute"] },
        {
          local: "fd98::1",
          peer: "fd98::2",
          prefixlen: 128,
          family: 6,
          flags: ["nodad", "permanent", "noprefixroute"],
        },
        { local: "fd99::1", peer: null, prefixlen: 64, family: 6, flags: ["nodad", "permanent"] },
      ]);
      const shown = await t.ip("addr", "show", "dev", "nla0");
      assert.match(shown, /inet 10\.99\.1\.1 peer 10\.99\.1\.2\/32 scope global noprefixroute/);
      assert.match(shown, /inet6 fd98::1 peer fd98::2\/128 scope global nodad noprefixroute/);

      await assert.rejects(addAddress(ns, "nla0", { local: "10.99.0.1/24" }), (e: NetlinkError) => e.alreadyExists);
      await assert.rejects(
        addAddress(ns, "nla0", { local: "fd98::1", peer: "fd98::2/128" }),
        (e: NetlinkError) => e.alreadyExists,
      );

      await deleteAddress(ns, "nla0", { local: "10.99.1.1", peer: "10.99.1.2/32" });
      await deleteAddress(ns, "nla0", { local: "fd98::1", peer: "fd98::2/128" });
      await deleteAddress(ns, "nla0", { local: "10.99.0.1/24" });
      const left = (await listAddresses(ns, "nla0")).filter((a) => a.scope === "global").map((a) => a.local);
      assert.deepEqual(left, ["fd99::1"]);
      await assert.rejects(deleteAddress(ns, "nla0", { local: "10.99.0.1/24" }), (e: NetlinkError) => e.notFound);
    }),
});

Deno.test({
  name: "addresses report IFA_PROTO: the kernel's link-locals as kernel_ll, ours as none",
  ignore: root,
  fn: () =>
    withHandle(async (ns) => {
      await createLink(ns, { kind: "veth", name: "nla0", up: true, peer: { name: "nla1", up: true } });
      await addAddress(ns, "nla0", { local: "fe80::5/64", nodad: true });
      const v6 = (await listAddresses(ns, "nla0")).filter((a) => a.family === 6);
      assert.equal(v6.find((a) => a.local === "fe80::5")?.proto, null);
      const kernel = v6.filter((a) => a.local !== "fe80::5");
      assert.equal(kernel.length, 1, JSON.stringify(v6));
      assert.equal(kernel[0].proto, "kernel_ll");
    }),
});

Deno.test({
  name: "address input errors are typed and name the field",
  ignore: root,
  fn: () =>
    withHandle(async (ns) => {
      await createLink(ns, { kind: "veth", name: "nla0", peer: { name: "nla1" } });
      const bad = (spec: unknown, re: RegExp) =>
        assert.rejects(addAddress(ns, "nla0", spec as never), (e: NetlinkError) =>
          e.errnoName === "EINVAL" && re.test(e.message));
      await bad({ local: "10.0.0.256/24" }, /local "10.0.0.256\/24"/);
      await bad({ local: "10.0.0.1/33" }, /prefix length must be 0..32/);
      await bad({ local: "10.0.0.1", peer: "fd00::1" }, /one address family/);
      await bad({ local: "10.0.0.1/24", peer: "10.0.0.2/32" }, /no prefix length with a peer/);
      await bad({}, /local: required/);
      await assert.rejects(addAddress(ns, "nlnone", { local: "10.0.0.1/24" }), (e: NetlinkError) =>
        e.notFound);
    }),
});
