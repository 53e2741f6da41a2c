/**
 * Placement with the real nl-controller, real containers (podman playing the kubelet's Pods through the Docker API)
 * and the real API server: container.pod reaches only Pods of the object's own namespace; a netns.path naming a
 * FIFO, or leading back to the agent's own namespace, is refused with a condition while the agent keeps serving the
 * other objects (it never blocks).
 */
import assert from "node:assert/strict";
import { withNamespace } from "../../helpers/cluster.ts";
import { ensureContainersProfile, withPodman } from "../../lab/podman_fixture.ts";
import { run } from "../../../lab/exec.ts";
import { create, customApi, type Obj, read, ready, startNlAgent, waitFor } from "./harness.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../../helpers/caps.ts");

/** The Ready condition of object `name` once it has the given reason. */
function readyReason(api: Awaited<ReturnType<typeof customApi>>, ns: string, name: string, reason: string) {
  return waitFor(`${name} Ready=False ${reason}`, async () => {
    const o: Obj = await read(api, ns, name);
    const c = o?.status?.conditions?.find((c: Obj) => c.type === "Ready");
    return c?.status === "False" && c.reason === reason && c;
  });
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
