import assert from "node:assert/strict";
import {
  ContainerNotFoundError,
  ContainerNotRunningError,
  DEFAULT_DOCKER_SOCKET,
  DockerClient,
  DockerError,
  DockerUnreachableError,
  parseContainerEvent,
  parseContainerState,
  pickPodContainer,
  resolveDockerSocket,
  validateContainerName,
} from "../../src/node/container.ts";
import { netavarkChains } from "../../lab/podman/podman.ts";
import { startService } from "../../lab/podman/service.ts";
import { ensureContainersProfile, netnsInode, withPodman } from "../lab/podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

// ---- pure parts ------------------------------------------------------------------------------------------

Deno.test("resolveDockerSocket: explicit path, then DOCKER_HOST unix://, then the default", () => {
  const cases: [{ socketPath?: string; dockerHost?: string }, string][] = [
    [{}, DEFAULT_DOCKER_SOCKET],
    [{ dockerHost: "" }, DEFAULT_DOCKER_SOCKET],
    [{ dockerHost: "unix:///run/podman/podman.sock" }, "/run/podman/podman.sock"],
    [{ dockerHost: " unix:///x.sock " }, "/x.sock"],
    [{ socketPath: "/a.sock", dockerHost: "unix:///b.sock" }, "/a.sock"],
  ];
  for (const [input, want] of cases) assert.equal(resolveDockerSocket(input), want, JSON.stringify(input));
});

Deno.test("resolveDockerSocket: non-unix DOCKER_HOST is an invalid-argument error naming it", () => {
  for (const host of ["tcp://127.0.0.1:2375", "unix://relative.sock", "ssh://host", "/plain/path"]) {
    assert.throws(() => resolveDockerSocket({ dockerHost: host }), (e: unknown) => {
      assert.ok(e instanceof DockerError);
      assert.equal(e.code, "invalid-argument");
      assert.match(e.message, /DOCKER_HOST/);
      assert.ok(e.message.includes(host), e.message);
      return true;
    });
  }
});

Deno.test("DockerClient reads DOCKER_HOST from the environment; an explicit socketPath wins", () => {
  const old = Deno.env.get("DOCKER_HOST");
  try {
    Deno.env.set("DOCKER_HOST", "unix:///tmp/dn42op-lt-env.sock");
    using a = new DockerClient();
    assert.equal(a.socketPath, "/tmp/dn42op-lt-env.sock");
    using b = new DockerClient({ socketPath: "/tmp/explicit.sock" });
    assert.equal(b.socketPath, "/tmp/explicit.sock");
    Deno.env.delete("DOCKER_HOST");
    using c = new DockerClient();
    assert.equal(c.socketPath, DEFAULT_DOCKER_SOCKET);
  } finally {
    if (old === undefined) Deno.env.delete("DOCKER_HOST");
    else Deno.env.set("DOCKER_HOST", old);
  }
});

Deno.test("validateContainerName accepts Docker names and IDs, rejects the rest", () => {
  const id = "479cd83fb3b4e1033a8e84c95d5592aba00e9e0b789162b104cb20ec00a18364";
  for (const [n, want] of [["agent1", "agent1"], ["/agent1", "agent1"], ["a", "a"], ["a_b.c-d", "a_b.c-d"], [id, id]]) {
    assert.equal(validateContainerName(n, "op"), want);
  }
  for (const bad of ["", "/", "-x", ".x", "a b", "x/y", "../etc", "a?b", "a".repeat(300)]) {
    assert.throws(() => validateContainerName(bad, "op"), (e: unknown) => {
      assert.ok(e instanceof DockerError && e.code === "invalid-argument", String(e));
      assert.match(e.message, /^op: invalid container name/);
      return true;
    }, bad);
  }
});

Deno.test("parseContainerState decodes inspect bodies and rejects malformed ones", () => {
  const body = {
    Id: "abc",
    Name: "/agent1",
    State: { Status: "running", Running: true, Pid: 4242, StartedAt: "2026-11-25T15:37:56Z" },
  };
  assert.deepEqual(parseContainerState(body, "op"), {
    id: "abc",
    name: "agent1",
    running: true,
    status: "running",
    pid: 4242,
    startedAt: "2026-11-25T15:37:56Z",
    labels: {},
  });
  const stopped = { Id: "abc", Name: "/a", State: { Status: "exited", Running: false, Pid: 0 } };
  assert.equal(parseContainerState(stopped, "op").running, false);
  for (const bad of [null, {}, { Id: "x" }, { Id: "x", State: { Pid: "1", Running: true } }, { Id: "x", State: {} }]) {
    assert.throws(() => parseContainerState(bad, "op"), (e: unknown) => e instanceof DockerError && e.code === "api");
  }
});

