/**
 * The image as a kubelet runs it (lab/imagepods.ts, settings read from deploy/'s rendered manifests by
 * lab/workloads.ts), on a fresh lab instance `dn42op-img-<id>-…` with the manifests moved into two test namespaces:
 *
 * - offline: every program of the image starts with no network, a read-only root and the manifests' user;
 * - every pod answers its liveness and readiness probes as declared, and the README's checks pass through the
 *   containerised agents (their own ServiceAccounts, Pod-bound tokens, the admission policy);
 * - SIGTERM (`podman stop`, the manifests' grace period as stop timeout) ends each program with exit status 0 before
 *   the grace period is over; started again it is Ready and the kernel state it manages is intact;
 * - wg-controller's container restarted the three ways a kubelet restarts it (its program crashed, a liveness-probe
 *   kill, a restart) leaves the userspace tunnels alone: the wireguard-go daemons live in the pod's holder container
 *   and are adopted (lab/stability.ts around the restarts: same ifindex, same daemon PIDs, no Warning Event, pings
 *   answered throughout); a restart of the holder's container ends them and wg-controller recreates them.
 */
import assert from "node:assert/strict";
import * as checks from "../../lab/checks.ts";
import { exec } from "../../kit/proc.ts";
import type { ImagePod } from "../../lab/imagepods.ts";
import {
  applyScenario,
  freshInstance,
  instanceDown,
  instanceUp,
  stabilityTarget,
  sweepInstances,
} from "../../lab/instance.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { probeOnce, waitForProbe } from "../../lab/probe.ts";
import { inNetnsOf } from "../../lab/scenario.ts";
import { stabilityChecks } from "../../lab/stability.ts";
import { renderManifests } from "../../lab/workloads.ts";
import { ensureImage, IMAGE } from "../../scripts/image/build.ts";
import { baseFor, type Obj } from "../../kit/deploy.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { until } from "../../kit/wait.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-img-";
const HOLDER = "wireguard-go-holder";
const KINDS = [
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionPolicyBinding",
  "DaemonSet",
  "Deployment",
];

async function ifindex(pid: number, dev: string): Promise<number | undefined> {
  const r = await inNetnsOf(pid, ["ip", "-j", "link", "show", "dev", dev]);
  return r.code === 0 ? JSON.parse(r.stdout)[0]?.ifindex : undefined;
}

Deno.test({
  name: "image: every program starts offline, with a read-only root, as the manifests' user",
  ignore: skipUnless("root", "podman", "cluster"),
  fn: async () => {
    const podman = new Podman();
    await ensureImage(IMAGE, podman);
    const workloads = (await renderManifests()).filter((o) => ["DaemonSet", "Deployment"].includes(o.kind));
    assert.equal(workloads.length, 3);
    const containers = workloads.flatMap((w) => w.spec.template.spec.containers.map((c: Obj) => ({ w, c })));
    assert.equal(containers.length, 4, "three programs and wg-controller's holder");
    for (const { w, c } of containers) {
      const user = c.securityContext?.runAsUser ?? w.spec.template.spec.securityContext?.runAsUser;
      const r = await exec(
        [
          "podman",
          "run",
          "--rm",
          "--network=none",
          "--read-only",
          "--read-only-tmpfs=false",
          `--user=${user}`,
          c.image,
          ...c.command,
          "-h",
        ],
        await podman.env(),
      );
      const program = c.command[0].split("/").at(-1);
      assert.match(r.stderr, new RegExp(`Usage of ${program}:`), `${w.metadata.name}: ${r.stderr}`);
      // Deno's own lines (the flags' help text may say "error"): a download, or a warning or error of the runtime.
      assert.doesNotMatch(r.stderr, /^\s*(Download|Warning|error:)/m, `${w.metadata.name} fetched or complained`);
    }
  },
});

