/**
 * The reference README's commands verbatim: `wg-controller --kubeconfig <path> -nodename lax1 -v 4`, the same for
 * lax2, `nl-controller --kubeconfig <path> -nodename lax1 -v 4` and lax2, `wgplan-controller --kubeconfig=<path> -v 4`
 * — no other flag — all five in one network namespace (a fresh lab instance's agentx, `dn42op-ref-<id>-…`), acting on
 * namespace `default` of the test cluster (in turn with the other test that writes there, kit/cluster.ts). They must all keep running (the default metrics ports are taken by the
 * first of each), converge the README's scenario and stay stable over three resync periods (the default 30 s).
 */
import assert from "node:assert/strict";
import * as checks from "../../lab/checks.ts";
import { labLogFile, labProgramPid } from "../../lab/controllers.ts";
import { freshInstance, instanceDown, stabilityTarget, sweepInstances } from "../../lab/instance.ts";
import { scenarioConverged } from "./lab_steps.ts";
import { deleteExamples, LAB_EXAMPLES } from "../../lab/scenario.ts";
import { stabilityChecks } from "../../lab/stability.ts";
import { withFixedNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-ref-";
const PROGRAMS = [
  "wg-controller-lax1",
  "nl-controller-lax1",
  "wg-controller-lax2",
  "nl-controller-lax2",
  "wgplan-controller",
];

Deno.test({
  name: "e2e: the reference README's five commands verbatim in one namespace converge and stay stable for 3 resyncs",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withFixedNamespace("default", async (k) => {
      const swept = await sweepInstances(PREFIX);
      if (swept.length) console.log(`swept stale leftovers: ${swept.join(", ")}`);
      const o = { ...freshInstance(PREFIX, "default", k.kubeconfigPath, k.server), flags: "reference" as const };
      const logs = () => Promise.all(PROGRAMS.map((n) => Deno.readTextFile(labLogFile(o.topology.stateDir, n))));
      try {
        const { ctx } = await scenarioConverged(o);
        const pids = await Promise.all(PROGRAMS.map((n) => labProgramPid(o.topology.stateDir, n)));
        const stable = await stabilityChecks(ctx, stabilityTarget(o), 95_000);
        console.log(checks.formatTable(stable));
        assert.ok(stable.every((r) => r.status === "ok"), `not stable:\n${checks.formatTable(stable)}`);
        assert.deepEqual(await Promise.all(PROGRAMS.map((n) => labProgramPid(o.topology.stateDir, n))), pids);
        const text = await logs();
        for (const [i, log] of text.entries()) {
          assert.doesNotMatch(log, /exited with status/, `${PROGRAMS[i]} never exited`);
          assert.match(log, /serving \/metrics \/healthz \/readyz/, `${PROGRAMS[i]} serves /metrics`);
        }
        const fellBack = text.filter((l) => /default metrics address in use/.test(l)).length;
        assert.equal(fellBack, 3, "two of the three programs wanting :8080 and one of the two wanting :8081");
      } catch (e) {
        for (const [i, log] of (await logs().catch(() => [])).entries()) {
          console.error(`--- ${PROGRAMS[i]}\n${log.slice(-3000)}`);
        }
        throw e;
      } finally {
        // Objects carry finalizers that the controllers release: delete them while the controllers still run.
        await deleteExamples(k.kubeconfigPath, LAB_EXAMPLES, o.names).catch((e) => console.error(String(e)));
        await instanceDown(o);
      }
    }),
});
