/**
 * The lab's end-to-end steps, for any backend of the node side: the README's checks, then self-healing — links
 * deleted by hand come back, a SIGKILLed wg-controller is restarted by its supervisor and converges what changed
 * meanwhile, a plan change (new port range and key for lax1) re-establishes the tunnel, a deleted plan takes its
 * links and children along and converges again when re-applied. tests/e2e/lab_test.ts runs them on wireguard-go
 * in podman containers, tests/e2e/lab.kernel_lab_test.ts on the kernel module in the qemu guest.
 */
import assert from "node:assert/strict";
import { type Check, type CheckContext, formatTable, waitForChecks } from "../../lab/checks.ts";
import type { ExecResult } from "../../kit/proc.ts";
import {
  applyExamples,
  deleteExamples,
  type ExampleContainer,
  kubectl,
  type ScenarioNames,
} from "../../lab/scenario.ts";
import { applyScenario, type Instance, type InstanceOptions, instanceUp } from "../../lab/instance.ts";
import { generatePrivateKey } from "../../src/wireguard/key.ts";
import { until } from "../../kit/wait.ts";

/**
 * Brings the podman lab instance `o` up, applies the scenario and waits until every README check passes (n/a only
 * where the kernel has no dummy links); returns the instance and its check context.
 */
export async function scenarioConverged(o: InstanceOptions): Promise<{ inst: Instance; ctx: CheckContext }> {
  const inst = await instanceUp(o);
  await applyScenario(inst);
  const ctx = await inst.checkContext();
  const ready = await waitForChecks(ctx, 150_000);
  const bad = ready.filter((r) => r.status === "FAIL" || (r.status === "n/a" && ctx.dummyKernel));
  assert.equal(bad.length, 0, `checks failed:\n${formatTable(ready)}`);
  return { inst, ctx };
}

/** A lab instance with the scenario applied, as the steps see it. */
export interface LabUnderTest {
  names: ScenarioNames;
  kubeconfig: string;
  checks: readonly Check[];
  ctx: CheckContext;
  /** Runs a command in the network namespace of agent1, agent2 or agentx (the controllers' host network). */
  inNetns(where: ExampleContainer | "agentx", cmd: string[]): Promise<ExecResult>;
  /** PID of the program a lab process name runs now (`wg-controller-lax1`), or null. */
  programPid(name: string): Promise<number | null>;
  /** Supervisor PID of a lab process name, or null. */
  supervisorPid(name: string): Promise<number | null>;
  /** Sends a signal to a PID where the node side runs. */
  kill(pid: number, signal: Deno.Signal): Promise<void>;
  /** How long convergence may take (the node side is ~20x slower under emulation). */
  convergeMs: number;
  /**
   * Pause between two rounds of the checks (default 500 ms). Under emulation every check costs the guest processes
   * its controllers need for converging, so the kernel lab looks less often.
   */
  checkEveryMs?: number;
  /** What to add to a failure's message (e.g. the controllers' log tails where they cannot be read directly). */
  diagnose?: () => Promise<string>;
}

/** Fails with the whole table unless every check passed (dummy may be "n/a" on a kernel without dummy links). */
export async function converged(lab: LabUnderTest): Promise<void> {
  const results = await waitForChecks(lab.ctx, lab.convergeMs, lab.checkEveryMs ?? 500, lab.checks);
  const bad = results.filter((r) => r.status === "FAIL" || (r.status === "n/a" && lab.ctx.dummyKernel));
  if (!bad.length) return;
  const more = lab.diagnose ? `\n${await lab.diagnose().catch((e) => String(e))}` : "";
  assert.fail(`checks failed:\n${formatTable(results)}${more}`);
}

/**
 * A link is told apart from its re-creation by a tag the controllers never set: its transmit queue length. (Not the
 * ifindex: a link created in agentx and moved into a container keeps its index there when it is free, so a
 * re-created link can come back with the index of the one deleted.)
 */
const TAG_QLEN = 4242;

/** The `txqlen` of `dev` in `where`, or undefined when there is no such link. */
async function qlen(lab: LabUnderTest, where: ExampleContainer, dev: string): Promise<number | undefined> {
  const r = await lab.inNetns(where, ["ip", "-j", "link", "show", "dev", dev]);
  return r.code === 0 ? JSON.parse(r.stdout)[0]?.txqlen : undefined;
}

async function tag(lab: LabUnderTest, where: ExampleContainer, dev: string): Promise<void> {
  const r = await lab.inNetns(where, ["ip", "link", "set", "dev", dev, "txqueuelen", String(TAG_QLEN)]);
  assert.equal(r.code, 0, `tagging ${dev}: ${r.stderr}`);
}

