/**
 * wireguard-go daemons of two owners (two agents, two state directories) with the same device name: each daemon's
 * UAPI socket lives in its own state directory (a private /var/run per daemon), so both run side by side, each
 * answers on its own socket with its own device, and wireguard-go's shared /var/run/wireguard is not used. Within
 * one state directory a live socket without a PID file is refused, a dead one replaced.
 */
import assert from "node:assert/strict";
import { DaemonError } from "../../src/wireguard/errors.ts";
import { UAPI_GET } from "../../src/wireguard/uapi.ts";
import {
  daemonSocketDir,
  findWireGuardGo,
  startWireGuardGo,
  stopWireGuardGo,
  type WireGuardGoDaemon,
} from "../../src/wireguard/wggo.ts";
import { DEFAULT_SOCKET_DIR, uapiCall, uapiSocketPath } from "../../src/wireguard/uapi_socket.ts";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { devName } from "./scenario.ts";
import { refChild } from "../../src/wireguard/child.ts";

const ignore = skipUnless("root", "wireguard-go");

Deno.test({
  name: "wireguard-go: equal names in two state directories run side by side, each on its own socket",
  ignore,
  fn: () =>
    withNetns(async (a, b) => {
      const dirs = [await Deno.makeTempDir({ prefix: "dn42op-wg-" }), await Deno.makeTempDir({ prefix: "dn42op-wg-" })];
      const name = devName();
      const started: WireGuardGoDaemon[] = [];
      try {
        started.push(await startWireGuardGo(name, { netnsPath: a.path, stateDir: dirs[0] }));
        started.push(await startWireGuardGo(name, { netnsPath: b.path, stateDir: dirs[1] }));
        assert.notEqual(started[0].pid, started[1].pid);
        for (const d of started) {
          // Field 6 of /proc/PID/stat (after the parenthesised command) is the session: each daemon leads its own.
          const stat = await Deno.readTextFile(`/proc/${d.pid}/stat`);
          const session = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
          assert.equal(session, d.pid, "the daemon leads its own session (it survives a restart of ours)");
        }
        await uapiCall(name, `set=1\nlisten_port=40101\n\n`, daemonSocketDir({ stateDir: dirs[0] }));
        await uapiCall(name, `set=1\nlisten_port=40102\n\n`, daemonSocketDir({ stateDir: dirs[1] }));
        for (const [i, port] of [[0, 40101], [1, 40102]]) {
          const reply = await uapiCall(name, UAPI_GET, daemonSocketDir({ stateDir: dirs[i] }));
          assert.match(reply, new RegExp(`listen_port=${port}\\n`), `daemon ${i} answers for its own device`);
          assert.equal((await findWireGuardGo(name, { stateDir: dirs[i] }))?.pid, started[i].pid);
        }
        await assert.rejects(Deno.lstat(uapiSocketPath(name, DEFAULT_SOCKET_DIR)), Deno.errors.NotFound);
        assert.match(await a.ip("link", "show", name), new RegExp(name));
        assert.match(await b.ip("link", "show", name), new RegExp(name));
      } finally {
        for (const [i, d] of started.entries()) await stopWireGuardGo(d, { stateDir: dirs[i] }).catch(() => {});
        for (const d of dirs) await Deno.remove(d, { recursive: true });
      }
    }, { count: 2, tag: "e2e" }),
});

Deno.test({
  name: "wireguard-go: a live socket without a PID file is refused, a dead one is replaced",
  ignore,
  fn: () =>
    withNetns(async (a) => {
      const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wg-" });
      const name = devName();
      const socket = uapiSocketPath(name, daemonSocketDir({ stateDir }));
      const first = await startWireGuardGo(name, { netnsPath: a.path, stateDir });
      let second: WireGuardGoDaemon | undefined;
      try {
        await Deno.remove(`${stateDir}/${name}.pid`); // its PID file lost: the daemon can no longer be proven ours
        await assert.rejects(
          startWireGuardGo(name, { netnsPath: a.path, stateDir }),
          (e: Error) => e instanceof DaemonError && /without a PID file serves/.test(e.message),
        );
        assert.ok(await Deno.lstat(socket), "its socket is still there");

        // Killed without cleanup: its socket stays but no longer answers, so it is stale and replaced.
        Deno.kill(first.pid, "SIGKILL");
        if (first.child) refChild(first.child); // started unref'd (it may outlive its starter); awaiting its status needs a ref
        await first.child?.status;
        assert.ok(await Deno.lstat(socket), "SIGKILL leaves the socket file");
        second = await startWireGuardGo(name, { netnsPath: a.path, stateDir });
      } finally {
        if (second) await stopWireGuardGo(second, { stateDir }).catch(() => {});
        await stopWireGuardGo(first, { stateDir }).catch(() => {});
        await Deno.remove(stateDir, { recursive: true });
      }
    }, { tag: "e2e" }),
});

Deno.test({
  name: "wireguard-go: a daemon that leaves its first request unanswered is waited for, not killed",
  ignore: skipUnless("root"),
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "dn42op-wg-" });
    const binary = `${stateDir}/slow-wireguard-go`;
    const fake = new URL("../doubles/slow_wireguard_go.ts", import.meta.url).pathname;
    await Deno.writeTextFile(binary, `#!/bin/sh\nexec '${Deno.execPath()}' run -A --no-check '${fake}' "$@"\n`, {
      mode: 0o755,
    });
    const name = devName();
    let daemon: WireGuardGoDaemon | undefined;
    try {
      daemon = await startWireGuardGo(name, { stateDir, binary, startTimeoutMs: 20_000 });
      assert.equal((await uapiCall(name, "set=1\n\n", daemonSocketDir({ stateDir }))).trim(), "errno=0");
    } finally {
      if (daemon) {
        Deno.kill(daemon.pid, "SIGTERM"); // not a wireguard-go by its command line: stopWireGuardGo leaves it
        if (daemon.child) refChild(daemon.child);
        await daemon.child?.status;
      }
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "wireguard-go: a start into a namespace that is gone fails naming nsenter's complaint, from the log",
  ignore: skipUnless("root"),
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "dn42op-hd-" });
    try {
      const netnsPath = `/run/netns/dn42op-hd-absent-${crypto.randomUUID().slice(0, 8)}`;
      await assert.rejects(
        startWireGuardGo(devName(), { stateDir, netnsPath }),
        (e: Error) => e instanceof DaemonError && /exited during start; log: .*nsenter.*absent/.test(e.message),
      );
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
