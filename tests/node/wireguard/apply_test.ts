/** Node-level executor with wireguard-go in throwaway namespaces (scenario.ts; the kernel tier runs the same). */
import assert from "node:assert/strict";
import { LinkConflictError } from "../../../src/node/wireguard/apply.ts";
import { UserspaceBackend } from "../../../src/wireguard/userspace.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { ensure, markOf, nodeScenario, pair, pingWithin, want, withSides } from "./scenario.ts";

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

      // Unmarked (not created by dn42op), even when it matches: a conflict, unless an administrator opted in for the
      // object (its annotation lists the link). Then: adopted, mark written. Unmarked and different: conflict.
      // (Outside our link group too: a link in our group without a mark is an unfinished one of ours, claimed.)
      await a.ctr.ip("link", "set", name, "alias", "");
      await a.ctr.ip("link", "set", name, "group", "default");
      await assert.rejects(ensure(a), /was not created by dn42op, so it is not ours to adopt/);
      assert.doesNotMatch(await a.ctr.ip("-d", "link", "show", name), /alias/, "not marked");
      const optIn = { key: a.owner, links: new Set([name]) };
      const adopted = await a.node.ensure(a.owner, want(a), a.ctrH, false, new Map(), optIn);
      assert.ok(adopted.adopted);
      assert.match(await a.ctr.ip("-d", "link", "show", name), new RegExp(`alias ${markOf(a)}`));
      await a.ctr.ip("link", "set", name, "alias", "");
      await a.ctr.ip("link", "set", name, "group", "default");
      await a.ctr.ip("link", "set", name, "mtu", "1300");
      await assert.rejects(a.node.ensure(a.owner, want(a), a.ctrH, false, new Map(), optIn), LinkConflictError);
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
      assert.match(await a.ctr.ip("-d", "link", "show", name), new RegExp(`alias ${markOf(a)}`));
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

Deno.test({
  name: "wg node (userspace): a recreated listening side gets its peer's last learned endpoint back",
  ignore,
  fn: () =>
    withSides("userspace", async (a, b) => {
      pair(a, b); // a listens (no endpoint for b in its spec), b dials a
      await ensure(a);
      await ensure(b);
      assert.ok(await pingWithin(b.ctr, "10.4.0.1", 20_000), "tunnel up (b dialled a)");
      const name = a.spec.interfaceName;
      const before = await a.node.observe(a.ctrH, name);
      const learned = before?.device?.peers.find((p) => p.publicKey.toBase64() === b.pub)?.endpoint;
      assert.equal(learned?.text, "10.98.0.2:51822", "a learned b's endpoint from its handshake");

      await a.ctr.ip("link", "del", name);
      // wireguard-go exits when its TUN goes; until it has, a new one of that name is refused (and retried).
      let r;
      for (let i = 0; !r; i++) {
        r = await a.node.ensure(a.owner, want(a), a.ctrH, false, new Map([[b.pub, learned!]])).catch((e) => {
          if (i > 50) throw e;
          return new Promise<undefined>((res) => setTimeout(() => res(undefined), 200));
        });
      }
      assert.ok(r.created && r.converged, r.actions.join("; "));
      const peer = r.observed?.device?.peers.find((p) => p.publicKey.toBase64() === b.pub);
      assert.equal(peer?.endpoint?.text, "10.98.0.2:51822", "the learned endpoint is back right after recreate");
      // The listener can now start the handshake itself (b's old session is unknown to the new device).
      const t0 = performance.now();
      assert.ok(await pingWithin(a.ctr, "10.4.0.2", 30_000), "tunnel back, initiated by the listener");
      console.log(`listener recreated: ping through after ${(performance.now() - t0).toFixed(0)} ms`);
      // A spec endpoint is never replaced by a learned one, and a learned one is not drift afterwards.
      assert.deepEqual((await ensure(a)).actions, []);
    }),
});

Deno.test({
  name: "wg node (userspace): an endpoint roamed in a live session is kept; a changed spec endpoint is applied",
  ignore,
  fn: () =>
    withSides("userspace", async (a, b) => {
      pair(a, b); // b dials a from its primary address 10.98.0.2
      await b.host.ip("addr", "add", "10.98.0.12/24", "dev", "ul1");
      await b.host.ip("addr", "add", "10.98.0.22/24", "dev", "ul1");
      const endpointOfB = (e: string) => ({ ...a.spec.peers![0], endpoint: e });
      a.spec = { ...a.spec, peers: [endpointOfB("10.98.0.12:51822")] }; // a's spec names b's other address
      await ensure(a);
      await ensure(b);
      assert.ok(await pingWithin(b.ctr, "10.4.0.1", 20_000), "tunnel up (b dialled a)");
      const endpoint = async () =>
        (await a.node.observe(a.ctrH, a.spec.interfaceName))?.device?.peers[0]?.endpoint?.text;
      assert.equal(await endpoint(), "10.98.0.2:51822", "a's device roamed to where b's packets come from");

      const kept = await ensure(a);
      assert.deepEqual(kept.actions, [], "the roamed endpoint is not drift");
      assert.ok(kept.converged);
      assert.equal(await endpoint(), "10.98.0.2:51822");

      a.spec = { ...a.spec, peers: [endpointOfB("10.98.0.22:51822")] };
      const changed = await ensure(a);
      assert.ok(changed.actions.some((x) => x.includes("endpoint 10.98.0.22:51822")), changed.actions.join("; "));
      assert.equal(await endpoint(), "10.98.0.22:51822", "a new spec endpoint is applied");
    }),
});