/** Whether `dev` in `where` is the link that was tagged: true, false (a new link), undefined (absent). */
async function tagged(lab: LabUnderTest, where: ExampleContainer, dev: string): Promise<boolean | undefined> {
  const q = await qlen(lab, where, dev);
  return q === undefined ? undefined : q === TAG_QLEN;
}

/** UDP ports listening in agentx (where the WireGuard sockets live). */
async function udpPorts(lab: LabUnderTest): Promise<number[]> {
  const r = await lab.inNetns("agentx", ["ss", "-Hlun"]);
  return [...r.stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1]));
}

/** Runs the steps as test steps of `t`; a step is skipped when one it builds on failed. */
export async function labSteps(t: Deno.TestContext, lab: LabUnderTest): Promise<void> {
  const wait = () => converged(lab);
  const ms = lab.convergeMs;
  if (!await t.step("the README's checks pass (links, addresses, MTU, pings through every link)", wait)) return;

  const healed = await t.step("links deleted by hand come back (WireGuard and vxlan)", async () => {
    for (const dev of ["vxlan1", "wg-lax1-lax2-0"]) {
      await tag(lab, "agent1", dev);
      const r = await lab.inNetns("agent1", ["ip", "link", "del", "dev", dev]);
      assert.equal(r.code, 0, `ip link del ${dev}: ${r.stderr}`);
    }
    // Gone, or already re-created (the controllers follow link events): either way not the link deleted.
    assert.notEqual(await tagged(lab, "agent1", "wg-lax1-lax2-0"), true, "deleted");
    await wait();
    assert.equal(await tagged(lab, "agent1", "wg-lax1-lax2-0"), false, "wg-lax1-lax2-0 was re-created");
    assert.equal(await tagged(lab, "agent1", "vxlan1"), false, "vxlan1 was re-created");
  });

  const restarted = healed &&
    await t.step("a SIGKILLed wg-controller is restarted and converges what changed meanwhile", async () => {
      const name = "wg-controller-lax1";
      const sup = await lab.supervisorPid(name);
      const pid = (await until("wg-controller-lax1 running", () => lab.programPid(name)))!;
      await tag(lab, "agent1", "wg-lax1-lax2-0");
      await tag(lab, "agent1", "wg1");
      await lab.kill(pid, "SIGKILL");
      await lab.inNetns("agent1", ["ip", "link", "del", "dev", "wg1"]);
      const next = await until("a new wg-controller-lax1", async () => {
        const p = await lab.programPid(name);
        return p && p !== pid ? p : null;
      }, 30_000);
      assert.equal(await lab.supervisorPid(name), sup, "same supervisor");
      assert.ok(next! > 0);
      await wait();
      assert.equal(await tagged(lab, "agent1", "wg1"), false, "wg1 was re-created by the restarted controller");
      assert.equal(await tagged(lab, "agent1", "wg-lax1-lax2-0"), true, "the untouched tunnel was adopted");
    });

  if (restarted) {
    await t.step("a plan change (lax1 port range and key) re-establishes the tunnel", async () => {
      assert.ok((await udpPorts(lab)).includes(52820));
      const key = (await generatePrivateKey()).toBase64();
      const patch = [
        { op: "replace", path: "/spec/nodes/0/underlay/portRange", value: { start: 52830, end: 52849 } },
        { op: "replace", path: "/spec/nodes/0/privateKey", value: key },
      ];
      const r = await kubectl(lab.kubeconfig, [
        "-n",
        lab.names.namespace,
        "patch",
        "wgp",
        "wgp1",
        "--type=json",
        `-p=${JSON.stringify(patch)}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      await until("lax1's tunnel on port 52830 instead of 52820", async () => {
        const ports = await udpPorts(lab);
        return ports.includes(52830) && !ports.includes(52820);
      }, ms);
      await wait();
    });
  }

  await t.step("a deleted plan takes its links and children along; applied again, it converges again", async () => {
    await deleteExamples(lab.kubeconfig, ["example/wgp/wgp1.yaml"], lab.names); // waits for the plan
    await until(
      "the plan's links gone",
      async () => (await qlen(lab, "agent1", "wg-lax1-lax2-0")) === undefined,
      ms,
    );
    await until("the plan's children gone", async () => {
      const r = await kubectl(lab.kubeconfig, ["-n", lab.names.namespace, "get", "wgi", "-o", "name"]);
      return !r.stdout.includes("wg-lax1-lax2-0") && !r.stdout.includes("wg-lax2-lax1-0");
    }, ms);
    await applyExamples(lab.kubeconfig, ["example/wgp/wgp1.yaml"], lab.names);
    await wait();
  });
}
