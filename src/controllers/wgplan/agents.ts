/**
 * The wg-controllers' heartbeat Leases as the plan controller sees them: an informer on the Leases labelled
 * `networking.dn42.io/node-agent=wg-controller` in the heartbeat namespace, each node's liveness
 * (src/kube/heartbeat.ts `agentLiveness`), and a callback whenever a node's state changes — on a Lease event or,
 * through a timer per node, when a Lease expires or its grace period ends without a renewal. Renewals that change
 * nothing call nothing, so a plan is not reconciled on every heartbeat.
 */
import { FIELD_MANAGERS } from "../../api/constants.ts";
import type { KubeClient } from "../../kube/client.ts";
import {
  type AgentLiveness,
  agentLiveness,
  type AgentState,
  HEARTBEAT_LABEL,
  heartbeatLeaseName,
} from "../../kube/heartbeat.ts";
import { Informer } from "../../kube/informer.ts";
import { type Lease, LEASES } from "../../kube/leaderelection.ts";

/** The program whose heartbeats matter to plans: the one that applies WireGuardInterfaces. */
const AGENT = FIELD_MANAGERS.wgController;

/** Options of an {@link AgentTracker}. */
export interface AgentTrackerOptions {
  /** Namespace of the heartbeat Leases. */
  namespace: string;
  /** How long after its Lease expired an agent still counts as coming back (Stale, not Gone). */
  graceMs: number;
  /** Called with a node's name when its agent's state changed. */
  onChange(node: string): void;
}

/** Tracks the wg-controllers' heartbeats. */
export class AgentTracker {
  readonly informer: Informer<Lease>;
  /** Wall-clock time at which this process saw a node's renewTime change. */
  readonly #observed = new Map<string, number>();
  readonly #state = new Map<string, AgentState>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(client: KubeClient, private readonly o: AgentTrackerOptions) {
    this.informer = new Informer<Lease>(client, {
      resource: LEASES,
      namespace: o.namespace,
      labelSelector: `${HEARTBEAT_LABEL}=${AGENT}`,
      name: "agent-heartbeats",
    });
    this.informer.on({
      add: (l) => this.#check(nodeOf(l)),
      update: (a, b) => {
        if (a.spec?.renewTime !== b.spec?.renewTime) this.#observed.set(nodeOf(b), Date.now());
        this.#check(nodeOf(b));
      },
      delete: (l) => {
        this.#observed.delete(nodeOf(l));
        this.#check(nodeOf(l));
      },
    });
  }

  /** The liveness of `node`'s wg-controller now. */
  liveness(node: string, nowMs = Date.now()): AgentLiveness {
    const lease = this.informer.store.get(`${this.o.namespace}/${heartbeatLeaseName(AGENT, node)}`);
    // a hashed Lease name could in theory be another node's: the holder identity names the node
    const mine = lease?.spec?.holderIdentity === node ? lease : undefined;
    return agentLiveness(mine, nowMs, this.o.graceMs, mine ? this.#observed.get(node) : undefined);
  }

  /** Stops the timers (the informer is stopped by its controller). */
  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  /** Reports a changed state of `node` and sets the timer for its next change. */
  #check(node: string): void {
    if (!node) return;
    const now = Date.now();
    const l = this.liveness(node, now);
    clearTimeout(this.#timers.get(node));
    this.#timers.delete(node);
    if (l.changesAtMs !== undefined) {
      // the Lease expires (or its grace ends): look again then
      const at = Math.min(Math.max(0, l.changesAtMs - now) + 10, 2 ** 31 - 1);
      this.#timers.set(node, setTimeout(() => this.#check(node), at));
    }
    if (this.#state.get(node) !== l.state) {
      this.#state.set(node, l.state);
      this.o.onChange(node);
    }
  }
}

function nodeOf(lease: Lease): string {
  return lease.spec?.holderIdentity ?? "";
}
