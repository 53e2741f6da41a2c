/**
 * `deno task lab:up` / `lab:down`: the lab from a bare machine. Today it installs what is missing, starts the real
 * control plane (built from its Go modules on first use, CRDs installed) and the lab topology (agentx namespace
 * holding the examples' underlay address, containers agent1 and agent2). Starting the controllers, applying the
 * reference examples and the connectivity checks are the lab issue's next steps.
 *
 *   deno run -A lab/main.ts up|down
 */
import { clusterDown, clusterUp } from "../scripts/cluster.ts";
import { ensureProfiles } from "../scripts/setup.ts";
import { LAB_DEFAULTS, labDown, labUp } from "./topology.ts";

async function up(): Promise<void> {
  await ensureProfiles(["base", "containers"]);
  const cluster = await clusterUp();
  const lab = await labUp();
  const c = lab.containers;
  console.log(`lab: namespace ${lab.agentx.name} holds the underlay ${LAB_DEFAULTS.underlayAddress}`);
  for (const [name, pid] of Object.entries(lab.pids)) console.log(`lab: container ${name} (${c.kind}) pid ${pid}`);
  if (c.fallbackReason) console.log(`lab: podman not used: ${c.fallbackReason}`);
  console.log(`lab: control plane at ${cluster.server}`);
  console.log(`KUBECONFIG=${cluster.kubeconfig}`);
}

async function down(): Promise<void> {
  await labDown();
  await clusterDown();
  console.log("lab: down");
}

if (import.meta.main) {
  const cmd = Deno.args[0];
  if (cmd !== "up" && cmd !== "down") {
    console.error("usage: deno run -A lab/main.ts up|down");
    Deno.exit(2);
  }
  try {
    await (cmd === "up" ? up() : down());
  } catch (e) {
    console.error(`lab ${cmd} failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
