/**
 * `deno task lab:up --kernel` / `lab:check --kernel` / `lab:down --kernel`: the lab on the kernel WireGuard module
 * (lab/kernel/instance.ts). Its names are its own, so it can run next to the userspace lab: control plane in
 * /run/dn42op/kernel-lab-cluster, state in /run/dn42op/kernel-lab, the guest's namespaces `dn42op-kl-…` in the
 * guest's own kernel. The node stays up between commands; `lab:down --kernel` stops it.
 */
import { clusterDown, clusterUp, readClusterState } from "../../scripts/cluster.ts";
import { ensureProfiles } from "../../scripts/setup.ts";
import { type CheckResult, CHECKS, formatTable, waitForChecks } from "../checks.ts";
import { stabilityChecks } from "../stability.ts";
import { KERNEL_CHECKS } from "./checks.ts";
import {
  applyKernelScenario,
  attachKernelInstance,
  KERNEL_LAB_DIR,
  type KernelInstance,
  kernelInstance,
  kernelInstanceDown,
  kernelInstanceUp,
} from "./instance.ts";

/** The kernel lab's control plane directory. */
export const KERNEL_LAB_CLUSTER = `${KERNEL_LAB_DIR}-cluster`;

/**
 * Pause between two rounds of the checks while waiting for convergence: each check runs processes in the guest,
 * which under emulation take CPU from the controllers converging there.
 */
export const KERNEL_CHECK_EVERY_MS = 3000;

/** Every check of the kernel lab: the README's, then the WireGuard kind listing. */
export const KERNEL_LAB_CHECKS = [...CHECKS, ...KERNEL_CHECKS];

function options(kubeconfig: string, server: string) {
  return kernelInstance(KERNEL_LAB_DIR, "default", kubeconfig, server);
}

/** The table, the placement note, the raw `ip a show type wireguard` of agent1, and a summary; exit code. */
async function report(inst: KernelInstance, results: CheckResult[], seconds: number): Promise<number> {
  const c = inst.options.names.containers;
  console.log(formatTable(results));
  console.log(
    `placement: agent1 and agent2 are the named network namespaces ${c.agent1} and ${c.agent2} in the qemu guest ` +
      `(Linux ${inst.node.hello.release}, no container runtime there): the examples are applied with ` +
      `container.netns.name instead of container.docker.name`,
  );
  const wg = await inst.inNetns("agent1", ["ip", "a", "show", "type", "wireguard"]);
  console.log(`agent1 # ip a show type wireguard\n${wg.stdout.trimEnd()}`);
  const count = (s: CheckResult["status"]) => results.filter((r) => r.status === s).length;
  if (count("FAIL")) console.log(await inst.logTails());
  console.log(
    `lab --kernel: ${count("ok")} ok, ${count("FAIL")} failed, ${count("n/a")} not applicable ` +
      `(after ${seconds.toFixed(1)} s)`,
  );
  return count("FAIL") || count("n/a") ? 1 : 0;
}

async function checkOn(inst: KernelInstance, waitSeconds: number, stableSeconds: number, t0: number): Promise<number> {
  const ctx = inst.checkContext();
  const results = await waitForChecks(ctx, waitSeconds * 1000, KERNEL_CHECK_EVERY_MS, KERNEL_LAB_CHECKS);
  if (stableSeconds > 0 && !results.some((r) => r.status === "FAIL")) {
    console.log(`lab --kernel: checks pass; watching the lab for ${stableSeconds} s (links, Events, pings)`);
    results.push(...await stabilityChecks(ctx, inst.stabilityTarget(), stableSeconds * 1000));
  }
  return await report(inst, results, (performance.now() - t0) / 1000);
}

/** `lab:up --kernel`: up, the checks, then the stability check when `stableSeconds` > 0. */
export async function kernelLabUp(waitSeconds: number, stableSeconds: number): Promise<number> {
  const t0 = performance.now();
  await ensureProfiles(["base", "kernel"]);
  const cluster = await clusterUp({ dir: KERNEL_LAB_CLUSTER });
  const t1 = performance.now();
  const inst = await kernelInstanceUp(options(cluster.kubeconfig, cluster.server));
  const t2 = performance.now();
  try {
    console.log(
      `lab --kernel: guest Linux ${inst.node.hello.release} (qemu pid ${inst.node.pid}), console ` +
        `${inst.node.stateDir}/console.log`,
    );
    console.log(
      `lab --kernel: in the guest: ${Object.keys(inst.up.controllers).join(", ")}; on the host: ` +
        `wgplan-controller (logs in ${KERNEL_LAB_DIR}/logs)`,
    );
    await applyKernelScenario(inst);
    console.log(`lab --kernel: applied the reference examples; control plane at ${cluster.server}`);
    console.log(`KUBECONFIG=${cluster.kubeconfig}`);
    const code = await checkOn(inst, waitSeconds, stableSeconds, t2);
    const s = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
    console.log(
      `lab --kernel: up in ${s(t0, performance.now())} s (control plane ${s(t0, t1)} s, guest boot + ` +
        `topology + controllers ${s(t1, t2)} s, examples + convergence + checks ${s(t2, performance.now())} s)`,
    );
    return code;
  } finally {
    inst.node.close();
  }
}

/** `lab:check --kernel`: the checks, then the stability check when `stableSeconds` > 0. */
export async function kernelLabCheck(waitSeconds: number, stableSeconds: number): Promise<number> {
  const t0 = performance.now();
  const cluster = await readClusterState(KERNEL_LAB_CLUSTER);
  const inst = cluster && await attachKernelInstance(options(cluster.kubeconfig, cluster.server));
  if (!inst) throw new Error("no kernel lab running (run deno task lab:up --kernel)");
  try {
    return await checkOn(inst, waitSeconds, stableSeconds, t0);
  } finally {
    inst.node.close();
  }
}

/** `lab:down --kernel`: the node, the host's wgplan-controller, the control plane. Idempotent. */
export async function kernelLabDown(): Promise<void> {
  await kernelInstanceDown({ stateDir: KERNEL_LAB_DIR });
  await clusterDown({ dir: KERNEL_LAB_CLUSTER });
}
