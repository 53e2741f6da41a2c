/**
 * nl-controller: converges this node's NetlinkInterfaces (dummy, bridge, vxlan, veth, vlan, macvlan) into the
 * kernel and keeps them there. Reference flags work unchanged; ours: -metrics-bind-address, -docker-host.
 */
import type { FlagDefs } from "./flags.ts";
import { COMMON_FLAGS, metricsAddressFlag, NODE_FLAGS, runProgram } from "./program.ts";
import { runNlController } from "../controllers/nl/run.ts";
import { opsListen } from "../kube/server.ts";

const FLAGS = {
  ...COMMON_FLAGS,
  ...NODE_FLAGS,
  "metrics-bind-address": metricsAddressFlag(":8081"),
  "docker-host": {
    type: "string",
    default: "",
    usage: "Docker Engine API socket (unix:///path); empty means $DOCKER_HOST or /var/run/docker.sock.",
  },
} as const satisfies FlagDefs;

if (import.meta.main) {
  await runProgram("nl-controller", FLAGS, (f, signal) =>
    runNlController({
      kubeconfig: f.kubeconfig as string,
      master: f.master as string,
      namespace: f.namespace as string,
      nodename: f.nodename as string,
      workers: f["num-workers"] as number,
      resyncSeconds: f["default-resync-period"] as number,
      dryRun: f["dry-run"] as boolean,
      ops: opsListen(f["metrics-bind-address"] as string, ":8081"),
      dockerHost: f["docker-host"] as string,
    }, signal));
}
