/**
 * The image as a kubelet runs it (lab/imagepods.ts, settings read from deploy/'s rendered manifests by
 * lab/workloads.ts), on a fresh lab instance `dn42op-img-<id>-…` with the manifests moved into two test namespaces:
 *
 * - offline: every program of the image starts with no network, a read-only root and the manifests' user;
 * - every pod answers its liveness and readiness probes as declared, and the README's checks pass through the
 *   containerised agents (their own ServiceAccounts, Pod-bound tokens, the admission policy);
 * - SIGTERM (`podman stop`, the manifests' grace period as stop timeout) ends each program with exit status 0 before
 *   the grace period is over; started again it is Ready and the kernel state it manages is intact.
 */
import assert from "node:assert/strict";
import * as checks from "../../lab/checks.ts";
import { exec } from "../../kit/proc.ts";
import type { ImagePod } from "../../lab/imagepods.ts";
import { applyScenario, freshInstance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { probeOnce, waitForProbe } from "../../lab/probe.ts";
import { inNetnsOf } from "../../lab/scenario.ts";
import { renderManifests } from "../../lab/workloads.ts";
import { ensureImage, IMAGE } from "../../scripts/image/build.ts";
import { baseFor } from "../../kit/deploy.ts";
import { withNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-img-";
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
    for (const w of workloads) {
      const c = w.spec.template.spec.containers[0];
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
        { env: await podman.env() },
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
          assert.equal(pods.length, 6, "2 nodes × 2 DaemonSets + 2 plan controller replicas");
          for (const p of pods) console.log(`${p.run.name}: Ready ${(p.readyMs / 1000).toFixed(1)} s after podman run`);

          await t.step("every pod answers its liveness and readiness probes as declared", async () => {
            for (const p of pods) {
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
            await waitForProbe(p.run.netns, p.run.readinessProbe!, 180_000);
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

          await t.step("wg-controller and wgplan-controller: SIGTERM exits 0 within the grace period", async () => {
            const agent1 = await inst.pid("agent1");
            const before = await ifindex(agent1, "wg-lax1-lax2-0");
            for (const p of pods.filter((p) => /wg-controller-lax1$|wgplan-controller-0$/.test(p.run.name))) {
              const s = await stopStart(p);
              console.log(`${p.run.name}: stopped in ${s.toFixed(2)} s`);
            }
            await allPass();
            // wireguard-go runs in wg-controller's container, whose processes all end with it (deploy/README.md,
            // "WireGuard in a pod"): the userspace tunnel is recreated. Reported, not asserted.
            const after = await ifindex(agent1, "wg-lax1-lax2-0");
            console.log(`wg-lax1-lax2-0 ifindex before the wg-controller restart ${before}, after ${after}`);
          });
        } finally {
          await instanceDown(o);
        }
      }, { prefix: PREFIX });
    }, { prefix: PREFIX });
  },
});
