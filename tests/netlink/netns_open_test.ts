/**
 * Opening a namespace path that a user wrote into an object: it must never block (a FIFO, a device), must be an nsfs
 * network namespace, and placements are refused on the identity of the namespace actually held (a symlink to the
 * agent's or the node's namespace, or one swapped between two resolutions).
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { Netns, openNetnsFile, openNetnsFileAsync } from "../../src/netlink/mod.ts";
import { NamespaceResolver, PlacementError } from "../../src/node/placement.ts";
import { run } from "../../kit/proc.ts";

const ignore = skipUnless("root");

/** A temporary directory removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-ten-netns-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Resolves `path` and returns the refusal. A blocking open would stall the event loop, so the timer that bounds the
 * wait would never fire and the test would hang: it races a 20 s deadline to fail instead.
 */
async function refusal(r: NamespaceResolver, path: string): Promise<PlacementError> {
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => reject(new Error(`resolving ${path} did not return`)), 20_000);
  });
  try {
    await Promise.race([r.resolve({ kind: "netns-path", path }), hung]);
  } catch (e) {
    if (e instanceof PlacementError) return e;
    throw e;
  } finally {
    clearTimeout(deadline);
  }
  throw new Error(`${path} was accepted`);
}

Deno.test({
  name: "netns open: a FIFO, a regular file, a device and a mount namespace are refused without blocking",
  ignore,
  fn: () =>
    withDir(async (dir) => {
      await run(["mkfifo", `${dir}/fifo`]);
      await Deno.writeTextFile(`${dir}/file`, "not a namespace");
      const r = new NamespaceResolver();
      try {
        const fifo = await refusal(r, `${dir}/fifo`);
        assert.equal(fifo.reason, "PlacementNotFound");
        assert.match(fifo.message, /fifo: .*a FIFO, not a namespace file \(nsfs\)/);
        assert.match((await refusal(r, `${dir}/file`)).message, /a regular file, not a namespace file/);
        assert.match((await refusal(r, "/dev/null")).message, /a device, not a namespace file/);
        assert.match((await refusal(r, "/proc/self/ns/mnt")).message, /a mount namespace, not a network namespace/);
        assert.match((await refusal(r, `${dir}/missing`)).message, /ENOENT/);
        // The synchronous opener refuses the same way (the FIFO is not opened, so it cannot wait for a writer).
        assert.throws(() => Netns.byPath(`${dir}/fifo`), /a FIFO, not a namespace file/);
      } finally {
        await r.close();
      }
    }),
});

Deno.test({
  name: "netns open: the identity is the held namespace's; a symlink to the agent's or node's namespace is refused",
  ignore,
  fn: () =>
    withNetns((a, b) =>
      withDir(async (dir) => {
        const link = `${dir}/ns`;
        await Deno.symlink(a.path, link);
        const r = new NamespaceResolver();
        try {
          const first = await r.resolve({ kind: "netns-path", path: link });
          assert.equal(first.id, openIdentity(a.path));
          // Swapped to another namespace: the next resolution holds (and reports) the new one.
          await Deno.remove(link);
          await Deno.symlink(b.path, link);
          const second = await r.resolve({ kind: "netns-path", path: link });
          assert.equal(second.id, openIdentity(b.path));
          assert.notEqual(second.id, first.id);
          // Swapped to the agent's own namespace, or to the node's (PID 1's): refused, whichever of the two it is.
          // Where the kernel's ptrace check keeps us out of PID 1's namespace (a process lacking some of its
          // capabilities, as in this sandbox), the open itself fails with EACCES: refused all the same.
          for (const target of ["/proc/self/ns/net", "/proc/1/ns/net"]) {
            await Deno.remove(link);
            await Deno.symlink(target, link);
            const e = await refusal(r, link);
            if (e.reason === "PlacementNotFound") assert.match(e.message, /EACCES/);
            else assert.match(e.message, /resolves to (the agent's own|the node's) network namespace/);
          }
          const own = await refusal(r, "/proc/self/ns/net");
          assert.equal(own.reason, "PlacementForbidden");
          // Only the host placement reaches the agent's namespace, on purpose.
          assert.equal((await r.resolve({ kind: "host" })).isHost, true);
        } finally {
          await r.close();
        }
      }), { count: 2, tag: "ten" }),
});

/** The namespace identity of `path` as the opener reads it. */
function openIdentity(path: string): string {
  const n = Netns.byPath(path);
  try {
    return n.id;
  } finally {
    n.close();
  }
}

Deno.test({
  name: "netns open: the async opener gives the same identity as the synchronous one and closes nothing it returns",
  ignore,
  fn: () =>
    withNetns(async (a) => {
      const sync = openNetnsFile(a.path);
      const async = await openNetnsFileAsync(a.path);
      try {
        assert.equal(async.id, sync.id);
        assert.notEqual(async.fd, sync.fd);
      } finally {
        Netns.fromFile(sync, "a").close();
        Netns.fromFile(async, "a").close();
      }
    }, { tag: "ten" }),
});
