/**
 * nl-controller: converges this node's NetlinkInterfaces (dummy, bridge, vxlan, veth, vlan, macvlan) into the
 * kernel and keeps them there. Reference flags work unchanged; ours: -metrics-bind-address, -docker-host.
 */
import type { FlagDefs } from "./flags.ts";
import { agentConfig, COMMON_FLAGS, metricsAddressFlag, NODE_FLAGS, runManager } from "./program.ts";
import { nlController, PROGRAM } from "../controllers/nl/program.ts";
import { logger } from "../log/mod.ts";

/** Where /metrics, /healthz and /readyz listen unless -metrics-bind-address says otherwise. */
const OPS_DEFAULT = ":8081";

const FLAGS = {
  ...COMMON_FLAGS,
  ...NODE_FLAGS,
  "metrics-bind-address": metricsAddressFlag(OPS_DEFAULT),
  "docker-host": {
    type: "string",
    default: "",
    usage: "Docker Engine API socket (unix:///path); empty means $DOCKER_HOST or /var/run/docker.sock.",
  },
} as const satisfies FlagDefs;

if (import.meta.main) {
  await runManager(PROGRAM, FLAGS, (f) => {
    if (!f.nodename) {
      logger(PROGRAM).warn("-nodename is empty: only objects with an empty spec.node would match; none will");
    }
    return nlController(agentConfig(f, OPS_DEFAULT));
  });
}
