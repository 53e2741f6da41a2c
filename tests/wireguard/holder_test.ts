/**
 * The wireguard-go holder as wg-controller uses it (the program, started as deploy/'s container runs it, and the
 * userspace backend with `holder` set): the daemon is the holder's child, started in the requester's namespace
 * (nsenter on the requester's `/proc/<pid>/fd/<fd>`), adopted by a fresh backend (wg-controller restarted) by PID,
 * stopped by PID and reaped; bad requests and failed starts are answered with their reason while the holder keeps
 * serving; SIGTERM stops what it started. The restart of a real container is tests/e2e/image_test.ts's.
 */
import assert from "node:assert/strict";
import { Netns } from "../../src/netlink/netns.ts";
import { openWireGuard } from "../../src/wireguard/client.ts";
import { DaemonError } from "../../src/wireguard/errors.ts";
import { MAX_REQUEST_BYTES, readLine } from "../../src/wireguard/holder_protocol.ts";
import { daemonAnswers, findWireGuardGo, startWireGuardGo } from "../../src/wireguard/wggo.ts";
import { programCommand } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { type TestNetns, withNetns } from "../../kit/netns.ts";
import { until } from "../../kit/wait.ts";
import { devName } from "./scenario.ts";

const ignore = skipUnless("root", "wireguard-go");

interface Holder {
  socket: string;
  child: Deno.ChildProcess;
  stderr: Promise<string>;
}

function startHolder(dir: string): Holder {
  const socket = `${dir}/holder/holder.sock`;
  const cmd = programCommand("wireguard-go-holder", [`-socket=${socket}`]);
  const child = new Deno.Command(cmd[0], { args: cmd.slice(1), stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  return { socket, child, stderr };
}

async function stopHolder(h: Holder): Promise<Deno.CommandStatus> {
  try {
    h.child.kill("SIGTERM");
  } catch { /* exited */ }
  const status = await h.child.status;
  await h.stderr;
  return status;
}

function ppid(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

const gone = (pid: number) => Deno.stat(`/proc/${pid}`).then(() => false, () => true);

async function withHolder(fn: (h: Holder, stateDir: string, ns: TestNetns) => Promise<void>): Promise<void> {
  await withNetns(async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "dn42op-hd-" });
    const h = startHolder(dir);
    try {
      await fn(h, `${dir}/state`, ns);
    } finally {
      await stopHolder(h);
      await Deno.remove(dir, { recursive: true });
    }
  }, { tag: "hd" });
}

Deno.test({
  name: "holder: the daemon is the holder's child in our namespace, adopted by a fresh backend, stopped by PID",
  ignore,
  fn: () =>
    withHolder(async (h, stateDir, ns) => {
      const name = devName();
      const handle = Netns.byPath(ns.path, ns.name);
      try {
        const opts = { backend: "userspace" as const, userspace: { stateDir, holder: h.socket } };
        await openWireGuard(handle, opts).createDevice(name);
        const daemon = await findWireGuardGo(name, { stateDir, netnsPath: ns.path });
        assert.ok(daemon, "PID file names a wireguard-go in the test namespace");
        assert.equal(ppid(daemon.pid), h.child.pid, "its parent is the holder, not us");
        assert.match(await ns.ip("link", "show", name), new RegExp(`${name}:`));
        assert.ok(await daemonAnswers(daemon, { stateDir }));

        // A fresh client (wg-controller restarted) adopts it: same PID, nothing started.
        const again = openWireGuard(handle, opts);
        assert.equal(await again.createDevice(name), "userspace");
        assert.equal((await findWireGuardGo(name, { stateDir }))?.pid, daemon.pid);

        await again.deleteDevice(name);
        await until("daemon exited and reaped by the holder", () => gone(daemon.pid), 10_000);
        assert.equal(await findWireGuardGo(name, { stateDir }), undefined);
      } finally {
        handle.close();
      }
    }),
});

Deno.test({
  name: "holder: a refused request and a failed start are answered with their reason; the holder keeps serving",
  ignore,
  fn: () =>
    withHolder(async (h, stateDir, ns) => {
      // Waits for the holder's socket (it may not listen yet: the client retries up to the start timeout).
      const name = devName();
      const first = await startWireGuardGo(name, { stateDir, holder: h.socket, netnsPath: ns.path });

      const conn = await Deno.connect({ transport: "unix", path: h.socket });
      await conn.write(new TextEncoder().encode(`${JSON.stringify({ start: { name: "x/y", stateDir } })}\n`));
      assert.deepEqual(JSON.parse((await readLine(conn, MAX_REQUEST_BYTES))!), {
        error: 'start.name: "x/y" is not a valid interface name (1–15 of [A-Za-z0-9_.=+-])',
      });
      conn.close();

      await assert.rejects(
        startWireGuardGo(devName(), { stateDir, holder: h.socket, netnsPath: `${ns.path}-absent` }),
        (e: Error) =>
          e instanceof DaemonError && /wireguard-go holder: exited during start; log: .*nsenter/.test(e.message),
      );
      await assert.rejects(
        startWireGuardGo(name, { stateDir, holder: h.socket, netnsPath: ns.path }),
        (e: Error) => e instanceof DaemonError && e.message.includes(`already running as PID ${first.pid}`),
      );
      assert.ok(await daemonAnswers(first, { stateDir }), "the first daemon still serves");

      // SIGTERM: the holder stops what it started and exits 0; its socket is gone.
      const status = await stopHolder(h);
      assert.equal(status.code, 0, await h.stderr);
      assert.ok(await gone(first.pid), "the daemon was stopped and reaped");
      await assert.rejects(Deno.lstat(h.socket), Deno.errors.NotFound);
      assert.equal(await findWireGuardGo(name, { stateDir }), undefined);
      assert.doesNotMatch(await h.stderr, /private_key|PrivateKey/i);
    }),
});