Deno.test({
  name: "image: pods answer their probes, run the lab scenario, stop cleanly on SIGTERM and restart intact",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepInstances(PREFIX);
    if (swept.length) console.log(`swept stale image-test leftovers: ${swept.join(", ")}`);
    const podman = new Podman();
    await withNamespace(async (system) => {
      await withNamespace(async (watched) => {
        const manifests = await baseFor({ system: system.namespace, watched: watched.namespace }, KINDS);
        const o = {
          ...freshInstance(PREFIX, watched.namespace, watched.kubeconfigPath, watched.server),
          image: true,
          manifests,
        };
        try {
          const inst = await instanceUp(o);
          const pods = inst.pods!;
          assert.equal(
            pods.length,
            8,
            "2 nodes × (wg-controller + its holder, nl-controller) + 2 plan controller replicas",
          );
          for (const p of pods) console.log(`${p.run.name}: Ready ${(p.readyMs / 1000).toFixed(1)} s after podman run`);

          await t.step("every pod answers its liveness and readiness probes as declared", async () => {
            for (const p of pods) {
              if (p.run.container === HOLDER) {
                assert.equal(p.run.livenessProbe ?? p.run.readinessProbe, undefined, "the holder has no probes");
                continue;
              }
              for (const probe of [p.run.livenessProbe, p.run.readinessProbe]) {
                assert.ok(probe, `${p.run.name} declares both probes`);
                const r = await probeOnce(p.run.netns, probe);
                assert.ok(r.ok, `${p.run.name} ${probe.path}:${probe.port}: ${r.error ?? r.status}`);
              }
            }
          });

          await applyScenario(inst);
          const ctx = await inst.checkContext();
          const allPass = async () => {
            const results = await checks.waitForChecks(ctx, 180_000);
            const bad = results.filter((r) => r.status === "FAIL");
            assert.equal(bad.length, 0, `checks failed:\n${checks.formatTable(results)}`);
          };
          if (!await t.step("the README's checks pass through the containerised agents", allPass)) return;

          const stopStart = async (p: ImagePod) => {
            const t0 = performance.now();
            await podman.run("stop", p.run.name); // SIGTERM; SIGKILL after the container's stop timeout (the grace)
            const seconds = (performance.now() - t0) / 1000;
            const code = Number((await podman.run("inspect", "--format", "{{.State.ExitCode}}", p.run.name)).trim());
            assert.equal(code, 0, `${p.run.name} exit status after SIGTERM`);
            assert.ok(seconds < p.run.terminationGracePeriodSeconds, `${p.run.name} took ${seconds} s`);
            await podman.run("start", p.run.name);
            if (p.run.readinessProbe) await waitForProbe(p.run.netns, p.run.readinessProbe, 180_000);
            return seconds;
          };

          await t.step(
            "nl-controller: SIGTERM exits 0 within the grace period; restarted, its links are intact",
            async () => {
              const nl = pods.find((p) => p.run.name.endsWith("nl-controller-lax1"))!;
              const agent1 = await inst.pid("agent1");
              const before = await ifindex(agent1, "veth1-a");
              assert.ok(before, "veth1-a exists");
              const s = await stopStart(nl);
              console.log(`${nl.run.name}: stopped in ${s.toFixed(2)} s`);
              await allPass();
              assert.equal(await ifindex(agent1, "veth1-a"), before, "veth1-a was not recreated");
            },
          );

          // The three ways a kubelet restarts a container, each waited for until the program is Ready again.
          const restarts: Record<string, (p: ImagePod) => Promise<void>> = {
            // The program dies; the kubelet starts the container again (podman's restart policy may be first).
            crash: async (p) => {
              const pid = await podman.pid(p.run.name);
              Deno.kill(pid, "SIGKILL");
              const st = await until(`${p.run.name} exited or restarted`, async () => {
                const st = await podman.inspect(p.run.name);
                return st && (!st.running || st.pid !== pid) ? st : undefined;
              });
              if (!st!.running) await podman.run("start", p.run.name);
              await waitForProbe(p.run.netns, p.run.readinessProbe!, 180_000);
            },
            // A failed liveness probe: the kubelet stops the container (SIGTERM, the grace period) and starts it.
            "liveness kill": async (p) => void await stopStart(p),
            "podman restart": async (p) => {
              await podman.run("restart", p.run.name);
              await waitForProbe(p.run.netns, p.run.readinessProbe!, 180_000);
            },
          };
          const wgControllers = pods.filter((p) => p.run.container === "wg-controller");
          assert.equal(wgControllers.length, 2);

          await t.step(
            "wg-controller restarted (crash, liveness kill, podman restart): tunnels, daemons and pings unaffected",
            async () => {
              const agent1 = await inst.pid("agent1");
              const before = await ifindex(agent1, "wg-lax1-lax2-0");
              const pidsBefore = await Promise.all(wgControllers.map((p) => podman.pid(p.run.name)));
              const restartAll = async () => {
                for (const [how, restart] of Object.entries(restarts)) {
                  const t0 = performance.now();
                  await Promise.all(wgControllers.map(restart));
                  console.log(
                    `wg-controllers: ${how}, Ready again after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
                  );
                }
              };
              // A resync period (the manifests' default, 30 s) after the last restart: adoption is over by then.
              const rows = await stabilityChecks(ctx, stabilityTarget(o), 35_000, 2000, restartAll);
              console.log(checks.formatTable(rows));
              const pidsAfter = await Promise.all(wgControllers.map((p) => podman.pid(p.run.name)));
              pidsAfter.forEach((pid, i) => assert.notEqual(pid, pidsBefore[i], "the program was restarted"));
              assert.deepEqual(rows.filter((r) => r.status !== "ok"), [], "stable across the restarts");
              assert.equal(await ifindex(agent1, "wg-lax1-lax2-0"), before, "wg-lax1-lax2-0 was not recreated");
              await allPass();
            },
          );

          await t.step("wgplan-controller and the holder: SIGTERM exits 0 within the grace period", async () => {
            const agent1 = await inst.pid("agent1");
            const before = await ifindex(agent1, "wg-lax1-lax2-0");
            for (
              const p of pods.filter((p) =>
                /wgplan-controller-0$|wg-controller-lax1-wireguard-go-holder$/.test(p.run.name)
              )
            ) {
              const s = await stopStart(p);
              console.log(`${p.run.name}: stopped in ${s.toFixed(2)} s`);
            }
            // The holder's daemons end with its container (deploy/README.md, "WireGuard in a pod"): wg-controller
            // starts them again through the new holder.
            await allPass();
            const after = await ifindex(agent1, "wg-lax1-lax2-0");
            console.log(`wg-lax1-lax2-0 ifindex before the holder's restart ${before}, after ${after}`);
          });
        } finally {
          await instanceDown(o);
        }
      }, { prefix: PREFIX });
    }, { prefix: PREFIX });
  },
});
