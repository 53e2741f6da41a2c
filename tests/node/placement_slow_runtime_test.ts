/**
 * A busy container runtime is not a missing container: when the Docker API is reached but does not answer in time,
 * a docker placement keeps the namespace of its last lookup while the PID found then still has that namespace; a
 * refused connection, a container that went away or a new namespace behind the PID end that. A lookup cancelled
 * because the agent stops is no placement error at all.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";
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
        const r = new NamespaceResolver({ docker: runtime([pid, slow(), slow(), refused(), pid, slow()]) });
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
