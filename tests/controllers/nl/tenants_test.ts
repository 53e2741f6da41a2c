/**
 * Placement with the real nl-controller, real containers (podman playing the kubelet's Pods through the Docker API)
 * and the real API server: container.pod reaches only Pods of the object's own namespace; a netns.path naming a
 * FIFO, or leading back to the agent's own namespace, is refused with a condition while the agent keeps serving the
 * other objects (it never blocks). A deletion while the container runtime does not answer keeps the finalizer.
 */
import assert from "node:assert/strict";
import { clientNode } from "../../../kit/k8s.ts";
import { cluster, withNamespace } from "../../../kit/cluster.ts";
import { startService, stopService } from "../../../lab/podman/service.ts";
import { ensureContainersProfile, withPodman } from "../../lab/podman_fixture.ts";
import { run } from "../../../kit/proc.ts";
import { create, customApi, NLI, type Obj, read, ready, startNlAgent, WAIT_MS } from "../../../kit/nl_agent.ts";
import { until } from "../../../kit/wait.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../../helpers/caps.ts");

/** The Ready condition of object `name` once it has the given reason. */
function readyReason(api: Awaited<ReturnType<typeof customApi>>, ns: string, name: string, reason: string) {
  return until(`${name} Ready=False ${reason}`, async () => {
    const o: Obj = await read(api, ns, name);
    const c = o?.status?.conditions?.find((c: Obj) => c.type === "Ready");
    return c?.status === "False" && c.reason === reason && c;
  }, WAIT_MS);
}

Deno.test({
  name: "tenants: container.pod reaches only Pods of the object's namespace; a FIFO or own-namespace path is refused",
  ignore: skipUnless("root", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withPodman(({ service, container }) =>
      withNamespace(async ({ namespace }) => {
        const podLabels = (ns: string, name: string) => ({
          "io.kubernetes.pod.namespace": ns,
          "io.kubernetes.pod.name": name,
        });
        const mine = await container("pod", podLabels(namespace, "router-0"));
        const theirs = await container("pod", podLabels(`${namespace}-other`, "router-1"));
        const dir = await Deno.makeTempDir({ prefix: "dn42op-ten-fifo-" });
        await run(["mkfifo", `${dir}/fifo`]);
        const agent = await startNlAgent({
          nodename: "lax1",
          namespace,
          netnsTag: "ten",
          args: [`-docker-host=${service.dockerHost}`, "-default-resync-period=3600"],
        });
        try {
          const api = await customApi();
          const bridge = (name: string, container: Obj) =>
            create(api, {
              apiVersion: "networking.dn42.io/v1alpha1",
              kind: "NetlinkInterface",
              metadata: { name, namespace },
              spec: {
                node: "lax1",
                interfaceName: name,
                type: "bridge",
                container,
                addresses: [{ ipcidr: "fe80::7/64" }],
              },
            });
          // Objects that must be refused come first: if any of them blocked the agent, the last one would never converge.
          await bridge("br-fifo", { netns: { path: `${dir}/fifo` } });
          await bridge("br-self", { netns: { path: "/proc/self/ns/net" } });
          await bridge("br-theirs", { pod: { name: "router-1" } });
          await bridge("br-mine", { pod: { name: "router-0" } });
          await ready(api, namespace, "br-mine");
          const inMine = await run(["nsenter", "-t", String(mine.pid), "-n", "ip", "-br", "addr", "show", "br-mine"]);
          assert.match(inMine, /fe80::7\/64/);

          const fifo = await readyReason(api, namespace, "br-fifo", "PlacementNotFound");
          assert.match(fifo.message, /fifo.*a FIFO, not a namespace file \(nsfs\)/);
          const self = await readyReason(api, namespace, "br-self", "PlacementForbidden");
          assert.match(self.message, /resolves to the agent's own network namespace/);
          const other = await readyReason(api, namespace, "br-theirs", "PlacementNotFound");
          assert.match(other.message, new RegExp(`pod "router-1" of namespace "${namespace}".*no running container`));
          // Nothing landed in the other namespace's Pod, nor in the agent's own namespace.
          const inTheirs = await run(["nsenter", "-t", String(theirs.pid), "-n", "ip", "-br", "link"]);
          assert.doesNotMatch(inTheirs, /br-/);
          assert.doesNotMatch(await agent.host.ip("-br", "link"), /br-/);
          assert.ok(Deno.statSync(`/proc/${agent.pid}`), "the agent is still the process it was");
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
          await Deno.remove(dir, { recursive: true });
        }
      }, { prefix: "dn42op-ten-" })
    ),
});

Deno.test({
  name: "deletion while the container runtime is unreachable keeps the finalizer until the link is really gone",
  ignore: skipUnless("root", "cluster", "podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withPodman(({ podman, service, paths, container }) =>
      withNamespace(async ({ namespace }) => {
        const c = await container("del");
        const agent = await startNlAgent({
          nodename: "lax1",
          namespace,
          netnsTag: "ten",
          args: [`-docker-host=${service.dockerHost}`, "-default-resync-period=3600"],
        });
        const api = await customApi();
        const inC = () => run(["nsenter", "-t", String(c.pid), "-n", "ip", "-br", "link"]);
        try {
          await create(api, {
            apiVersion: "networking.dn42.io/v1alpha1",
            kind: "NetlinkInterface",
            metadata: { name: "br-del", namespace },
            spec: { node: "lax1", interfaceName: "br-del", type: "bridge", container: { docker: { name: c.name } } },
          });
          await ready(api, namespace, "br-del");
          await stopService(paths); // the container keeps running; only its runtime's API is gone
          await api.deleteNamespacedCustomObject({ ...NLI, namespace, name: "br-del" });
          const blocked = await until("deletion blocked, attempt 2 shown", async () => {
            const o: Obj = await read(api, namespace, "br-del");
            const c = o?.status?.conditions?.find((c: Obj) => c.type === "Ready");
            return c?.reason === "DeletionBlocked" && /attempt [2-9]/.test(c.message) ? o : undefined;
          }, WAIT_MS);
          assert.deepEqual(blocked.metadata.finalizers, ["netlinkinterface.networking.dn42.io/finalizer"]);
          assert.match(
            blocked.status.conditions.find((c: Obj) => c.type === "Ready").message,
            /cannot confirm that link br-del is gone \(.*unreachable.*\); the finalizer stays until it is: attempt \d+, next in \d+ s/,
          );
          assert.match(await inC(), /br-del/, "the link is still there, and so is the object");
          const k8s = await clientNode();
          const events = await (await cluster()).kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({
            namespace,
            fieldSelector: "involvedObject.name=br-del,reason=DeletionBlocked",
          });
          assert.equal(events.items.length, 1);
          assert.equal(events.items[0].count ?? 1, 1, "one Event, not one per attempt");
          await startService(podman, paths);
          await until("object gone", async () => (await read(api, namespace, "br-del")) === null, WAIT_MS);
          assert.doesNotMatch(await inC(), /br-del/, "the link went before the finalizer");
        } catch (e) {
          console.error(await Deno.readTextFile(agent.logFile).catch(() => ""));
          throw e;
        } finally {
          await agent.dispose();
        }
      }, { prefix: "dn42op-ten-" })
    ),
});
