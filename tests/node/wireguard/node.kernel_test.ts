/**
 * Kernel tier (qemu): the node-level scenario with the kernel WireGuard module — including the wgp1 result at node
 * level: wg-lax1-lax2-0 holds 10.4.0.1 peer 10.4.0.2/32 inside its container and pings 10.4.0.2.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../../helpers/caps.ts";
import { ensure, nodeScenario, pair, ping, withSides } from "./scenario.ts";

const ignore = skipUnless("root", "wireguard-kernel");

Deno.test({
  name: "wg node (kernel): create in host, move, tunnel, minimal changes, drift, key change, removal",
  ignore,
  fn: () => withSides("kernel", (a, b) => nodeScenario(a, b, "kernel")),
});

Deno.test({
  name: "wg node (kernel): wgp1 at node level (wg-lax1-lax2-0 ↔ wg-lax2-lax1-0)",
  ignore,
  fn: () =>
    withSides("kernel", async (a, b) => {
      pair(a, b);
      a.spec.interfaceName = "wg-lax1-lax2-0";
      b.spec.interfaceName = "wg-lax2-lax1-0";
      assert.ok((await ensure(a)).converged);
      assert.ok((await ensure(b)).converged);
      const shown = await a.ctr.ip("addr", "show", "dev", "wg-lax1-lax2-0");
      assert.match(shown, /POINTOPOINT,NOARP,UP/);
      assert.match(shown, /mtu 1420/);
      assert.match(shown, /inet 10\.4\.0\.1 peer 10\.4\.0\.2\/32/);
      assert.ok(await ping(a.ctr, "10.4.0.2"));
    }),
});