Deno.test("parseContainerEvent decodes Docker and podman event lines", () => {
  const docker = JSON.stringify({
    status: "start",
    id: "abc",
    from: "busybox",
    Type: "container",
    Action: "start",
    Actor: { ID: "abc", Attributes: { name: "agent1", image: "busybox" } },
    scope: "local",
    time: 1764085076,
    timeNano: 1764085076123456789,
  });
  const e = parseContainerEvent(docker)!;
  assert.equal(e.action, "start");
  assert.equal(e.id, "abc");
  assert.equal(e.name, "agent1");
  assert.equal(Math.floor(e.time.getTime() / 1000), 1764085076);
  const legacy = parseContainerEvent(JSON.stringify({ status: "die", id: "def", time: 1 }))!;
  assert.deepEqual(legacy, { action: "die", id: "def", name: "", pod: "", time: new Date(1000) });
  const podEvent = parseContainerEvent(JSON.stringify({
    Type: "container",
    Action: "start",
    Actor: {
      ID: "p1",
      Attributes: { name: "k8s_POD_web-0", "io.kubernetes.pod.namespace": "team-a", "io.kubernetes.pod.name": "web-0" },
    },
  }))!;
  assert.equal(podEvent.pod, "team-a/web-0");
  assert.equal(parseContainerEvent(JSON.stringify({ Type: "network", Action: "connect", Actor: { ID: "n" } })), null);
  assert.equal(parseContainerEvent("{not json"), null);
  assert.equal(parseContainerEvent(JSON.stringify({ Type: "container" })), null);
});

// ---- real sockets, no daemon -------------------------------------------------------------------------------

Deno.test("a missing socket gives DockerUnreachableError naming the socket and the OS error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-lt-" });
  try {
    using c = new DockerClient({ socketPath: `${dir}/absent.sock` });
    await assert.rejects(c.pid("agent1"), (e: unknown) => {
      assert.ok(e instanceof DockerUnreachableError, String(e));
      assert.equal(e.code, "unreachable");
      assert.ok(e.message.includes(`unix://${dir}/absent.sock`), e.message);
      assert.match(e.message, /No such file or directory/);
      assert.equal(e.timedOut, false);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an invalid name fails before any I/O, even with no daemon", async () => {
  using c = new DockerClient({ socketPath: "/nonexistent/dn42op.sock" });
  await assert.rejects(c.pid("../x"), (e: unknown) => e instanceof DockerError && e.code === "invalid-argument");
});

Deno.test("a daemon that never answers times out as DockerUnreachableError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-lt-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/silent.sock` });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // accept, never answer
  })();
  try {
    using c = new DockerClient({ socketPath: `${dir}/silent.sock`, timeoutMs: 200 });
    const t = performance.now();
    await assert.rejects(c.inspect("agent1"), (e: unknown) => {
      assert.ok(e instanceof DockerUnreachableError, String(e));
      assert.match(e.message, /no answer within 200 ms/);
      assert.equal(e.timedOut, true);
      return true;
    });
    assert.ok(performance.now() - t < 5000, "the timeout must end the request");
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pickPodContainer: only exact pod labels count; the sandbox first, else the oldest", () => {
  const pod = (id: string, ns: string, name: string, created: number, extra: Record<string, string> = {}) => ({
    Id: id,
    Created: created,
    Labels: { "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.name": name, ...extra },
  });
  const list = [
    pod("app", "team-a", "web-0", 10),
    pod("old", "team-a", "web-0", 5),
    pod("other-ns", "team-b", "web-0", 1),
    pod("prefix", "team-a", "web-01", 1),
    { Id: "plain", Created: 1, Labels: { name: "agent1" } },
  ];
  assert.equal(pickPodContainer(list, "team-a", "web-0"), "old");
  const sandbox = pod("sandbox", "team-a", "web-0", 20, { "io.kubernetes.docker.type": "podsandbox" });
  assert.equal(pickPodContainer([...list, sandbox], "team-a", "web-0"), "sandbox");
  assert.equal(pickPodContainer(list, "team-c", "web-0"), null);
  assert.equal(pickPodContainer({ message: "not a list" }, "team-a", "web-0"), null);
});

// ---- against podman's Docker-compatible API ------------------------------------------------------------------

Deno.test({
  name: "podman API: a pod is found only by the kubelet labels of its own namespace",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withPodman(async ({ service, container }) => {
      const ns = `dn42op-ten-${crypto.randomUUID().slice(0, 6)}`;
      const labels = (namespace: string) => ({
        "io.kubernetes.pod.namespace": namespace,
        "io.kubernetes.pod.name": "router-0",
      });
      const mine = await container("pod", labels(ns));
      await container("pod", labels(`${ns}-other`));
      using c = new DockerClient({ dockerHost: service.dockerHost });
      assert.equal(await c.podPid(ns, "router-0"), mine.pid);
      assert.equal((await c.inspect(mine.name)).labels["io.kubernetes.pod.namespace"], ns);
      await assert.rejects(c.podPid(`${ns}-x`, "router-0"), ContainerNotFoundError);
      await assert.rejects(c.podPid(ns, "router-1"), /no running container carries the labels of this pod/);
      await assert.rejects(c.podPid("", "router-0"), (e: unknown) =>
        e instanceof DockerError && e.code === "invalid-argument");
    }),
});

