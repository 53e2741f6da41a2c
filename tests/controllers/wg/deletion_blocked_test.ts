/**
 * wg-controller: deleting a WireGuardInterface that lives in a container while the container runtime's API is down
 * (real podman, wireguard-go, real API server) keeps the finalizer — DeletionBlocked with the attempt count, one
 * Event — and the tunnel is removed, then the object released, once the runtime answers again. No live tunnel is left
 * behind by an object that is gone.
 */
import assert from "node:assert/strict";
import { clientNode } from "../../../kit/k8s.ts";
import { ensureContainersProfile, withPodman } from "../../lab/podman_fixture.ts";
import { startService, stopService } from "../../../lab/podman/service.ts";
import { cluster } from "../../../kit/cluster.ts";
import { run } from "../../../kit/proc.ts";
import { until } from "../../../kit/wait.ts";
import { skipUnless } from "../../helpers/caps.ts";
import { generatePrivateKey } from "../../../src/wireguard/key.ts";
import { condition, create, ifname, isReady, read, remove, wgi, withAgent } from "./support.ts";

await ensureContainersProfile();

Deno.test({
  name: "wg-controller: deletion while the container runtime is unreachable keeps the finalizer until the link is gone",
  ignore: skipUnless("root", "cluster", "wireguard-go", "podman"),
  fn: () =>
    withPodman(async ({ podman, service, paths, container }) => {
      const c = await container("wgdel");
      const links = () => run(["nsenter", "-t", String(c.pid), "-n", "ip", "-br", "link"]);
      await withAgent(
        0,
        async ({ ns }) => {
          const n = ifname();
          await create(wgi(ns, "d1", {
            node: "lax1",
            moveToContainer: true,
            container: { docker: { name: c.name } },
            interfaceName: n,
            privateKey: (await generatePrivateKey()).toBase64(),
            addresses: [{ family: "inet", local: "10.4.0.1", peer: "10.4.0.2", prefixlen: 32 }],
            peers: [],
          }));
          await until("Ready", async () => isReady(await read(ns, "d1")), 180_000, 250);
          assert.match(await links(), new RegExp(n));

          await stopService(paths); // the container keeps running; only its runtime's API is gone
          await remove(ns, "d1");
          const blocked = await until(
            "deletion blocked, attempt 2 shown",
            async () => {
              const o = await read(ns, "d1");
              const c = condition(o, "Ready");
              return c?.reason === "DeletionBlocked" && /attempt [2-9]/.test(c.message) ? o : undefined;
            },
            120_000,
            250,
          );
          assert.deepEqual(blocked.metadata.finalizers, ["wireguardinterface.networking.dn42.io/finalizer"]);
          assert.match(
            condition(blocked, "Ready").message,
            new RegExp(`cannot confirm that .*${n}.* is gone \\(.*\\); the finalizer stays until it is: attempt \\d+`),
          );
          assert.match(await links(), new RegExp(n), "the tunnel is still there, and so is its object");
          const k8s = await clientNode();
          const events = await (await cluster()).kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({
            namespace: ns,
            fieldSelector: "involvedObject.name=d1,reason=DeletionBlocked",
          });
          assert.deepEqual(
            events.items.map((e) => e.count ?? 1),
            [1],
            "one Event, not one per attempt",
          );

          await startService(podman, paths);
          await until("object gone", async () => (await read(ns, "d1")) === null, 360_000, 250);
          assert.doesNotMatch(await links(), new RegExp(n), "the tunnel went before the finalizer");
        },
        [`-docker-host=${service.dockerHost}`],
        "ten",
      );
    }),
});
