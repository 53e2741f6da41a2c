/**
 * Node-agent heartbeats: each node agent renews a coordination.k8s.io/v1 Lease per (program, node), as the kubelet
 * does in kube-node-lease, so the plan controller can tell a node whose agent runs, stopped a short while ago, is gone
 * for good, or never ran (see {@link agentLiveness}; docs/plan-lifecycle.md).
 *
 * The Lease: name `<program>-<node>` (a hash of the node when that is no valid object name), label
 * {@link HEARTBEAT_LABEL}`=<program>`, `spec.holderIdentity` = the node name, `leaseDurationSeconds`, `renewTime`.
 * Renewals are merge patches (no read, no conflicts between two instances of one node's agent during a rollout);
 * the first one creates the Lease. A stopped agent leaves its Lease behind: that it ran is what keeps deletions
 * waiting for it during the grace period.
 */
import { createHash } from "node:crypto";
import { logger } from "../log/mod.ts";
import { isAlreadyExists, isNotFound, type KubeClient } from "./client.ts";
import { sleep } from "./clock.ts";
import { type Lease, LEASES, microTime } from "./leaderelection.ts";

const log = logger("kube", "heartbeat");

/** Label on every heartbeat Lease; its value is the program (`wg-controller`, `nl-controller`). */
export const HEARTBEAT_LABEL = "networking.dn42.io/node-agent";

/** Default lease duration (the kubelet's node lease: 40 s, renewed every 10 s). */
export const DEFAULT_HEARTBEAT_SECONDS = 40;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The Lease name of `program`'s heartbeat on `node`. */
export function heartbeatLeaseName(program: string, node: string): string {
  const plain = `${program}-${node}`;
  if (plain.length <= 253 && DNS1123_SUBDOMAIN.test(plain)) return plain;
  return `${program}-${createHash("sha256").update(node).digest("hex").slice(0, 16)}`;
}

/** Options of a {@link HeartbeatPublisher}. */
export interface HeartbeatOptions {
  /** Namespace of the Lease. */
  namespace: string;
  /** The publishing program (label value and name prefix). */
  program: string;
  node: string;
  /** Lease duration in seconds (default {@link DEFAULT_HEARTBEAT_SECONDS}); renewed every quarter of it. */
  leaseDurationSeconds?: number;
}

/** Renews one node agent's heartbeat Lease. */
export class HeartbeatPublisher {
  readonly name: string;
  readonly #durationS: number;
  #lastError = "";

  constructor(private readonly client: KubeClient, private readonly o: HeartbeatOptions) {
    this.name = heartbeatLeaseName(o.program, o.node);
    this.#durationS = o.leaseDurationSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  }

  /** One renewal (creating the Lease when it does not exist). Throws on API errors. */
  async beat(now = new Date()): Promise<void> {
    const labels = { [HEARTBEAT_LABEL]: this.o.program };
    const spec = { holderIdentity: this.o.node, leaseDurationSeconds: this.#durationS, renewTime: microTime(now) };
    const patch = () =>
      this.client.patch<Lease>(LEASES, this.o.namespace, this.name, "merge", { metadata: { labels }, spec }, {
        fieldManager: this.o.program,
      });
    try {
      await patch();
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const body: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.name, namespace: this.o.namespace, labels },
        spec: { ...spec, acquireTime: spec.renewTime },
      };
      await this.client.create(LEASES, this.o.namespace, body, this.o.program).catch((e) => {
        if (!isAlreadyExists(e)) throw e;
        return patch(); // another instance of this node's agent created it meanwhile
      });
    }
  }

  /** Renews every quarter of the lease duration until `signal` aborts; failures are logged and retried. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.beat();
        if (this.#lastError) log.info("heartbeat Lease {name} renewed again", { name: this.name });
        this.#lastError = "";
      } catch (e) {
        const error = String((e as Error).message ?? e);
        if (error !== this.#lastError) log.warn("heartbeat Lease {name}: {error}", { name: this.name, error });
        this.#lastError = error;
      }
      await sleep(this.#durationS * 250, signal);
    }
  }
}

/**
 * What a node agent's heartbeat says about it: `Alive` (renewed within its lease duration); `Stale` (expired, but
 * within the grace period: it may come back and clean up, so deletions wait for it); `Gone` (expired longer than the
 * grace period ago: nothing waits for it); `None` (no heartbeat Lease: no agent ever ran for the node, or it publishes
 * no heartbeat).
 */
export const AGENT_STATES = ["Alive", "Stale", "Gone", "None"] as const;
/** One of {@link AGENT_STATES}. */
export type AgentState = typeof AGENT_STATES[number];

/** An agent's state and when it changes next. */
export interface AgentLiveness {
  state: AgentState;
  /** The latest sign of life (RFC 3339), if any. */
  lastHeartbeat?: string;
  /** Wall-clock milliseconds at which the state changes next without a new heartbeat (Alive → Stale → Gone). */
  changesAtMs?: number;
}

/**
 * The liveness of an agent from its heartbeat Lease at wall-clock time `nowMs`. The latest sign of life is the later
 * of the Lease's `renewTime` (the agent's clock) and `observedRenewalMs`, when this process saw `renewTime` change
 * (its own clock): an agent whose clock runs behind is still seen alive while it renews. Pure.
 */
export function agentLiveness(
  lease: Lease | undefined,
  nowMs: number,
  graceMs: number,
  observedRenewalMs?: number,
): AgentLiveness {
  const renewed = Date.parse(lease?.spec?.renewTime ?? "");
  if (!lease || Number.isNaN(renewed)) return { state: "None" };
  const last = Math.max(renewed, observedRenewalMs ?? -Infinity);
  const lastHeartbeat = new Date(last).toISOString();
  const expires = last + (lease.spec?.leaseDurationSeconds ?? DEFAULT_HEARTBEAT_SECONDS) * 1000;
  if (nowMs <= expires) return { state: "Alive", lastHeartbeat, changesAtMs: expires };
  if (nowMs <= expires + graceMs) return { state: "Stale", lastHeartbeat, changesAtMs: expires + graceMs };
  return { state: "Gone", lastHeartbeat };
}
