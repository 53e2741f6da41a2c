/**
 * Helpers of the plan controller's cluster tests and benchmark: run the controller in-process against the test
 * cluster, poll for conditions, and act as a node agent (write a child's status, release its finalizer).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { runWgplanController, type WgplanControllerOptions } from "../../src/controllers/wgplan/program.ts";
import { type InterfaceObject, INTERFACES, type PlanObject, PLANS } from "../../src/controllers/wgplan/resources.ts";
import type { WireGuardNetworkPlanSpec } from "../../src/plan/types.ts";
import { Informer } from "../../src/kube/informer.ts";
import type { ReadStore } from "../../src/kube/store.ts";
import { isNotFound, KubeClient } from "../../src/kube/client.ts";
import { removeFinalizer } from "../../src/kube/finalizers.ts";
import { CHILD_FINALIZER, childSelector } from "../../src/plan/child.ts";
import { HeartbeatPublisher } from "../../src/kube/heartbeat.ts";
import { until } from "../../kit/wait.ts";
import { withNamespace } from "../../kit/cluster.ts";

/**
 * A test in a fresh namespace of the test cluster (kit/cluster.ts, namespace names starting with `prefix`), with an
 * API client for it; `ignore` where no cluster can run. Sanitizers are off: controllers under test keep timers and
 * watches until they are stopped.
 */
export function clusterTest(
  name: string,
  o: { ignore: boolean; prefix: string },
  body: (t: { kc: KubeConfig; ns: string; client: KubeClient }) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: o.ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => withNamespace(({ kc, namespace }) => body({ kc, ns: namespace, client: new KubeClient(kc) }), o),
  });
}

/** A plan object named `name` in `namespace` with `spec` and the plan finalizer, as the examples carry it. */
export function planObject(name: string, namespace: string, spec: WireGuardNetworkPlanSpec): PlanObject {
  return {
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "WireGuardNetworkPlan",
    metadata: { name, namespace, finalizers: ["wireguardnetworkplans.networking.dn42.io/finalizer"] },
    spec,
  };
}

/** The owner reference a plan's child carries: the plan `name` (uid `uid`) as its controller. */
export function planOwnerReference(name: string, uid: string | undefined) {
  return {
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "WireGuardNetworkPlan",
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** A controller running in this process. */
export interface RunningController {
  /** Stops it and resolves with its exit code. */
  stop(): Promise<number>;
  done: Promise<number>;
}

/**
 * Starts the wgplan-controller in-process for `namespace` (no ops server unless asked), reading heartbeats in the same
 * namespace with a 10-minute grace period unless `over.agents` says otherwise.
 */
export function startController(
  kubeConfig: KubeConfig,
  namespace: string,
  over: Partial<WgplanControllerOptions> = {},
): RunningController {
  const ac = new AbortController();
  const done = runWgplanController({
    kubeConfig,
    namespace,
    workers: 2,
    resyncPeriodMs: 30_000,
    writeConcurrency: 32,
    host: "test",
    agents: { namespace, graceMs: 600_000 },
    ...over,
  }, ac.signal);
  return { done, stop: () => (ac.abort(), done) };
}

/** Lists a plan's children (all pages), by name. */
export async function listChildren(
  client: KubeClient,
  namespace: string,
  plan: string,
): Promise<Map<string, InterfaceObject>> {
  const out = new Map<string, InterfaceObject>();
  let cont: string | undefined;
  do {
    const page = await client.list<InterfaceObject>(INTERFACES, {
      namespace,
      labelSelector: childSelector(plan),
      limit: 1000,
      continue: cont,
    });
    for (const c of page.items) out.set(c.metadata.name!, c);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return out;
}

/** Acts as the node agent for a child: reports it applied (status.observedGeneration = generation). */
export async function reportApplied(client: KubeClient, child: InterfaceObject): Promise<void> {
  await client.patch(INTERFACES, child.metadata.namespace!, child.metadata.name!, "merge", {
    status: {
      observedGeneration: child.metadata.generation,
      nodename: (child.spec as { node: string }).node,
      hostname: "agent",
    },
  }, { subresource: "status", fieldManager: "test-agent" });
}

/**
 * Clears every finalizer of the plans and WireGuardInterfaces in `namespace` (the controller is stopped and no node
 * agent runs), so that deleting the namespace completes.
 */
export async function releaseAll(client: KubeClient, namespace: string): Promise<void> {
  for (const rt of [PLANS, INTERFACES]) {
    const list = await client.list<InterfaceObject>(rt, { namespace });
    const todo = list.items.filter((o) => o.metadata.finalizers?.length);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < todo.length) {
        const o = todo[next++];
        await client.patch(rt, namespace, o.metadata.name!, "merge", { metadata: { finalizers: null } })
          .catch((e) => {
            if (!isNotFound(e)) throw e;
          });
      }
    }));
  }
}

/** Resolves with the children of `plan` once there are `count` of them, counting through a watch (no polling lists). */
export async function watchCount(
  client: KubeClient,
  namespace: string,
  plan: string,
  count: number,
  timeoutMs: number,
): Promise<ReadStore<InterfaceObject>> {
  const inf = new Informer<InterfaceObject>(client, {
    resource: INTERFACES,
    namespace,
    labelSelector: childSelector(plan),
  });
  inf.start();
  try {
    await until(`${count} children of ${plan}`, () => Promise.resolve(inf.store.size >= count), timeoutMs);
    return inf.store;
  } finally {
    await inf.stop();
  }
}

/** Acts as the node agent on deletion: removes the plan-child finalizer (the link is "gone"). */
export async function releaseChild(client: KubeClient, child: InterfaceObject): Promise<void> {
  try {
    await removeFinalizer(client, INTERFACES, child, CHILD_FINALIZER, { fieldManager: "test-agent" });
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/**
 * Publishes heartbeat Leases for `nodes` as their wg-controllers would (the test plays the node agents), renewed
 * until the returned function is called.
 */
export function heartbeats(client: KubeClient, namespace: string, nodes: string[], leaseDurationSeconds = 40) {
  const ac = new AbortController();
  const runs = nodes.map((node) =>
    new HeartbeatPublisher(client, { namespace, program: "wg-controller", node, leaseDurationSeconds }).run(ac.signal)
  );
  return async () => {
    ac.abort();
    await Promise.all(runs);
  };
}
