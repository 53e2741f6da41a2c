/**
 * End to end: the mesh scenario at a small N (4 by default: one node of each role) on its own control plane (drill
 * f stops the API server, which a shared test cluster cannot allow) and namespaces `dn42op-mesh-t<id>-…`: the plan
 * converges to a green all-pairs matrix, then each fault drill of lab/mesh/drills.ts is one step with the issue's
 * bounds. One mesh serves all drills.
 *
 * Outages last DN42OP_MESH_OUTAGE_S seconds (default 35, the lab's --drills uses 60): longer than every timer the
 * drills are about — persistent keepalive 25 s, conntrack's unreplied-UDP timeout 30 s, the agents' resync period
 * 30 s, the plan controller's leader lease 15 s — so a shorter outage proves the same, and the suite is 75 s
 * shorter. DN42OP_MESH_NODES sets N.
 */
import assert from "node:assert/strict";
import { clusterDown, type ClusterInfo, clusterUp } from "../../scripts/cluster.ts";
import { type DrillContext, DRILLS, formatDrills } from "../../lab/mesh/drills.ts";
import { applyMeshPlan, describeMesh, meshDown, meshUp, sweepMeshes } from "../../lab/mesh/instance.ts";
import { formatMatrix, waitForMesh } from "../../lab/mesh/matrix.ts";
import { skipUnless } from "../helpers/caps.ts";

const NAME_PREFIX = "dn42op-mesh-t";
const NODES = Number(Deno.env.get("DN42OP_MESH_NODES") ?? 4);
const OUTAGE_S = Number(Deno.env.get("DN42OP_MESH_OUTAGE_S") ?? 35);

Deno.test({
  name: `e2e: mesh of ${NODES} nodes (NAT, DNS underlay, IPv6 underlay) — matrix and fault drills a–f`,
  ignore: skipUnless("root", "wireguard-go", "cluster"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepMeshes(NAME_PREFIX);
    if (swept.length) console.log(`swept stale mesh leftovers: ${swept.join(", ")}`);
    const id = crypto.randomUUID().slice(0, 6);
    const clusterDir = `/tmp/${NAME_PREFIX}${id}-cluster`;
    const names = {
      prefix: `${NAME_PREFIX}${id}-`,
      stateDir: `/run/dn42op/${NAME_PREFIX}${id}`,
      nodes: NODES,
      namespace: "default",
    };
    try {
      const cluster: ClusterInfo = await clusterUp({ dir: clusterDir, ownerPid: Deno.pid });
      const mesh = describeMesh({ ...names, kubeconfig: cluster.kubeconfig, server: cluster.server });
      await meshUp(mesh);
      await applyMeshPlan(mesh);
      const converged = await t.step(
        `the plan converges: ${NODES * (NODES - 1)} pings answer, plan Ready`,
        async () => {
          const r = await waitForMesh(mesh.target, 180_000);
          assert.ok(r.ok, formatMatrix(r));
          assert.equal(r.cells.length, NODES * (NODES - 1));
          assert.ok(r.handshakes.length >= NODES - 1, "every link of the NAT node shows its handshake");
        },
      );
      if (!converged) return;
      const ctx: DrillContext = { mesh, cluster, outageMs: OUTAGE_S * 1000, log: (l) => console.log(l) };
      for (const d of DRILLS) {
        await t.step(`drill ${d.id}: ${d.title}`, async () => {
          const r = await d.run(ctx);
          console.log(formatDrills([r]));
          assert.ok(r.ok, `drill ${d.id} missed its bound (${r.bound}): ${r.observed}`);
        });
      }
    } finally {
      await meshDown(describeMesh({ ...names, kubeconfig: "", server: "" }));
      await clusterDown({ dir: clusterDir });
    }
  },
});
