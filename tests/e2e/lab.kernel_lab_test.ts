/**
 * End to end on the kernel WireGuard module: the lab's scenario and self-healing steps (tests/e2e/lab_steps.ts)
 * with the node side in one qemu guest booting Debian's kernel (lab/kernel/): its wg-controller and nl-controller
 * for lax1 and lax2 talk to the test cluster on the host through QEMU's forward; agent1 and agent2 are named
 * network namespaces there (the examples rendered with container.netns.name); the wgplan-controller, kubectl and the
 * checks run on the host. The kernel tier runs it (it sets DN42OP_KERNEL_LAB); a plain host run skips it.
 */
import { KERNEL_CHECK_EVERY_MS, KERNEL_LAB_CHECKS } from "../../lab/kernel/lab.ts";
import {
  applyKernelScenario,
  kernelInstance,
  kernelInstanceDown,
  kernelInstanceUp,
  sweepKernelInstances,
} from "../../lab/kernel/instance.ts";
import { deleteExamples, LAB_EXAMPLES } from "../../lab/scenario.ts";
import { skipUnless } from "../helpers/caps.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { labSteps } from "./lab_steps.ts";

const PREFIX = "dn42op-kl-e2e-";

Deno.test({
  name:
    "e2e (kernel WireGuard, qemu guest): README checks incl. dummy, hand-deleted links, killed controller, plan change",
  ignore: skipUnless("root", "cluster", "kernel-lab"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepKernelInstances(PREFIX);
    if (swept.length) console.log(`swept stale kernel e2e leftovers: ${swept.join(", ")}`);
    await withNamespace(async (k) => {
      const o = kernelInstance(`/run/dn42op/${k.namespace}`, k.namespace, k.kubeconfigPath, k.server);
      try {
        const inst = await kernelInstanceUp(o, { lifetimeS: 1800 });
        await applyKernelScenario(inst);
        await labSteps(t, {
          names: o.names,
          kubeconfig: k.kubeconfigPath,
          checks: KERNEL_LAB_CHECKS,
          ctx: inst.checkContext(),
          inNetns: inst.inNetns,
          programPid: inst.programPid,
          supervisorPid: inst.supervisorPid,
          kill: (pid, signal) => inst.node.call("kill", { pid, signal }),
          convergeMs: 600_000, // the first wait includes the start of five Deno programs under emulation
          checkEveryMs: KERNEL_CHECK_EVERY_MS,
          diagnose: () => inst.logTails(),
        });
      } finally {
        await deleteExamples(k.kubeconfigPath, LAB_EXAMPLES, o.names).catch((e) => console.error(String(e)));
        await kernelInstanceDown(o);
      }
    }, { prefix: PREFIX });
  },
});
