import assert from "node:assert/strict";
import { WGPLAN_FLAGS } from "../../src/cmd/wgplan-controller.ts";
import { parseProgramFlags } from "../../src/cmd/program.ts";
import { opsListen } from "../../src/kube/server.ts";

Deno.test("wgplan-controller flags: the reference's invocation works unchanged; ours have safe defaults", () => {
  const ref = parseProgramFlags("wgplan-controller", WGPLAN_FLAGS, ["-kubeconfig", "/k", "-v", "4", "-namespace=ns"]);
  assert.ok("flags" in ref);
  assert.equal(ref.flags.kubeconfig, "/k");
  assert.equal(ref.flags.namespace, "ns");
  assert.equal(ref.flags["leader-elect"], true);
  assert.deepEqual(opsListen(ref.flags["metrics-bind-address"], ":8080"), {
    address: ":8080",
    fallbackToFreePort: true,
  });
  const ours = parseProgramFlags("wgplan-controller", WGPLAN_FLAGS, [
    "-leader-elect=false",
    "--metrics-bind-address",
    "0",
    "-write-concurrency=8",
  ]);
  assert.ok("flags" in ours);
  assert.equal(opsListen(ours.flags["metrics-bind-address"], ":8080"), undefined);
  assert.equal(ours.flags["leader-elect"], false);
  assert.equal(ours.flags["write-concurrency"], 8);
  let usage = "";
  const bad = parseProgramFlags("wgplan-controller", WGPLAN_FLAGS, ["-write-concurrency=0"], (t) => (usage = t));
  assert.deepEqual(bad, { exitCode: 2 });
  assert.match(usage, /invalid value 0 for flag -write-concurrency: < 1/);
});
