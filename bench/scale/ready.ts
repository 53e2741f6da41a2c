/**
 * bench:scale's WireGuardInterfaces through the API, shared with bench:scale:kernel: readiness followed by a watch,
 * and the cleanup of finalizers no controller will release.
 */
import { GROUP, KINDS, VERSION } from "../../src/api/constants.ts";
import type { KubeClient, KubeObject } from "../../src/kube/client.ts";
import type { Informer } from "../../src/kube/informer.ts";

/** The WireGuardInterface resource. */
export const WGI = { group: GROUP, version: VERSION, plural: KINDS.WireGuardInterface.plural };

/** A WireGuardInterface as far as readiness goes. */
export interface Wgi extends KubeObject {
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

/** Ready with observedGeneration = generation: the controller has acted on the current spec and it holds. */
export function isReady(o: Wgi): boolean {
  return o.status?.observedGeneration === o.metadata.generation &&
    (o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
}

/**
 * Resolves when all `n` WireGuardInterfaces of `namespace` are Ready, followed through one list + watch; logs
 * progress every 5 s from `t0` and rejects after `limitS` seconds.
 */
export async function allReady(informer: Informer<Wgi>, n: number, t0: number, limitS: number): Promise<void> {
  const ready = new Set<string>();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const track = (o: Wgi) => {
    const key = o.metadata.name!;
    if (isReady(o)) ready.add(key);
    else ready.delete(key);
    if (ready.size >= n) done();
  };
  informer.on({ add: track, update: (_, o) => track(o), delete: (o) => ready.delete(o.metadata.name!) });
  informer.start();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const progress = setInterval(() => {
    console.log(`  ${ready.size}/${n} Ready after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 5000);
  try {
    await Promise.race([
      finished,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${ready.size}/${n} Ready after ${limitS} s`)), limitS * 1000);
      }),
    ]);
  } finally {
    clearInterval(progress);
    clearTimeout(timer);
  }
}

/**
 * Drops the finalizers of every WireGuardInterface in `namespace`. The bench deletes its namespace after the
 * controller is gone, so nothing else would, and the namespace would stay Terminating for ever.
 */
export async function dropFinalizers(client: KubeClient, namespace: string): Promise<void> {
  let cont: string | undefined;
  do {
    const page = await client.list<Wgi>(WGI, { namespace, limit: 500, continue: cont });
    const held = page.items.filter((o) => o.metadata.finalizers?.length);
    for (let i = 0; i < held.length; i += 50) {
      await Promise.all(
        held.slice(i, i + 50).map((o) =>
          client.patch(WGI, namespace, o.metadata.name!, "merge", { metadata: { finalizers: null } })
        ),
      );
    }
    cont = page.metadata.continue || undefined;
  } while (cont);
}
