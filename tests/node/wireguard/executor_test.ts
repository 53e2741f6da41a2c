/** Node-level executor with wireguard-go in throwaway namespaces (scenario.ts; the kernel tier runs the same). */
import assert from "node:assert/strict";
import { ownerMark } from "../../../src/node/ownership.ts";
import { LinkConflictError } from "../../../src/node/wireguard/executor.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { ensure, nodeScenario, pair, withSides } from "./scenario.ts";

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
      await a.node.ensure(a.owner, (await import("./scenario.ts")).want(a), a.hostH);
      assert.match(await a.host.ip("link", "show", name), new RegExp(name));
      const r = await ensure(a);
      assert.ok(r.converged, r.actions.join("; "));
      assert.ok(r.actions.includes(`move ${name} to ${a.ctr.name}`));
      assert.ok(!r.actions.some((x) => x.startsWith("create")), "the leftover is reused, not re-created");

      // Another object's mark: a conflict, nothing touched.
      await assert.rejects(
        a.node.ensure("other/obj", (await import("./scenario.ts")).want(a), a.ctrH),
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
