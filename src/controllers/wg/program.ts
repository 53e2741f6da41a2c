/**
 * wg-controller wiring: the shared node-agent runtime (src/controllers/agent.ts) with the WireGuardInterface
 * reconciler and this node's WireGuard devices (kernel module or wireguard-go daemons).
 */
import { FIELD_MANAGERS, KINDS } from "../../api/constants.ts";
import type { WireGuardInterface } from "../../api/wireguard_interface.ts";
import type { Manager } from "../../kube/manager.ts";
import { agentStateDir, WgNode } from "../../node/wireguard/apply.ts";
import type { BackendChoice } from "../../wireguard/client.ts";
import { type AgentConfig, nodeAgent } from "../agent.ts";
import { PeerMetrics } from "./peer_metrics.ts";
import { WGI_RESOURCE, WgReconciler } from "./reconciler.ts";

/** Program name: Event component, controller name, logs. */
export const PROGRAM = "wg-controller";

/** wg-controller's own settings. */
export interface WgConfig extends AgentConfig {
  pollIntervalSeconds: number;
  statsIntervalSeconds: number;
  backend: BackendChoice;
  /** Directory of this agent's wireguard-go PID, log and socket files; "" = agentStateDir. */
  stateDir: string;
  /** Unix socket of the wireguard-go-holder that starts the daemons; "" = this program starts them. */
  holder: string;
}

/** Builds the wg-controller's manager. */
export function wgController(c: WgConfig): Manager {
  return nodeAgent<WireGuardInterface>(c, {
    program: PROGRAM,
    component: FIELD_MANAGERS.wgController,
    kind: "wg",
    objectKind: KINDS.WireGuardInterface.kind,
    resource: WGI_RESOURCE,
    reconciler: ({ manager, client, informer, resolver, monitor, events, ownWrites }) => {
      const agent = { node: c.nodename, namespace: c.namespace };
      const node = new WgNode(resolver.host.ns, {
        agent,
        backend: c.backend,
        // a loaded node can take seconds to start a daemon; killing and retrying it would only add work
        wireguardGo: {
          stateDir: c.stateDir || agentStateDir(agent),
          startTimeoutMs: 30_000,
          holder: c.holder || undefined,
        },
      });
      resolver.listen({ closing: (t) => node.forget(t.ns) });
      return new WgReconciler({
        client,
        informer,
        resolver,
        node,
        monitor,
        events,
        nodename: c.nodename,
        namespace: c.namespace,
        dryRun: c.dryRun,
        pollIntervalMs: c.pollIntervalSeconds * 1000,
        statsIntervalMs: c.statsIntervalSeconds * 1000,
        keyMaxAgeMs: c.resyncSeconds * 1000,
        metrics: manager.metrics,
        controllerName: PROGRAM,
        peers: new PeerMetrics(manager.metrics.registry, c.nodename),
        ownWrites,
      });
    },
  });
}
