/**
 * wireguard-go daemons of two owners (two agents, two state directories) with the same device name: UAPI sockets
 * are one name space for every network namespace, so the second start must refuse instead of removing the first
 * daemon's live socket (which took over that device: seen with a lab and a test running the same examples).
 */
import assert from "node:assert/strict";
import { DaemonError } from "../../src/wireguard/errors.ts";
import { findWireGuardGo, startWireGuardGo, stopWireGuardGo } from "../../src/wireguard/wggo.ts";
import { uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { devName } from "./scenario.ts";

Deno.test({
  name: "wireguard-go: a name served by another owner's live daemon is refused, a dead socket is replaced",
  ignore: skipUnless("root", "wireguard-go"),
  fn: () =>
    withNetns(async (a, b) => {
      const [dirA, dirB] = [
        await Deno.makeTempDir({ prefix: "dn42op-wg-" }),
        await Deno.makeTempDir({ prefix: "dn42op-wg-" }),
      ];
      const name = devName();
      const first = await startWireGuardGo(name, { netnsPath: a.path, stateDir: dirA });
      try {
        await assert.rejects(
          startWireGuardGo(name, { netnsPath: b.path, stateDir: dirB }),
          (e: Error) => e instanceof DaemonError && /another wireguard-go serves/.test(e.message),
        );
        assert.equal(
          (await findWireGuardGo(name, { stateDir: dirA }))?.pid,
          first.pid,
          "the first daemon is untouched",
        );
        assert.ok(await Deno.lstat(uapiSocketPath(name)), "its socket is still there");

        // Killed without cleanup: its socket stays but no longer answers, so it is stale and replaced.
        Deno.kill(first.pid, "SIGKILL");
        first.child?.ref(); // started unref'd (it may outlive its starter); awaiting its status needs a ref
        await first.child?.status;
        assert.ok(await Deno.lstat(uapiSocketPath(name)), "SIGKILL leaves the socket file");
        const second = await startWireGuardGo(name, { netnsPath: b.path, stateDir: dirB });
        await stopWireGuardGo(second, { stateDir: dirB });
      } finally {
        await stopWireGuardGo(first, { stateDir: dirA }).catch(() => {});
        const other = await findWireGuardGo(name, { stateDir: dirB });
        if (other) await stopWireGuardGo(other, { stateDir: dirB }).catch(() => {});
        await Deno.remove(uapiSocketPath(name)).catch(() => {}); // whatever a failed run left
        await Deno.remove(dirA, { recursive: true });
        await Deno.remove(dirB, { recursive: true });
      }
    }, { count: 2, tag: "e2e" }),
});
