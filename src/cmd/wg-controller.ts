/**
 * wg-controller: one per node. Converges this node's WireGuardInterface objects (spec.node = -nodename) to the
 * kernel: links, addresses, MTU, WireGuard devices (kernel module or wireguard-go), in the host namespace or
 * moved into a container's namespace. Reference flags plus ours (-wg-poll-interval, -wg-status-stats-interval,
 * -wg-backend, -docker-host, -metrics-bind-address, -wg-state-dir, -wireguard-go-holder).
 */
import { PROGRAM, wgController } from "../controllers/wg/program.ts";
import { logger } from "../log/mod.ts";
import type { BackendChoice } from "../wireguard/client.ts";
import { agentConfig, COMMON_FLAGS, metricsAddressFlag, NODE_FLAGS, runManager } from "./program.ts";

/** Where /metrics, /healthz and /readyz listen unless -metrics-bind-address says otherwise. */
const OPS_DEFAULT = ":8080";

/** Flags of wg-controller. */
export const WG_CONTROLLER_FLAGS = {
  ...COMMON_FLAGS,
  ...NODE_FLAGS,
  "num-workers": {
    ...COMMON_FLAGS["num-workers"],
    default: 8,
    usage: "Number of reconcile workers (the reference's default is 1; starting wireguard-go daemons one at a time " +
      "makes a cold start of many interfaces needlessly slow).",
  },
  "default-resync-period": {
    ...COMMON_FLAGS["default-resync-period"],
    usage: "Seconds between full resyncs of every object (drift detection). Keys from Secrets are read again at " +
      "least this often (and on every spec change): a rotated Secret is applied within this period plus " +
      "-wg-poll-interval.",
  },
  "wg-poll-interval": {
    type: "int",
    default: 10,
    min: 1,
    usage: "Seconds between WireGuard device polls (peer, key and port drift cannot be watched).",
  },
  "wg-status-stats-interval": {
    type: "int",
    default: 60,
    min: 0,
    usage: "Seconds between status writes that only update peer counters (latest handshake, bytes) of an " +
      "object; other status changes are written at once. 0 writes counters on every change.",
  },
  "wg-backend": {
    type: "string",
    default: "auto",
    choices: ["auto", "kernel", "userspace"],
    usage: "WireGuard implementation: auto (kernel module if present, else wireguard-go), kernel, userspace.",
  },
  "docker-host": {
    type: "string",
    default: "",
    usage: "Docker Engine API socket as unix:///path (default $DOCKER_HOST, else /var/run/docker.sock).",
  },
  "metrics-bind-address": metricsAddressFlag(OPS_DEFAULT),
  "wg-state-dir": {
    type: "string",
    default: "",
    usage: "Directory of this agent's wireguard-go PID, log and UAPI socket files (daemons found there after a " +
      "restart are adopted; daemons of other directories are never touched). Empty: " +
      "/run/dn42op/wireguard-go/<-namespace, _all for all>/<-nodename>, one per agent.",
  },
  "wireguard-go-holder": {
    type: "string",
    default: "",
    usage: "Unix socket of a wireguard-go-holder that starts the wireguard-go daemons (in its container, so that " +
      "they survive a restart of ours). Empty: this program starts them.",
  },
} as const;

if (import.meta.main) {
  await runManager(PROGRAM, WG_CONTROLLER_FLAGS, (f) => {
    if (!f.nodename) {
      logger(PROGRAM).error("-nodename is required");
      return 2;
    }
    return wgController({
      ...agentConfig(f, OPS_DEFAULT),
      pollIntervalSeconds: f["wg-poll-interval"],
      statsIntervalSeconds: f["wg-status-stats-interval"],
      backend: f["wg-backend"] as BackendChoice,
      stateDir: f["wg-state-dir"],
      holder: f["wireguard-go-holder"],
    });
  });
}
