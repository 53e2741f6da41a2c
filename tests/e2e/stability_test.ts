/**
 * End to end, over time: the lab's scenario on a fresh instance (`dn42op-stab-<id>-…`, controllers started as
 * `lab:up` starts them: lax1's and lax2's agents in one host namespace, both putting links into agent2) with a short
 * resync period, watched over three resync periods by the lab's stability check: no managed link recreated, no
 * wireguard-go restarted, no Warning Event, the README's pings answered in every sample.
 */
import assert from "node:assert/strict";
import * as checks from "../../lab/checks.ts";
import { freshInstance, instanceDown, stabilityTarget, sweepInstances } from "../../lab/instance.ts";
import { scenarioConverged } from "./lab_steps.ts";
import { deleteExamples, LAB_EXAMPLES } from "../../lab/scenario.ts";
import { stabilityChecks } from "../../lab/stability.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-stab-";
/** The controllers' resync period: the orphan sweeps run this often. */
const RESYNC_S = 4;

Deno.test({
  name:
    "e2e: two agents sharing container namespaces stay stable over three resync periods (links, daemons, Events, pings)",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const swept = await sweepInstances(PREFIX);
    if (swept.length) console.log(`swept stale leftovers: ${swept.join(", ")}`);
    await withNamespace(async (k) => {
      const o = { ...freshInstance(PREFIX, k.namespace, k.kubeconfigPath, k.server), resyncSeconds: RESYNC_S };
      try {
        const { ctx } = await scenarioConverged(o);
        const stable = await stabilityChecks(ctx, stabilityTarget(o), (3 * RESYNC_S + 1) * 1000, 2000);
        console.log(checks.formatTable(stable));
        assert.ok(stable.every((r) => r.status === "ok"), `not stable:\n${checks.formatTable(stable)}`);
      } finally {
        // Objects carry finalizers that the controllers release: delete them while the controllers still run.
        await deleteExamples(k.kubeconfigPath, LAB_EXAMPLES, o.names).catch((e) => console.error(String(e)));
        await instanceDown(o);
      }
    }, { prefix: PREFIX });
  },
});
