/**
 * wgplan-controller: expands WireGuardNetworkPlans into WireGuardInterfaces and keeps them true. One active instance
 * per cluster; run several replicas with -leader-elect (default) and only the Lease holder works.
 */
import type { FlagDefs } from "./flags.ts";
import { COMMON_FLAGS, metricsAddressFlag, runProgram } from "./program.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { opsListen } from "../kube/server.ts";
import { PROGRAM, runWgplanController } from "../controllers/wgplan/controller.ts";

/** Flags of the wgplan-controller: the reference's plus leader election, the ops server and write concurrency. */
export const WGPLAN_FLAGS = {
  ...COMMON_FLAGS,
  "leader-elect": {
    type: "bool",
    default: true,
    usage: "Elect a leader through a coordination.k8s.io Lease, so several replicas can run; only the leader works.",
  },
  "leader-elect-namespace": {
    type: "string",
    default: "",
    usage: 'Namespace of the Lease. Empty means -namespace, or "default" when -namespace is empty.',
  },
  "leader-elect-lease-name": { type: "string", default: PROGRAM, usage: "Name of the Lease." },
  "leader-elect-lease-duration": {
    type: "int",
    default: 15,
    min: 2,
    usage: "Seconds a standby waits after the last renewal before it takes the Lease over.",
  },
  "leader-elect-renew-deadline": {
    type: "int",
    default: 10,
    min: 1,
    usage: "Seconds the leader keeps trying to renew before it gives leadership up.",
  },
  "leader-elect-retry-period": { type: "int", default: 2, min: 1, usage: "Seconds between Lease attempts." },
  "metrics-bind-address": metricsAddressFlag(":8080"),
  "write-concurrency": {
    type: "int",
    default: 32,
    min: 1,
    max: 512,
    usage: "Maximum concurrent WireGuardInterface writes per plan.",
  },
} as const satisfies FlagDefs;

if (import.meta.main) {
  await runProgram(PROGRAM, WGPLAN_FLAGS, (flags, signal) => {
    const namespace = flags.namespace;
    const leaderElection = flags["leader-elect"]
      ? {
        namespace: flags["leader-elect-namespace"] || namespace || "default",
        leaseName: flags["leader-elect-lease-name"],
        identity: `${Deno.hostname()}_${crypto.randomUUID()}`,
        leaseDurationMs: flags["leader-elect-lease-duration"] * 1000,
        renewDeadlineMs: flags["leader-elect-renew-deadline"] * 1000,
        retryPeriodMs: flags["leader-elect-retry-period"] * 1000,
      }
      : undefined;
    return runWgplanController({
      kubeConfig: loadKubeConfig({ kubeconfig: flags.kubeconfig, master: flags.master }),
      namespace,
      workers: flags["num-workers"],
      resyncPeriodMs: flags["default-resync-period"] * 1000,
      writeConcurrency: flags["write-concurrency"],
      leaderElection,
      ops: opsListen(flags["metrics-bind-address"], ":8080"),
      host: Deno.hostname(),
    }, signal);
  });
}
