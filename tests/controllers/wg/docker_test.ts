/**
 * wg-controller with docker placement: a real podman container reached through podman's Docker-compatible API.
 * The interface is created in the agent's host namespace, moved into the container, and after a container
 * restart (new process, new network namespace) it is re-created there.
 */
import assert from "node:assert/strict";
import { ensureContainersProfile, withPodman } from "../../lab/podman_fixture.ts";
import { until } from "../../../kit/wait.ts";

await ensureContainersProfile();
const { skipUnless } = await import("../../helpers/caps.ts");
const { create, ifname, isReady, read, wgi, withAgent } = await import("./support.ts");
const { generatePrivateKey } = await import("../../../src/wireguard/key.ts");

const ignore = skipUnless("root", "cluster", "wireguard-go", "podman");

async function inContainer(pid: number, ...cmd: string[]): Promise<string> {
  const out = await new Deno.Command("nsenter", { args: ["-t", String(pid), "-n", ...cmd], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "wg-controller: docker placement (podman API); a restarted container is followed",
  ignore,
  fn: () =>
    withPodman(async (f) => {
      const name = `dn42op-wa-c-${crypto.randomUUID().slice(0, 8)}`;
      let pid = await f.podman.ensureContainer(name, { owner: "test" });
      try {
        await withAgent(0, async (ctx) => {
          const n = ifname();
          await create(wgi(ctx.ns, "d1", {
            node: "lax1",
            moveToContainer: true,
            container: { docker: { name } },
            interfaceName: n,
            privateKey: (await generatePrivateKey()).toBase64(),
            addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
            peers: [],
          }));
          await until("Ready", async () => isReady(await read(ctx.ns, "d1")), 180_000);
          assert.match(await inContainer(pid, "ip", "addr", "show", "dev", n), /inet 10\.4\.0\.1 peer 10\.4\.0\.2\/32/);
          const oldNs = (await Deno.stat(`/proc/${pid}/ns/net`)).ino;
          pid = await f.podman.restart(name);
          assert.notEqual((await Deno.stat(`/proc/${pid}/ns/net`)).ino, oldNs, "the restart made a new namespace");
          await until(
            "link in the restarted container",
            async () => /inet 10\.4\.0\.1 peer 10\.4\.0\.2\/32/.test(await inContainer(pid, "ip", "addr", "show")),
            60_000,
          );
        }, [`-docker-host=${f.service.dockerHost}`]);
      } finally {
        await f.podman.remove(name);
      }
    }),
});
