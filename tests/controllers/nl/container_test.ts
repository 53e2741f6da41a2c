/**
 * The reference veth example with real containers (podman behind the Docker Engine API): veth1-a in container 1
 * with fe80::eeee:1/64, veth1-b in container 2 with fe80::eeee:2/64, ff02::1 answered by both; a restarted
 * container (new network namespace) is followed.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { withNamespace } from "../../../kit/cluster.ts";
import { Podman } from "../../../lab/podman/podman.ts";
import { ensureBusyboxImage } from "../../../lab/podman/image.ts";
import { servicePaths, startService, stopService } from "../../../lab/podman/service.ts";
import { vethExample } from "../../node/netlink/examples.ts";
import { create, customApi, isReady, nli, type Obj, read, ready, startNlAgent } from "../../../kit/nl_agent.ts";
import { until } from "../../../kit/wait.ts";
import { dadOver } from "../../../kit/netns.ts";

async function inNetns(pid: number, ...cmd: string[]): Promise<string> {
  const out = await new Deno.Command("nsenter", {
    args: ["-t", String(pid), "-n", ...cmd],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

Deno.test({
  name: "veth example between two containers; a restarted container is followed",
  ignore: skipUnless("root", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const podman = new Podman();
    await ensureBusyboxImage(podman);
    const dir = await Deno.makeTempDir({ prefix: "dn42op-na-" });
    const paths = servicePaths(dir);
    const names = [1, 2].map((i) => `dn42op-na-c${i}-${crypto.randomUUID().slice(0, 6)}`);
    try {
      await startService(podman, paths);
      const pids: number[] = [];
      for (const n of names) pids.push(await podman.ensureContainer(n, { owner: "test" }));
      await withNamespace(async ({ namespace }) => {
        const agent = await startNlAgent({
          nodename: "lax1",
          namespace,
          args: [`-docker-host=unix://${paths.socketPath}`, "-default-resync-period=3600"],
        });
        try {
          const api = await customApi();
          await create(
            api,
            nli(
              namespace,
              "lax1-veth1",
              vethExample("lax1", { docker: { name: names[0] } }, { docker: { name: names[1] } }),
            ),
          );
          await ready(api, namespace, "lax1-veth1");
          await dadOver((...a) => inNetns(pids[0], "ip", ...a), "veth1-a");
          await dadOver((...a) => inNetns(pids[1], "ip", ...a), "veth1-b");
          const ping = await inNetns(pids[0], "ping", "-6", "-c", "3", "-w", "5", "ff02::1%veth1-a");
          assert.match(ping, /fe80::eeee:2/);
          // restart container 1: its namespace (and veth1-a with it, taking veth1-b along) is gone; followed
          const newPid = await podman.restart(names[0]);
          assert.notEqual(newPid, pids[0]);
          await until(
            "re-created in the new namespace",
            async () => {
              const show = await inNetns(newPid, "ip", "addr", "show", "veth1-a").catch(() => "");
              return /fe80::eeee:1\/64/.test(show);
            },
            60_000,
            100,
          );
          assert.match(await inNetns(pids[1], "ip", "addr", "show", "veth1-b"), /fe80::eeee:2\/64/);
          const o: Obj = await read(api, namespace, "lax1-veth1");
          assert.ok(isReady(o));
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
        }
      }, { prefix: "dn42op-na-" });
    } finally {
      for (const n of names) await podman.remove(n).catch(() => {});
      await stopService(paths).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
