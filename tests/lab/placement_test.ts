/**
 * The lab's placement path on this host: a veth made in a throwaway namespace, one end moved into a podman
 * container found by name through the Docker API (`ip link set … netns <pid>`), and pings across it.
 */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/node/container.ts";
import { run } from "../../kit/proc.ts";
import { withNetns } from "../../kit/netns.ts";
import { ensureContainersProfile, withPodman } from "./podman_fixture.ts";
import { until } from "../../kit/wait.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

/** `ip` inside the network namespace of `pid` only (host iproute2; the container keeps its own mount ns). */
const ipIn = (pid: number, ...args: string[]) => run(["nsenter", "-t", String(pid), "-n", "ip", ...args]);

Deno.test({
  name: "placement: a veth end moved into a container by its API-resolved PID carries pings both ways",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withNetns((ns) =>
      withPodman(async ({ podman, service, container }) => {
        const { name } = await container();
        using docker = new DockerClient({ socketPath: service.socketPath });
        const pid = await docker.pid(name);

        await ns.ip("link", "add", "lt-host", "type", "veth", "peer", "name", "lt-ctr");
        await ns.ip("link", "set", "dev", "lt-ctr", "netns", String(pid));
        assert.match(await ipIn(pid, "-br", "link", "show", "dev", "lt-ctr"), /^lt-ctr@/);
        await assert.rejects(ns.ip("link", "show", "dev", "lt-ctr"), "the moved end left the throwaway namespace");

        await ns.ip("addr", "add", "10.250.7.1/24", "dev", "lt-host");
        await ns.ip("link", "set", "dev", "lt-host", "up");
        await ipIn(pid, "addr", "add", "10.250.7.2/24", "dev", "lt-ctr");
        await ipIn(pid, "link", "set", "dev", "lt-ctr", "up");

        const out = await ns.run("ping", "-c", "1", "-W", "5", "10.250.7.2");
        assert.match(out, /1 received/);
        // And from the container's own userland (busybox ping inside the image).
        const back = await podman.run("exec", name, "ping", "-c", "1", "-W", "5", "10.250.7.1");
        assert.match(back, /1 packets received/);

        // A restart gives a new netns: the moved end is gone with the old one, and the new PID is followed.
        await podman.restart(name);
        const pid2 = await docker.pid(name);
        assert.notEqual(pid2, pid);
        await assert.rejects(ipIn(pid2, "link", "show", "dev", "lt-ctr"));
        // The old netns is torn down asynchronously; its veth end goes, and with it the peer here.
        await until(
          "the host end to disappear with the old container netns",
          async () => !(await ns.ip("-br", "link", "show")).includes("lt-host"),
        );
      }), { tag: "lt" }),
});
