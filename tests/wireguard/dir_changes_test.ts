/** watchDirectory: a created entry (a unix socket, as wireguard-go's) wakes the waiter long before its timeout. */
import assert from "node:assert/strict";
import { watchDirectory } from "../../src/wireguard/dir_changes.ts";

const never = new Promise<never>(() => {});

/** What settled first: the wait or a guard far shorter than the wait's own timeout. */
async function first(wait: Promise<void>, guardMs: number): Promise<"woken" | "guard"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<"guard">((r) => timer = setTimeout(() => r("guard"), guardMs));
  try {
    return await Promise.race([wait.then(() => "woken" as const), guard]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("watchDirectory: a socket created in the directory wakes next() before its 60 s timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-dirchanges-" });
  try {
    using changes = watchDirectory(dir);
    const wait = changes.next(60_000, never);
    const listener = Deno.listen({ transport: "unix", path: `${dir}/wg0.sock` });
    try {
      assert.equal(await first(wait, 10_000), "woken");
    } finally {
      listener.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchDirectory: a change made before the wait ends it; after that, a quiet directory waits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-dirchanges-" });
  try {
    using changes = watchDirectory(dir);
    await Deno.mkdir(`${dir}/a`); // one event (a created entry)
    assert.equal(await first(changes.next(60_000, never), 10_000), "woken");
    assert.equal(await first(changes.next(60_000, never), 200), "guard", "nothing changed since: the wait goes on");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchDirectory: `ended` settling ends the wait; a missing directory still waits (polling only)", async () => {
  using changes = watchDirectory("/nonexistent/dn42op-dirchanges");
  assert.equal(await first(changes.next(60_000, Promise.resolve()), 10_000), "woken");
  assert.equal(await first(changes.next(60_000, never), 200), "guard");
});
