/** The lab topology (agentx namespace + containers) with test-prefixed names, on both container backends. */
import assert from "node:assert/strict";
import { DockerClient } from "../../src/node/container.ts";
import { openLabContainers } from "../../lab/containers.ts";
import { exec, processAlive, run } from "../../kit/proc.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { netavarkChains } from "../../lab/podman/podman.ts";
import { labDown, type LabTopologyOptions, labUp } from "../../lab/topology.ts";
import { ensureContainersProfile, netnsInode } from "./podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

async function testOptions(backend: LabTopologyOptions["backend"]): Promise<Partial<LabTopologyOptions>> {
  const id = crypto.randomUUID().slice(0, 8);
  return {
    agentxNetns: `dn42op-lt-ax-${id}`,
    containers: [`dn42op-lt-a1-${id}`, `dn42op-lt-a2-${id}`],
    stateDir: await Deno.makeTempDir({ prefix: "dn42op-lt-" }),
    netnsPrefix: "",
    owner: "test",
    backend,
  };
}

const netnsExists = async (name: string) =>
  (await exec(["ip", "netns", "list"])).stdout.split("\n").some((l) => l.split(" ")[0] === name);
const ourLinks = async () => await run(["ip", "-br", "link", "show"]);

/** Asserts what every lab instance must have, whatever the backend; returns the PIDs. */
async function assertUp(o: Partial<LabTopologyOptions>, pids: Record<string, number>): Promise<void> {
  const ax = o.agentxNetns!;
  const addrs = JSON.parse(await run(["ip", "-n", ax, "-j", "addr", "show", "dev", "underlay0"]));
  assert.deepEqual(
    addrs[0].addr_info.filter((a: { family: string }) => a.family === "inet").map((
      a: { local: string; prefixlen: number },
    ) => `${a.local}/${a.prefixlen}`),
    ["192.168.65.3/24"],
  );
  assert.ok(addrs[0].flags.includes("UP"), "underlay0 is up");
  assert.ok(JSON.parse(await run(["ip", "-n", ax, "-j", "link", "show", "dev", "lo"]))[0].flags.includes("UP"));
  // The underlay address is local inside agentx (where the controllers' WireGuard sockets will live).
  assert.match(await run(["ip", "netns", "exec", ax, "ping", "-c", "1", "-W", "2", "192.168.65.3"]), /1 received/);
  const own = await netnsInode("/proc/self/ns/net");
  const seen = new Set<number>();
  for (const name of o.containers!) {
    const ino = await netnsInode(`/proc/${pids[name]}/ns/net`);
    assert.notEqual(ino, own, `${name} has its own netns`);
    seen.add(ino);
  }
  assert.equal(seen.size, o.containers!.length, "each container has a distinct netns");
}

Deno.test({
  name: "lab topology on podman: up twice is idempotent, names resolve through the Docker API, down removes all",
  ignore: skipUnless("root", "podman"),
  fn: async () => {
    const o = await testOptions("podman");
    const before = await ourLinks();
    try {
      const lab = await labUp(o);
      assert.equal(lab.containers.kind, "podman");
      await assertUp(o, lab.pids);
      using docker = new DockerClient({ dockerHost: lab.containers.dockerHost });
      for (const name of o.containers!) assert.equal(await docker.pid(name), lab.pids[name]);

      const again = await labUp(o);
      assert.deepEqual(again.pids, lab.pids, "a second up changes nothing");
      assert.equal(again.containers.dockerHost, lab.containers.dockerHost);
      await assertUp(o, again.pids);

      const [a1] = o.containers!;
      const restarted = await again.containers.restart(a1);
      assert.notEqual(restarted, lab.pids[a1]);
      assert.equal(await docker.pid(a1), restarted);
      assert.equal(await ourLinks(), before, "our own namespace's links are untouched");

      const svcPid = Number(await Deno.readTextFile(`${o.stateDir}/podman-service.pid`));
      await labDown(o);
      assert.equal(await netnsExists(o.agentxNetns!), false);
      const podman = new Podman();
      for (const name of o.containers!) assert.equal(await podman.inspect(name), null, `${name} removed`);
      assert.equal(await processAlive(svcPid), false, "API service stopped");
      await assert.rejects(Deno.stat(o.stateDir!), Deno.errors.NotFound);
      assert.deepEqual(await netavarkChains(), []);
      await labDown(o); // idempotent
    } finally {
      await labDown(o);
    }
  },
});

Deno.test({
  name: "lab topology on netns-holding processes: named namespaces, restart gives a new PID, down removes all",
  ignore: skipUnless("root"),
  fn: async () => {
    const o = await testOptions("netns-process");
    try {
      const lab = await labUp(o);
      assert.equal(lab.containers.kind, "netns-process");
      assert.equal(lab.containers.dockerHost, undefined);
      assert.match(lab.containers.fallbackReason!, /requested/);
      await assertUp(o, lab.pids);
      for (const name of o.containers!) {
        // The named netns (for `ip -n`) and the holder PID (for `ip link set … netns PID`) are the same netns.
        assert.equal(await netnsInode(`/run/netns/${name}`), await netnsInode(`/proc/${lab.pids[name]}/ns/net`));
        assert.match(await run(["ip", "-n", name, "-br", "link", "show", "dev", "lo"]), /UNKNOWN|UP/);
      }
      assert.deepEqual((await labUp(o)).pids, lab.pids, "a second up changes nothing");
      const [a1] = o.containers!;
      const pid2 = await lab.containers.restart(a1);
      assert.notEqual(pid2, lab.pids[a1]);
      assert.equal(await lab.containers.pid(a1), pid2);
      assert.equal(await processAlive(lab.pids[a1]), false, "the old holder is gone");

      await labDown(o);
      for (const name of [o.agentxNetns!, ...o.containers!]) assert.equal(await netnsExists(name), false, name);
      assert.equal(await processAlive(pid2), false);
      assert.equal(await processAlive(lab.pids[o.containers![1]]), false);
      await labDown(o);
    } finally {
      await labDown(o);
    }
  },
});

Deno.test({
  name: "lab containers fall back to netns holders, saying why, when podman cannot work",
  ignore: skipUnless("root", "podman"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dn42op-lt-" });
    try {
      // A store on a path that cannot be a directory: podman starts but cannot use its storage.
      await Deno.writeTextFile(`${dir}/file`, "");
      const broken = new Podman({
        graphRoot: `${dir}/file/storage`,
        runRoot: `${dir}/run`,
        tmpDir: `${dir}/tmp`,
        confDir: `${dir}/conf`,
      });
      const c = await openLabContainers({ stateDir: `${dir}/state`, podman: broken, netnsPrefix: "dn42op-lt-" });
      assert.equal(c.kind, "netns-process");
      assert.match(c.fallbackReason!, /podman/);
      await c.shutdown();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
