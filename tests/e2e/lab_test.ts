/**
 * End to end: the lab's scenario (reference examples, the README's checks) on a fresh instance — its own agentx
 * namespace, podman containers and state directory named `dn42op-e2e-<id>-…`, controllers started exactly as
 * `lab:up` starts them, a Kubernetes namespace of its own on the shared test cluster — plus self-healing
 * (tests/e2e/lab_steps.ts). A running lab is never touched.
 */
import { CHECKS } from "../../lab/checks.ts";
import { labProgramPid, labSupervisorPid } from "../../lab/controllers.ts";
import { exec } from "../../kit/proc.ts";
import { applyScenario, freshInstance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { deleteExamples, inNetnsOf, LAB_EXAMPLES } from "../../lab/scenario.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";
import { labSteps } from "./lab_steps.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-e2e-";

Deno.test({
  name: "e2e: lab scenario on fresh names — README checks, hand-deleted links return, killed controller, plan change",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepInstances(PREFIX);
    if (swept.length) console.log(`swept stale e2e leftovers: ${swept.join(", ")}`);
    await withNamespace(async (k) => {
      const o = freshInstance(PREFIX, k.namespace, k.kubeconfigPath, k.server);
      o.topology.backend = "podman"; // no fallback: a podman failure fails with its own message
      try {
        const inst = await instanceUp(o);
        if (inst.topology.containers.kind !== "podman") throw new Error("podman containers expected");
        await applyScenario(inst);
        await labSteps(t, {
          names: o.names,
          kubeconfig: k.kubeconfigPath,
          checks: CHECKS,
          ctx: await inst.checkContext(),
          inNetns: async (where, cmd) =>
            where === "agentx"
              ? await exec(["ip", "netns", "exec", o.topology.agentxNetns, ...cmd])
              : await inNetnsOf(await inst.pid(where), cmd),
          programPid: (name) => labProgramPid(o.topology.stateDir, name),
          supervisorPid: (name) => labSupervisorPid(o.topology.stateDir, name),
          kill: (pid, signal) => Promise.resolve(Deno.kill(pid, signal)),
          convergeMs: 150_000,
        });
      } finally {
        // Objects carry finalizers that the controllers release: delete them while the controllers still run.
        await deleteExamples(k.kubeconfigPath, LAB_EXAMPLES, o.names).catch((e) => console.error(String(e)));
        await instanceDown(o);
      }
    }, { prefix: PREFIX });
  },
});
