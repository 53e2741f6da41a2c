/**
 * Convergence trace: at `-v 4` every program logs one line per phase of bringing an object about (or removing it),
 * with the message
 * `trace`, the phase and the object's key ("namespace/name"); the line's timestamp says when. `deno task
 * bench:converge` reads these lines from the controllers' logs and reports each phase's offset from `kubectl apply`
 * (bench/converge/trace.ts); a user reads them to see where a slow convergence waited.
 */
import type { Logger } from "./mod.ts";

/** The verbosity at which trace lines are written. */
export const TRACE_VERBOSITY = 4;

/** The phases, in the order a first convergence of a plan passes them. */
export const TRACE_PHASES = [
  "plan-reconcile", // the plan controller picked up the plan (key: the plan)
  "plan-expanded", // keys resolved and the plan expanded (key: the plan)
  "child-written", // one WireGuardInterface created or patched (key: the child)
  "plan-status-written", // the plan's status written (key: the plan)
  "agent-reconcile", // a node agent picked up the object (key: the child)
  "keys-read", // private and preshared keys read
  "placement-resolved", // the target namespace is open
  "finalizer-added", // our finalizer is on the object
  "device-created", // link created (kernel) or wireguard-go started and its TUN marked
  "device-configured", // WireGuard configuration sent
  "device-moved", // link moved into its target namespace
  "link-configured", // MTU, addresses and admin state applied where the link lives
  "status-written", // the object's status written
  "plan-deleting", // the plan controller picked up a plan being deleted (key: the plan)
  "agent-deleting", // a node agent picked up an object being deleted, or gone from the API
  "device-removed", // the object's link deleted (and its wireguard-go stopped)
] as const;

/** One phase of the trace. */
export type TracePhase = typeof TRACE_PHASES[number];

/** Logs that object `key` reached `phase` now (only at -v 4 and above). */
export function trace(log: Logger, phase: TracePhase, key: string, props: Record<string, unknown> = {}): void {
  log.v(TRACE_VERBOSITY).info("trace", { phase, key, ...props });
}
