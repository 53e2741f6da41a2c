/**
 * The lab's topology picture: what `dn42op graph -o svg` draws of the instance's namespace, written to
 * `<stateDir>/topology.svg` (the lab's: /run/dn42op/lab/topology.svg). Made from the API server's objects only,
 * with the CLI's own code (src/cli), so the picture is exactly what an operator gets.
 *
 * The checks pass on pings, which can be seconds before the nodes publish the handshakes in status (they poll the
 * devices every -wg-poll-interval): the picture waits up to `settleMs` for every tunnel to be drawn up, then draws
 * whatever the objects say.
 */
import { dotToSvg, renderDot } from "../src/cli/graph.ts";
import { interfaceViews, topology } from "../src/cli/model.ts";
import { fetchObjects } from "../src/cli/source.ts";
import { KubeClient } from "../src/kube/client.ts";
import { loadKubeConfig } from "../src/kube/config.ts";

/** Handshakes older than this are drawn stale (the CLI's default, `--stale-after`). */
const STALE_AFTER_S = 300;

/** Draws the WireGuard objects of `namespace` into `<stateDir>/topology.svg`; returns the file's path. */
export async function writeTopologyPicture(
  kubeconfig: string,
  namespace: string,
  stateDir: string,
  settleMs = 30_000,
): Promise<string> {
  const client = new KubeClient(loadKubeConfig({ kubeconfig }));
  try {
    const end = Date.now() + settleMs;
    for (;;) {
      const objs = await fetchObjects(client, namespace);
      const now = Date.now();
      const t = topology(interfaceViews(objs.wgis, objs.plans), objs.plans, now, STALE_AFTER_S);
      if (t.edges.every((e) => e.state === "up") || now >= end) {
        const path = `${stateDir}/topology.svg`;
        await Deno.writeTextFile(path, await dotToSvg(renderDot(t, `namespace ${namespace}`, now)));
        return path;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    client.close();
  }
}
