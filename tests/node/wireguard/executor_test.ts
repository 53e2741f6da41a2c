/** Node-level executor with wireguard-go in throwaway namespaces (scenario.ts; the kernel tier runs the same). */
import assert from "node:assert/strict";
import { ownerMark } from "../../../src/node/ownership.ts";
import { LinkConflictError } from "../../../src/node/wireguard/executor.ts";
import { UserspaceBackend } from "../../../src/wireguard/userspace.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { ensure, nodeScenario, pair, want, withSides } from "./scenario.ts";

const ignore = skipUnless("root", "wireguard-go");

Deno.test({
  name: "wg node (userspace): create in host, move, tunnel, minimal changes, drift, key change, removal",
  ignore,
  fn: () => withSides("userspace", (a, b) => nodeScenario(a, b, "userspace")),
});

Deno.test({
  name: "wg node (userspace): crash between create and move is resumed; foreign links are conflicts; adopt",
  ignore,
  fn: () =>
    withSides("userspace", async (a, b) => {
      pair(a, b);
      const name = a.spec.interfaceName;
      // Simulate a crash after creation in the host: a marked link of ours sits in the host namespace.
      await a.node.ensure(a.owner, want(a), a.hostH);
      assert.match(await a.host.ip("link", "show", name), new RegExp(name));
      const r = await ensure(a);
      assert.ok(r.converged, r.actions.join("; "));
      assert.ok(r.actions.includes(`move ${name} to ${a.ctr.name}`));
      assert.ok(!r.actions.some((x) => x.startsWith("create")), "the leftover is reused, not re-created");

      // Another object's mark: a conflict, nothing touched.
      await assert.rejects(
        a.node.ensure("other/obj", want(a), a.ctrH),
        LinkConflictError,
      );

      // Unmarked but matching: adopted (mark written). Unmarked and different: conflict.
      // (Outside our link group too: a link in our group without a mark is an unfinished one of ours, claimed.)
      await a.ctr.ip("link", "set", name, "alias", "");
      await a.ctr.ip("link", "set", name, "group", "default");
      const adopted = await ensure(a);
      assert.ok(adopted.adopted);
      assert.match(await a.ctr.ip("-d", "link", "show", name), new RegExp(`alias ${ownerMark("wg", a.owner)}`));
      await a.ctr.ip("link", "set", name, "alias", "");
      await a.ctr.ip("link", "set", name, "group", "default");
      await a.ctr.ip("link", "set", name, "mtu", "1300");
      await assert.rejects(ensure(a), LinkConflictError);
      assert.match(await a.ctr.ip("link", "show", name), /mtu 1300/, "a foreign link is never modified");
      void b;
    }),
});

Deno.test({
  name: "wg node (userspace): a crash between starting wireguard-go and marking its TUN is resumed, not a conflict",
  ignore,
  fn: () =>
    withSides("userspace", async (a, b) => {
      pair(a, b);
      const name = a.spec.interfaceName;
      // What a SIGKILL right after the daemon started leaves: our daemon's bare TUN, no mark, default group.
      await a.node.client(a.hostH).userspace.createDevice(name);
      assert.doesNotMatch(await a.host.ip("-d", "link", "show", name), /alias/);
      const r = await ensure(a);
      assert.ok(r.converged, r.actions.join("; "));
      assert.deepEqual(r.actions.slice(0, 2), [
        `mark ${name} in ${a.hostH.label}`,
        `configure ${name} in the host namespace`,
      ]);
      assert.match(await a.ctr.ip("-d", "link", "show", name), new RegExp(`alias ${ownerMark("wg", a.owner)}`));
      assert.doesNotMatch(await a.host.ip("link", "show"), new RegExp(`: ${name}[:@]`), "nothing left in the host");

      // The same bare TUN from a wireguard-go this agent did not start is foreign: a conflict, left alone.
      const other = await Deno.makeTempDir({ prefix: "dn42op-wa-" });
      const foreign = new UserspaceBackend({ stateDir: other, netnsPath: b.host.path });
      const bname = b.spec.interfaceName;
      try {
        await foreign.createDevice(bname);
        await assert.rejects(ensure(b), LinkConflictError);
        assert.doesNotMatch(await b.host.ip("-d", "link", "show", bname), /alias/, "not touched");
      } finally {
        await foreign.deleteDevice(bname).catch(() => {});
        await Deno.remove(other, { recursive: true }).catch(() => {});
      }
    }),
});
