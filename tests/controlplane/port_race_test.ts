/** clusterUp starts again with new ports only when a daemon lost the race for a probed free port. */
import assert from "node:assert/strict";
import { ClusterError, isPortRace } from "../../scripts/cluster.ts";
import { DaemonStartError } from "../../kit/proc.ts";

Deno.test("cluster: a port taken between probe and bind is told apart from other start failures", () => {
  const etcdLog =
    '{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:42873: bind: address already in use"}';
  const cases: [string, unknown, boolean][] = [
    [
      "etcd's fatal line, wrapped",
      new ClusterError("cluster:up failed", { cause: new DaemonStartError(etcdLog) }),
      true,
    ],
    [
      "apiserver's message",
      new DaemonStartError("failed to listen on 127.0.0.1:4000: bind: Address already in use"),
      true,
    ],
    [
      "another failure",
      new ClusterError("cluster:up failed", { cause: new DaemonStartError("etcd: permission denied") }),
      false,
    ],
    ["not an error", "address already in use", false],
  ];
  for (const [what, e, want] of cases) assert.equal(isPortRace(e), want, what);
});
