/**
 * wgplan-controller: expands WireGuardNetworkPlans into WireGuardInterfaces and keeps them true. One active instance
 * per cluster; run several replicas with -leader-elect (default) and only the Lease holder works.
 */
import type { FlagDefs } from "./flags.ts";
import {
  COMMON_FLAGS,
  HEARTBEAT_NAMESPACE_FLAG,
  heartbeatNamespace,
  metricsAddressFlag,
  runManager,
} from "./program.ts";
import { opsListen } from "../kube/server.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { PROGRAM, wgplanController } from "../controllers/wgplan/program.ts";

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
  "heartbeat-namespace": HEARTBEAT_NAMESPACE_FLAG,
  "require-agent-heartbeat": {
    type: "bool",
    default: true,
    usage: "Make deletions wait only for nodes whose wg-controller publishes a heartbeat Lease and stopped at most " +
      "-agent-grace-period ago. false: every child waits for its node's agent (agents without heartbeats, such as " +
      "the Go implementation's).",
  },
  "agent-grace-period": {
    type: "int",
    default: 600,
    min: 0,
    usage: "Seconds after its heartbeat Lease expired that a stopped wg-controller still counts as coming back " +
      "(deletions wait for it); later it is gone for good and its children's finalizers are released.",
  },
} as const satisfies FlagDefs;

if (import.meta.main) {
  await runManager(PROGRAM, WGPLAN_FLAGS, (flags) => {
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
    return wgplanController({
      kubeConfig: loadKubeConfig({ kubeconfig: flags.kubeconfig, master: flags.master }),
      namespace,
      workers: flags["num-workers"],
      resyncPeriodMs: flags["default-resync-period"] * 1000,
      writeConcurrency: flags["write-concurrency"],
      leaderElection,
      ops: opsListen(flags["metrics-bind-address"], ":8080"),
      host: Deno.hostname(),
      agents: flags["require-agent-heartbeat"]
        ? {
          namespace: heartbeatNamespace(flags["heartbeat-namespace"], namespace),
          graceMs: flags["agent-grace-period"] * 1000,
        }
        : undefined,
    });
  });
}
