/**
 * `deno task lab:up` / `lab:check` / `lab:down`: the reference's lab from a bare machine.
 *
 *   up     installs what is missing, starts the real control plane, the topology (agentx namespace holding the
 *          examples' underlay address, containers agent1 and agent2), the controllers inside agentx (wg and nl for
 *          lax1 and lax2, wgplan), applies the reference examples unchanged, runs the checks, and draws the
 *          topology with the CLI's graph into /run/dn42op/lab/topology.svg (its path is printed)
 *   check  the reference README's checks as a table; waits up to --wait seconds for convergence; then watches the lab
 *          for --stable seconds (default 65: two resync periods and a margin) — no managed link recreated, no
 *          wireguard-go restarted, no Warning Event, pings answered throughout; exit 1 on a failure
 *   down   stops the controllers by PID, removes containers, namespaces and the control plane (idempotent)
 *
 * `--scenario mesh` runs the mesh lab instead (lab/mesh/lab.ts: N nodes in their own namespaces, NAT, one plan,
 * an all-pairs matrix; `--drills` adds the fault drills to check). Without --scenario, check and down follow the
 * lab that is up (the reference lab when both are).
 *
 * With --kernel, the reference lab with the node side in a qemu guest on the kernel WireGuard module
 * (lab/kernel/lab.ts), under names of its own. `down` without --kernel takes down the kernel lab too (idempotent), so
 * no guest is left running.
 *
 *   deno run -A lab/main.ts up|check|down [--wait SECONDS] [--stable SECONDS] [--scenario reference|mesh] [--image]
 *     [--kernel] [--nodes N] [--drills [--only LETTERS]] [--outage SECONDS]
 *   --image (up)  the controllers are deploy/'s workloads as containers from the image (lab/imagepods.ts)
 */
import { parseArgs } from "node:util";
import { clusterDown, clusterUp, defaultClusterDir, readClusterState } from "../scripts/cluster.ts";
import { rssKiB } from "../kit/proc.ts";
import { ensureProfiles } from "../scripts/setup.ts";
import { cacheNpmPackages } from "../scripts/npm_cache.ts";
import { Podman } from "./podman/podman.ts";
import { type CheckResult, formatTable, waitForChecks } from "./checks.ts";
import {
  applyScenario,
  attachInstance,
  instanceDown,
  type InstanceOptions,
  instanceUp,
  labInstance,
  stabilityTarget,
} from "./instance.ts";
import { kernelLabCheck, kernelLabDown, kernelLabUp } from "./kernel/lab.ts";
import { DEFAULT_MESH_NODES, meshLabCheck, meshLabDown, meshLabPresent, meshLabUp } from "./mesh/lab.ts";
import { writeTopologyPicture } from "./picture.ts";
import { stabilityChecks } from "./stability.ts";
import { LAB_DEFAULTS } from "./topology.ts";

/** The main process of a (restarted or not) container. */
function podmanPid(name: string): Promise<number> {
  return new Podman().pid(name);
}
/** Default watch of `lab:check`: two resync periods of the lab's controllers (30 s each) and a margin. */
const STABLE_SECONDS = 65;

/** Prints the table and a summary line; returns the exit code (1 when a check failed). */
function report(results: CheckResult[], seconds: number): number {
  console.log(formatTable(results));
  const count = (s: CheckResult["status"]) => results.filter((r) => r.status === s).length;
  console.log(
    `lab: ${count("ok")} ok, ${count("FAIL")} failed, ${count("n/a")} not applicable on this kernel ` +
      `(after ${seconds.toFixed(1)} s)`,
  );
  return count("FAIL") ? 1 : 0;
}

async function check(
  o: InstanceOptions,
  waitSeconds: number,
  stableSeconds: number,
  t0 = performance.now(),
): Promise<number> {
  const inst = await attachInstance(o);
  const ctx = await inst.checkContext();
  const results = await waitForChecks(ctx, waitSeconds * 1000);
  if (stableSeconds > 0 && !results.some((r) => r.status === "FAIL")) {
    console.log(`lab: checks pass; watching the lab for ${stableSeconds} s (links, daemons, Events, pings)`);
    results.push(...await stabilityChecks(ctx, stabilityTarget(o), stableSeconds * 1000));
  }
  return report(results, (performance.now() - t0) / 1000);
}