Deno.test({
  name: "podman API: container name resolves to its init PID in another network namespace",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withPodman(async ({ podman, service, container }) => {
      const { name, pid: podmanPid } = await container();
      using c = new DockerClient({ dockerHost: service.dockerHost });
      await c.ping();
      const st = await c.inspect(name);
      assert.equal(st.name, name);
      assert.equal(st.running, true);
      assert.equal(st.pid, podmanPid, "the API and `podman inspect` agree on the PID");
      assert.equal(await c.pid(name), podmanPid);
      assert.equal(await c.netnsPath(name), `/proc/${podmanPid}/ns/net`);
      assert.notEqual(await netnsInode(`/proc/${podmanPid}/ns/net`), await netnsInode("/proc/self/ns/net"));
      assert.equal(await podman.pid(name), podmanPid);
    }),
});

Deno.test({
  name: "podman API: a stopped container is not-running, a restarted one has a new PID and netns",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withPodman(async ({ podman, service, container }) => {
      const { name, pid: first } = await container();
      using c = new DockerClient({ socketPath: service.socketPath });
      // Hold each old netns open: a freed netns's inode number can be reused by the next one.
      using firstNs = await Deno.open(`/proc/${first}/ns/net`);

      await podman.stop(name);
      await assert.rejects(c.pid(name), (e: unknown) => {
        assert.ok(e instanceof ContainerNotRunningError, String(e));
        assert.equal(e.code, "not-running");
        assert.equal(e.container, name);
        assert.ok(e.message.includes(`"${name}"`) && /exited|stopped/.test(e.message), e.message);
        return true;
      });

      await podman.start(name);
      const second = await c.pid(name);
      assert.notEqual(second, first);
      using secondNs = await Deno.open(`/proc/${second}/ns/net`);
      assert.notEqual((await secondNs.stat()).ino, (await firstNs.stat()).ino);

      await podman.restart(name);
      const third = await c.pid(name);
      assert.notEqual(third, second);
      const thirdIno = await netnsInode(`/proc/${third}/ns/net`);
      assert.notEqual(thirdIno, (await secondNs.stat()).ino);
      assert.notEqual(thirdIno, (await firstNs.stat()).ino);
    }),
});

Deno.test({
  name: "podman API: the event stream reports a restart of the watched container",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withPodman(async ({ podman, service, container }) => {
      const { name } = await container();
      const other = await container("other");
      using c = new DockerClient({ socketPath: service.socketPath });
      const ac = new AbortController();
      const seen: { action: string; name: string; time: Date }[] = [];
      await podman.restart(other.name); // filtered out
      const since = new Date();
      await podman.restart(name); // before the stream opens: `since` replays it
      const started = new Promise<void>((resolve) => {
        (async () => {
          for await (const e of c.events({ containers: [name], since, signal: ac.signal })) {
            seen.push({ action: e.action, name: e.name, time: e.time });
            if (e.action === "start") resolve();
          }
        })().catch(() => {});
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((_, reject) => timer = setTimeout(() => reject(new Error("no start event")), 10_000));
      try {
        await Promise.race([started, timeout]);
      } finally {
        clearTimeout(timer);
        ac.abort();
      }
      assert.ok(
        seen.every((e) => e.time >= since),
        `only events since ${since.toISOString()}: ${JSON.stringify(seen)}`,
      );
      assert.ok(seen.some((e) => e.action === "start" && e.name === name), JSON.stringify(seen));
      assert.ok(seen.every((e) => e.name === name), `only the watched container: ${JSON.stringify(seen)}`);
    }),
});

Deno.test({
  name: "podman API: unknown name is not-found, service down is unreachable, and the client survives a restart",
  ignore: skipUnless("root", "podman"),
  fn: () =>
    withPodman(async ({ podman, service, paths, container }) => {
      const { name, pid } = await container();
      using c = new DockerClient({ socketPath: service.socketPath });
      await assert.rejects(c.pid("dn42op-lt-nosuch"), (e: unknown) => {
        assert.ok(e instanceof ContainerNotFoundError, String(e));
        assert.equal(e.code, "not-found");
        assert.equal(e.status, 404);
        assert.equal(e.container, "dn42op-lt-nosuch");
        assert.ok(e.message.includes('"dn42op-lt-nosuch"'), e.message);
        return true;
      });
      await service.stop();
      await assert.rejects(c.pid("dn42op-lt-nosuch"), (e: unknown) => {
        assert.ok(e instanceof DockerUnreachableError, String(e));
        assert.ok(e.message.includes(service.socketPath), e.message);
        return true;
      });
      // The same client (with its pooled connections) works again once a service is back on the socket.
      const again = await startService(podman, paths);
      try {
        assert.equal(await c.pid(name), pid);
      } finally {
        await again.stop();
      }
      assert.deepEqual(await netavarkChains(), [], "podman with --network none must leave no NETAVARK chains");
    }),
});
