/**
 * A busy container runtime is not a missing container: when the Docker API is reached but does not answer in time,
 * a docker placement keeps the namespace of its last lookup while the PID found then still has that namespace; a
 * refused connection, a container that went away or a new namespace behind the PID end that. A lookup cancelled
 * because the agent stops is no placement error at all. A lookup less than a second old is reused while its PID still
 * has the namespace it found.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
import { until } from "../../kit/wait.ts";
import { type DockerClient, DockerUnreachableError } from "../../src/node/container.ts";
import { NamespaceResolver, PlacementError } from "../../src/node/placement.ts";

/** A Docker API double: the answers to `pid()` in order (a number, or an error to throw). */
function runtime(answers: (number | Error)[]): DockerClient {
  return {
    pid: (name: string) => {
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected lookup of ${name}`);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  } as unknown as DockerClient;
}

const slow = () =>
  new DockerUnreachableError("/run/test.sock", "inspect container", "no answer within 5000 ms", undefined, true);
const refused = () => new DockerUnreachableError("/run/test.sock", "inspect container", "connection refused");

async function placementError(r: NamespaceResolver): Promise<PlacementError> {
  try {
    await r.resolve({ kind: "docker", name: "agent1" });
  } catch (e) {
    if (e instanceof PlacementError) return e;
    throw e;
  }
  throw new Error("resolved");
}

Deno.test({
  name: "placement: a Docker API timeout keeps the last namespace while its PID still has it; nothing else does",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (ns) => {
      const sleeper = new Deno.Command("ip", { args: ["netns", "exec", ns.name, "sleep", "600"] }).spawn();
      try {
        const pid = sleeper.pid;
        const answers = [pid, slow(), slow(), refused(), pid, slow()];
        // Every resolve asks the runtime here (no reuse of a recent lookup), so each answer above is used in turn.
        const r = new NamespaceResolver({ docker: runtime(answers), containerLookupTtlMs: 0 });
        try {
          const first = await r.resolve({ kind: "docker", name: "agent1" });
          assert.equal(first.label, `docker agent1 (pid ${pid})`);
          for (const n of [1, 2]) {
            assert.equal(await r.resolve({ kind: "docker", name: "agent1" }), first, `timeout ${n}: same target`);
          }
          const e = await placementError(r);
          assert.match(e.message, /connection refused/, "a refused connection is reported at once");
          assert.equal((await r.resolve({ kind: "docker", name: "agent1" })).id, first.id, "answered again");
          sleeper.kill("SIGKILL");
          await sleeper.status;
          const gone = await placementError(r);
          assert.match(gone.message, /no answer within 5000 ms/, "its PID is gone: the timeout is reported");
          assert.equal(gone.transient, true);
        } finally {
          await r.close();
        }
      } finally {
        try {
          sleeper.kill("SIGKILL");
        } catch { /* already ended */ }
        await sleeper.status;
      }
    }, { tag: "pl" }),
});

Deno.test({
  name: "placement: a lookup cancelled by the agent's shutdown rejects with the cancellation, not a PlacementError",
  fn: async () => {
    let asked!: () => void;
    const lookupStarted = new Promise<void>((r) => asked = r);
    const hanging = {
      pid: (_: string, signal?: AbortSignal) =>
        new Promise<number>((_, reject) => {
          asked();
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    } as unknown as DockerClient;
    const r = new NamespaceResolver({ docker: hanging });
    try {
      const stop = new AbortController();
      const resolving = r.resolve({ kind: "docker", name: "agent1" }, stop.signal);
      await lookupStarted;
      const reason = new DOMException("agent stopping", "AbortError");
      stop.abort(reason);
      await assert.rejects(resolving, (e) => e === reason);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "placement: a container lookup is reused within its TTL while its PID still has the namespace",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (a, b) => {
      const sleep = (ns: string) => new Deno.Command("ip", { args: ["netns", "exec", ns, "sleep", "600"] }).spawn();
      const first = sleep(a.name);
      const second = sleep(b.name);
      const own = await Deno.readLink("/proc/self/ns/net");
      for (const c of [first, second]) {
        await until("the sleeper in its namespace", async () => (await Deno.readLink(`/proc/${c.pid}/ns/net`)) !== own);
      }
      const counted = (answers: number[]) => {
        const c = { lookups: 0, docker: {} as DockerClient };
        c.docker = { pid: () => (c.lookups++, Promise.resolve(answers.shift()!)) } as unknown as DockerClient;
        return c;
      };
      const p = { kind: "docker", name: "agent1" } as const;
      const rt = counted([first.pid, first.pid, second.pid]);
      const r = new NamespaceResolver({ docker: rt.docker, containerLookupTtlMs: 60_000 });
      const rt0 = counted([second.pid, second.pid]);
      const r0 = new NamespaceResolver({ docker: rt0.docker, containerLookupTtlMs: 0 });
      try {
        const t1 = await r.resolve(p);
        assert.equal(await r.resolve(p), t1, "within the TTL: the same target");
        assert.equal(rt.lookups, 1, "within the TTL: the runtime was asked once");
        assert.equal(await r.resolve(p, undefined, { fresh: true }), t1, "fresh (a deletion): asked again");
        assert.equal(rt.lookups, 2, "fresh: the runtime was asked");
        // The container restarts: its old PID is gone, so the runtime is asked at once, TTL or not.
        first.kill("SIGKILL");
        await first.status;
        const t2 = await r.resolve(p);
        assert.equal(rt.lookups, 3, "a PID that is gone is looked up again");
        assert.notEqual(t2.id, t1.id, "and the new PID's namespace is used");
        await r0.resolve(p);
        await r0.resolve(p);
        assert.equal(rt0.lookups, 2, "TTL 0: every resolve asks the runtime");
      } finally {
        await r.close();
        await r0.close();
        for (const c of [first, second]) {
          try {
            c.kill("SIGKILL");
          } catch { /* already ended */ }
          await c.status;
        }
      }
    }, { count: 2, tag: "pl" }),
});