async function up(waitSeconds: number, stableSeconds: number, image: boolean): Promise<number> {
  const t0 = performance.now();
  const phases: string[] = [];
  let mark = t0;
  const phase = (name: string) => {
    const now = performance.now();
    phases.push(`${name} ${((now - mark) / 1000).toFixed(1)} s`);
    mark = now;
  };
  await ensureProfiles(["base", "containers", "graph"]);
  await cacheNpmPackages(); // the controllers' starts neither wait for the registry nor write about it
  phase("setup");
  const cluster = await clusterUp();
  phase("control plane");
  const o = labInstance(cluster.kubeconfig, cluster.server, image);
  const inst = await instanceUp(o);
  phase("topology + controllers");
  for (const p of inst.pods ?? []) {
    console.log(`lab: pod ${p.run.name} (${p.run.image}) ready ${(p.readyMs / 1000).toFixed(1)} s after podman run`);
  }
  const c = inst.topology.containers;
  console.log(`lab: namespace ${o.topology.agentxNetns} holds the underlay ${LAB_DEFAULTS.underlayAddress}`);
  for (const [name, pid] of Object.entries(inst.topology.pids)) {
    console.log(`lab: container ${name} (${c.kind}) pid ${pid}`);
  }
  if (c.fallbackReason) {
    console.log(`lab: podman not used: ${c.fallbackReason}; the examples' container.docker names cannot resolve`);
  }
  console.log(`lab: controllers ${Object.keys(inst.controllers.pids).join(", ")}; logs in ${inst.controllers.logDir}`);
  await applyScenario(inst);
  phase("apply examples");
  console.log(`lab: applied the reference examples; control plane at ${cluster.server}`);
  console.log(`KUBECONFIG=${cluster.kubeconfig}`);
  const code = await check(o, waitSeconds, stableSeconds, t0);
  phase("convergence + checks");
  for (const p of inst.pods ?? []) {
    const kib = rssKiB(await podmanPid(p.run.name));
    console.log(`lab: pod ${p.run.name} resident memory after convergence ${kib ? (kib / 1024).toFixed(0) : "?"} MiB`);
  }
  const picture = await writeTopologyPicture(o.kubeconfig, o.names.namespace, o.topology.stateDir).then(
    (path) => `lab: topology picture ${path}`,
    (e) => `lab: no topology picture: ${(e as Error).message}`,
  );
  console.log(picture);
  console.log(`lab: up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${phases.join(", ")})`);
  return code;
}

async function down(): Promise<number> {
  const state = await readClusterState(await defaultClusterDir());
  await instanceDown(labInstance(state?.kubeconfig ?? "", state?.server ?? ""));
  await clusterDown();
  console.log("lab: down");
  return 0;
}

/** The scenario a command acts on: the one given, else for check and down the lab that is up. */
async function scenarioOf(cmd: string, given: string | undefined): Promise<"reference" | "mesh"> {
  if (given === "reference" || given === "mesh") return given;
  if (given !== undefined) throw new Error(`unknown --scenario ${given} (reference or mesh)`);
  if (cmd === "up") return "reference";
  const reference = await readClusterState(await defaultClusterDir());
  return !reference && await meshLabPresent() ? "mesh" : "reference";
}

const USAGE = "usage: deno run -A lab/main.ts up|check|down [--wait SECONDS] [--stable SECONDS] " +
  "[--scenario reference|mesh] [--kernel] [--nodes N] [--drills [--only LETTERS]] [--outage SECONDS] [--image]";

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      wait: { type: "string" },
      stable: { type: "string" },
      image: { type: "boolean", default: false },
      kernel: { type: "boolean", default: false },
      scenario: { type: "string" },
      nodes: { type: "string", default: String(DEFAULT_MESH_NODES) },
      drills: { type: "boolean", default: false },
      outage: { type: "string", default: "60" },
      only: { type: "string", default: "abcdef" },
    },
  });
  const cmd = positionals[0];
  // Under emulation the node side starts and converges about 20x slower.
  const wait = Number(values.wait ?? (values.kernel ? 900 : 120));
  // lab:check watches two resync periods (30 s) and a margin by default; lab:up only when asked
  const stable = Number(values.stable ?? (cmd === "check" ? STABLE_SECONDS : 0));
  if (!["up", "check", "down"].includes(cmd) || !(wait >= 0) || !(stable >= 0) || !(Number(values.outage) > 0)) {
    console.error(USAGE);
    Deno.exit(2);
  }
  try {
    if (values.kernel) {
      if (values.scenario === "mesh" || values.image) throw new Error("--kernel runs the reference scenario only");
      if (cmd === "up") Deno.exit(await kernelLabUp(wait, stable));
      if (cmd === "check") Deno.exit(await kernelLabCheck(wait, stable));
      await kernelLabDown();
      console.log("lab --kernel: down");
      Deno.exit(0);
    }
    if (cmd === "down") await kernelLabDown();
    if (await scenarioOf(cmd, values.scenario) === "mesh") {
      if (cmd === "up") Deno.exit(await meshLabUp(Number(values.nodes), wait));
      if (cmd === "down") Deno.exit(await meshLabDown());
      Deno.exit(
        await meshLabCheck({
          waitSeconds: wait,
          drills: values.drills ? values.only : undefined,
          outageSeconds: Number(values.outage),
        }),
      );
    }
    if (values.drills) throw new Error("--drills belongs to --scenario mesh");
    if (cmd === "up") Deno.exit(await up(wait, stable, values.image));
    if (cmd === "down") Deno.exit(await down());
    const state = await readClusterState(await defaultClusterDir());
    if (!state) throw new Error("no running control plane (run deno task lab:up)");
    Deno.exit(await check(labInstance(state.kubeconfig, state.server), wait, stable));
  } catch (e) {
    console.error(`lab ${cmd} failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
