/**
 * The image as a kubelet runs it (lab/imagepods.ts, settings read from deploy/'s rendered manifests by
 * lab/workloads.ts), on a fresh lab instance `dn42op-img-<id>-…` with the manifests moved into two test namespaces:
 *
 * - offline: every program of the image starts with no network, a read-only root and the manifests' user;
 * - every pod answers its liveness and readiness probes as declared, and the README's checks pass through the
 *   containerised agents (their own ServiceAccounts, Pod-bound tokens, the admission policy);
 * - the wireguard-go daemons run in the cgroup of the wg-controller pod's holder container, none in wg-controller's;
 * - every program's container restarted the three ways a kubelet restarts one (its program crashed; a liveness-probe
 *   kill: SIGTERM, `podman stop` with the grace period as stop timeout, exit status 0 before it is over; a restart)
 *   leaves the kernel state alone: lab/stability.ts around the restarts and two resync periods after them (same
 *   ifindex of every managed link, same wireguard-go PIDs, no Warning Event, pings answered throughout), the probes
 *   answer again, the checks pass;
 * - a restart of the holder's container (SIGTERM, exit 0 within the grace period) ends its daemons and wg-controller
 *   starts them again through it.
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

/** Container name → number of wireguard-go processes in that container's cgroup, for the containers of `pods`. */
async function daemonsByCgroup(pods: ImagePod[]): Promise<Map<string, number>> {
  const podman = new Podman();
  const cgroup = (pid: number | string) => Deno.readTextFile(`/proc/${pid}/cgroup`).catch(() => undefined);
  const byCgroup = new Map<string, string>();
  for (const p of pods) byCgroup.set((await cgroup(await podman.pid(p.run.name)))!, p.run.name);
  assert.equal(byCgroup.size, pods.length, "each container has a cgroup of its own");
  const out = new Map<string, number>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const comm = await Deno.readTextFile(`/proc/${e.name}/comm`).catch(() => "");
    if (comm.trim() !== "wireguard-go") continue;
    const owner = byCgroup.get((await cgroup(e.name)) ?? "");
    if (owner) out.set(owner, (out.get(owner) ?? 0) + 1);
  }
  return out;
}

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
          assert.equal(
            pods.length,
            8,
            "2 nodes × (wg-controller + its holder, nl-controller) + 2 plan controller replicas",
          );
          for (const p of pods) console.log(`${p.run.name}: Ready ${(p.readyMs / 1000).toFixed(1)} s after podman run`);

          const probesAnswer = async () => {
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
          };
          await t.step("every pod answers its liveness and readiness probes as declared", probesAnswer);

          await applyScenario(inst);
          const ctx = await inst.checkContext();
          const allPass = async () => {
            const results = await checks.waitForChecks(ctx, 180_000);
            const bad = results.filter((r) => r.status === "FAIL");
            assert.equal(bad.length, 0, `checks failed:\n${checks.formatTable(results)}`);
          };
          if (!await t.step("the README's checks pass through the containerised agents", allPass)) return;

          // Where the wireguard-go daemons live decides what a container's restart does to them: its cgroup's
          // processes are all killed. Every daemon of the wg-controller pods must be in a holder's cgroup.
          const wgPods = pods.filter((p) => p.podObject.includes("wg-controller"));
          assert.equal(wgPods.length, 4, "2 nodes × (wg-controller, holder)");
          const daemonsOnlyInHolders = async () => {
            const byContainer = await daemonsByCgroup(wgPods);
            for (const p of wgPods) {
              const n = byContainer.get(p.run.name) ?? 0;
              if (p.run.container === HOLDER) assert.ok(n > 0, `${p.run.name} holds no wireguard-go`);
              else assert.equal(n, 0, `${p.run.name} runs ${n} wireguard-go in its own cgroup`);
            }
          };
          await t.step("the wireguard-go daemons are in the holders' containers, none in wg-controller's", async () => {
            await daemonsOnlyInHolders();
          });

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

          // The three ways a kubelet restarts a container, each waited for until the program is Ready again.
          const restarts: Record<string, (p: ImagePod) => Promise<unknown>> = {
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
            "liveness kill": stopStart,
            "podman restart": async (p) => {
              await podman.run("restart", p.run.name);
              await waitForProbe(p.run.netns, p.run.readinessProbe!, 180_000);
            },
          };
          const programs = pods.filter((p) => p.run.container !== HOLDER);
          assert.equal(programs.length, 6);

          await t.step(
            "every program's container restarted (crash, SIGTERM within the grace period, podman restart): links, " +
              "daemons, Events and pings stable over two resync periods",
            async () => {
              const agent1 = await inst.pid("agent1");
              const before = await ifindex(agent1, "wg-lax1-lax2-0");
              const pidsBefore = await Promise.all(programs.map((p) => podman.pid(p.run.name)));
              const restartAll = async () => {
                for (const [how, restart] of Object.entries(restarts)) {
                  const t0 = performance.now();
                  await Promise.all(programs.map(restart));
                  const s = ((performance.now() - t0) / 1000).toFixed(1);
                  console.log(`${how}: all ${programs.length} program containers Ready again after ${s} s`);
                }
              };
              // Two resync periods (the manifests' default, 30 s) and a margin after the last restart, as lab:check.
              const rows = await stabilityChecks(ctx, stabilityTarget(o), 65_000, 2000, restartAll);
              console.log(checks.formatTable(rows));
              const pidsAfter = await Promise.all(programs.map((p) => podman.pid(p.run.name)));
              pidsAfter.forEach((pid, i) => assert.notEqual(pid, pidsBefore[i], `${programs[i].run.name} restarted`));
              assert.deepEqual(rows.filter((r) => r.status !== "ok"), [], "stable across the restarts");
              assert.equal(await ifindex(agent1, "wg-lax1-lax2-0"), before, "wg-lax1-lax2-0 was not recreated");
              await probesAnswer();
              await daemonsOnlyInHolders();
              await allPass();
            },
          );

          await t.step(
            "the holder: SIGTERM exits 0 within the grace period; its daemons end, wg-controller starts them again " +
              "through it",
            async () => {
              const agent1 = await inst.pid("agent1");
              const before = await ifindex(agent1, "wg-lax1-lax2-0");
              const holder = pods.find((p) => p.run.name.endsWith("wg-controller-lax1-wireguard-go-holder"))!;
              console.log(`${holder.run.name}: stopped in ${(await stopStart(holder)).toFixed(2)} s`);
              await allPass();
              await daemonsOnlyInHolders();
              // The daemons end with the holder's container (deploy/README.md, "WireGuard in a pod"). Reported.
              const after = await ifindex(agent1, "wg-lax1-lax2-0");
              console.log(`wg-lax1-lax2-0 ifindex before the holder's restart ${before}, after ${after}`);
            },
          );
        } finally {
          await instanceDown(o);
        }
      }, { prefix: PREFIX });
    }, { prefix: PREFIX });
  },
});
