/**
 * nl-controller wiring: the shared node-agent runtime (src/controllers/agent.ts) with the NetlinkInterface
 * reconciler, plus Docker container events that re-queue the objects placed in a restarted container.
 */
import { FIELD_MANAGERS, KINDS } from "../../api/constants.ts";
import { objectKey } from "../../kube/client.ts";
import type { Manager } from "../../kube/manager.ts";
import type { NetlinkInterface } from "../../api/netlink_interface.ts";
import { type AgentConfig, nodeAgent } from "../agent.ts";
import { containerKeys, followContainers } from "./containers.ts";
import { NETLINK_INTERFACES, NlReconciler } from "./reconciler.ts";

/** Program name: Event component, controller name, logs. */
export const PROGRAM = "nl-controller";

/** Builds the nl-controller's manager. */
export function nlController(c: AgentConfig): Manager {
  return nodeAgent<NetlinkInterface>(c, {
    program: PROGRAM,
    component: FIELD_MANAGERS.nlController,
    kind: "nl",
    objectKind: KINDS.NetlinkInterface.kind,
    resource: NETLINK_INTERFACES,
    reconciler: ({ manager, client, informer, docker, resolver, monitor, events, enqueue, ownWrites }) => {
      manager.add({
        name: "container events",
        start: (signal) =>
          followContainers(
            docker,
            (keys) => {
              for (const o of informer.store.list()) {
                if (containerKeys(o.spec, o.metadata.namespace ?? "").some((k) => keys.includes(k))) {
                  enqueue(objectKey(o));
                }
              }
            },
            signal,
            () => informer.store.list().some((o) => containerKeys(o.spec, o.metadata.namespace ?? "").length > 0),
          ),
      });
      return new NlReconciler({
        client,
        store: informer.store,
        resolver,
        monitor,
        events,
        nodename: c.nodename,
        namespace: c.namespace,
        dryRun: c.dryRun,
        metrics: manager.metrics,
        ownWrites,
      });
    },
  });
}
