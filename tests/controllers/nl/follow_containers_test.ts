/**
 * nl-controller's container events (src/controllers/nl/containers.ts) against an in-memory Docker client: no event
 * stream while no object names a container, and events enqueue their container once one does.
 */
import assert from "node:assert/strict";
import { followContainers } from "../../../src/controllers/nl/containers.ts";
import type { ContainerEvent, DockerClient } from "../../../src/node/container.ts";
import { until } from "../../../kit/wait.ts";

/** A Docker client whose event stream yields `events` once per open, then stays open until aborted. */
function fakeDocker(events: ContainerEvent[]) {
  const opened: { actions?: string[] }[] = [];
  const docker = {
    async *events(opts: { actions?: string[]; signal?: AbortSignal } = {}) {
      opened.push({ actions: opts.actions });
      yield* events;
      await new Promise<void>((resolve) => opts.signal?.addEventListener("abort", () => resolve(), { once: true }));
    },
  } as unknown as DockerClient;
  return { docker, opened };
}

Deno.test("nl containers: no Docker event stream while no object names a container; then events enqueue it", async () => {
  const { docker, opened } = fakeDocker([{ action: "start", id: "1", name: "c1", pod: "", time: new Date() }]);
  const enqueued: string[] = [];
  let asked = 0;
  let named = false;
  const ctl = new AbortController();
  const running = followContainers(docker, (keys) => enqueued.push(...keys), ctl.signal, () => {
    asked++;
    return named;
  }, 5);
  try {
    await until("asked three times whether an object names a container", () => asked >= 3, 5_000, 5);
    assert.equal(opened.length, 0, "no event stream opened while no object names a container");
    named = true;
    await until("the container's event enqueued", () => enqueued.includes("docker:c1"), 5_000, 5);
    assert.equal(opened.length, 1);
    assert.deepEqual(opened[0].actions, ["start", "die", "restart"]);
  } finally {
    ctl.abort();
    await running;
  }
});
