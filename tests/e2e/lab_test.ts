/**
 * End to end: the lab's scenario (reference examples, the README's checks) on a fresh instance — its own agentx
 * namespace, podman containers and state directory named `dn42op-e2e-<id>-…`, controllers started exactly as
 * `lab:up` starts them, a Kubernetes namespace of its own on the shared test cluster — plus self-healing: an
 * interface deleted by hand comes back, a SIGKILLed controller is restarted by its supervisor and converges, a
 * plan change (new port range and key for lax1) re-establishes the tunnel, a deleted plan takes its links and
 * children along and converges again when re-applied. A running lab is never touched.
 */
import assert from "node:assert/strict";
import * as checks from "../../lab/checks.ts";
import { labProgramPid, labSupervisorPid } from "../../lab/controllers.ts";
import { exec } from "../../kit/proc.ts";
import { applyScenario, freshInstance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { applyExamples, deleteExamples, inNetnsOf, LAB_EXAMPLES } from "../../lab/scenario.ts";
import { generatePrivateKey } from "../../src/wireguard/key.ts";
import { kubectl, withNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";
import { until } from "../../kit/wait.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-e2e-";
type Results = Awaited<ReturnType<typeof checks.runChecks>>;

/** Fails with the whole table unless every check passed (dummy may be "n/a" on a kernel without dummy links). */
function assertAllPass(results: Results, ctx: { dummyKernel: boolean }): void {
  const bad = results.filter((r) => r.status === "FAIL" || (r.status === "n/a" && ctx.dummyKernel));
  assert.equal(bad.length, 0, `checks failed:\n${checks.formatTable(results)}`);
}

async function ifindex(pid: number, dev: string): Promise<number | undefined> {
  const r = await inNetnsOf(pid, ["ip", "-j", "link", "show", "dev", dev]);
  return r.code === 0 ? JSON.parse(r.stdout)[0]?.ifindex : undefined;
}

/** UDP ports listening inside a network namespace. */
async function udpPorts(netns: string): Promise<number[]> {
  const r = await exec(["ip", "netns", "exec", netns, "ss", "-Hlun"]);
  return [...r.stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1]));
}

Deno.test({
  name: "e2e: lab scenario on fresh names — README checks, hand-deleted links return, killed controller, plan change",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepInstances(PREFIX);
    if (swept.length) console.log(`swept stale e2e leftovers: ${swept.join(", ")}`);
    await withNamespace(async (k) => {
      const o = freshInstance(PREFIX, k.namespace, k.kubeconfigPath, k.server);
      try {
        const inst = await instanceUp(o);
        assert.equal(inst.topology.containers.kind, "podman");
        await applyScenario(inst);
        const ctx = await inst.checkContext();
        const wait = async () => assertAllPass(await checks.waitForChecks(ctx, 150_000), ctx);

        if (!await t.step("the README's checks pass (links, addresses, MTU, pings through every link)", wait)) return;

        const healed = await t.step("links deleted by hand come back (WireGuard and vxlan)", async () => {
          const a1 = await inst.pid("agent1");
          const before = { wg: await ifindex(a1, "wg-lax1-lax2-0"), vx: await ifindex(a1, "vxlan1") };
          await inNetnsOf(a1, ["ip", "link", "del", "dev", "vxlan1"]);
          await inNetnsOf(a1, ["ip", "link", "del", "dev", "wg-lax1-lax2-0"]);
          assert.equal(await ifindex(a1, "wg-lax1-lax2-0"), undefined, "deleted");
          await wait();
          assert.notEqual(await ifindex(a1, "wg-lax1-lax2-0"), before.wg, "wg-lax1-lax2-0 was re-created");
          assert.notEqual(await ifindex(a1, "vxlan1"), before.vx, "vxlan1 was re-created");
        });

        const restarted = healed &&
          await t.step("a SIGKILLed wg-controller is restarted and converges what changed meanwhile", async () => {
            const name = "wg-controller-lax1";
            const sup = await labSupervisorPid(o.topology.stateDir, name);
            const pid = (await until("wg-controller-lax1 running", () => labProgramPid(o.topology.stateDir, name)))!;
            const a1 = await inst.pid("agent1");
            const tunnel = await ifindex(a1, "wg-lax1-lax2-0");
            const wg1 = await ifindex(a1, "wg1");
            Deno.kill(pid, "SIGKILL");
            await inNetnsOf(a1, ["ip", "link", "del", "dev", "wg1"]);
            const next = await until("a new wg-controller-lax1", async () => {
              const p = await labProgramPid(o.topology.stateDir, name);
              return p && p !== pid ? p : null;
            }, 30_000) as number;
            assert.equal(await labSupervisorPid(o.topology.stateDir, name), sup, "same supervisor");
            assert.ok(next > 0);
            await wait();
            assert.notEqual(await ifindex(a1, "wg1"), wg1, "wg1 was re-created by the restarted controller");
            assert.equal(await ifindex(a1, "wg-lax1-lax2-0"), tunnel, "the untouched tunnel was adopted, not rebuilt");
          });

        if (restarted) {
          await t.step("a plan change (lax1 port range and key) re-establishes the tunnel", async () => {
            assert.ok((await udpPorts(o.topology.agentxNetns)).includes(52820));
            const key = (await generatePrivateKey()).toBase64();
            const patch = [
              { op: "replace", path: "/spec/nodes/0/underlay/portRange", value: { start: 52830, end: 52849 } },
              { op: "replace", path: "/spec/nodes/0/privateKey", value: key },
            ];
            await kubectl(["-n", k.namespace, "patch", "wgp", "wgp1", "--type=json", `-p=${JSON.stringify(patch)}`]);
            await until("lax1's tunnel on port 52830 instead of 52820", async () => {
              const ports = await udpPorts(o.topology.agentxNetns);
              return ports.includes(52830) && !ports.includes(52820);
            }, 60_000);
            await wait();
          });
        }

        await t.step(
          "a deleted plan takes its links and children along; applied again, it converges again",
          async () => {
            const a1 = await inst.pid("agent1");
            await deleteExamples(k.kubeconfigPath, ["example/wgp/wgp1.yaml"], o.names); // waits for the plan
            await until("the plan's links gone", async () => (await ifindex(a1, "wg-lax1-lax2-0")) === undefined);
            await until("the plan's children gone", async () => {
              const r = await kubectl(["-n", k.namespace, "get", "wgi", "-o", "name"]);
              return !r.stdout.includes("wg-lax1-lax2-0") && !r.stdout.includes("wg-lax2-lax1-0");
            });
            await applyExamples(k.kubeconfigPath, ["example/wgp/wgp1.yaml"], o.names);
            await wait();
          },
        );
      } finally {
        // Objects carry finalizers that the controllers release: delete them while the controllers still run.
        await deleteExamples(k.kubeconfigPath, LAB_EXAMPLES, o.names).catch((e) => console.error(String(e)));
        await instanceDown(o);
      }
    }, { prefix: PREFIX });
  },
});
