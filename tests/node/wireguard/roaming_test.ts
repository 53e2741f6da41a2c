/** Which spec endpoints the diff still compares when the device reports another one (roaming). */
import assert from "node:assert/strict";
import { keepRoamed, SESSION_LIFETIME_MS, specEndpoints } from "../../../src/node/wireguard/roaming.ts";
import { diffDevice } from "../../../src/wireguard/diff.ts";
import { Endpoint, IpPrefix } from "../../../src/wireguard/addr.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import type { DeviceConfig, DeviceState } from "../../../src/wireguard/model.ts";

const NOW = 1_000_000_000;
const SPEC = Endpoint.parse("[2001:db8:1::12]:51820");
const ROAMED = Endpoint.parse("192.0.2.12:51820");
const NEW_SPEC = Endpoint.parse("[2001:db8:1::13]:51820");

Deno.test("roaming: a learned endpoint stays only while its session lives and the spec did not change", async () => {
  const publicKey = await publicKeyOf(await generatePrivateKey());
  const key = publicKey.toBase64();
  const allowedIps = [IpPrefix.parse("198.51.100.1/32")];
  const desired = (endpoint?: Endpoint): DeviceConfig => ({ peers: [{ publicKey, endpoint, allowedIps }] });
  const device = (endpoint: Endpoint | undefined, handshakeAgoMs: number | null): DeviceState => ({
    name: "wg0",
    listenPort: 51820,
    fwmark: 0,
    peers: [{
      publicKey,
      endpoint,
      allowedIps,
      lastHandshake: handshakeAgoMs === null ? null : new Date(NOW - handshakeAgoMs),
      rxBytes: 0n,
      txBytes: 0n,
      protocolVersion: 1,
    }],
  });
  const applied = (e: Endpoint) => new Map([[key, e.text]]);
  // [case, desired, device, applied endpoints, endpoint still compared]
  const table: [string, DeviceConfig, DeviceState, Map<string, string> | undefined, boolean][] = [
    ["roamed, live session, spec as applied", desired(SPEC), device(ROAMED, 5_000), applied(SPEC), false],
    ["roamed, live session, nothing applied yet (restart)", desired(SPEC), device(ROAMED, 5_000), undefined, false],
    ["roamed, but the spec changed since", desired(NEW_SPEC), device(ROAMED, 5_000), applied(SPEC), true],
    ["roamed, never a handshake", desired(SPEC), device(ROAMED, null), applied(SPEC), true],
    ["roamed, session expired", desired(SPEC), device(ROAMED, SESSION_LIFETIME_MS + 1), applied(SPEC), true],
    ["device has no endpoint", desired(SPEC), device(undefined, 5_000), applied(SPEC), true],
  ];
  for (const [what, want, have, before, compared] of table) {
    const kept = keepRoamed(want, have, before, NOW);
    assert.equal(kept.peers[0].endpoint !== undefined, compared, what);
    const updates = diffDevice(kept, have, { allowedIpRemoval: "remove-me" });
    assert.equal(updates.length > 0, compared, `${what}: a device write`);
  }
  const unchanged = desired(SPEC);
  assert.equal(keepRoamed(unchanged, device(SPEC, 5_000), undefined, NOW), unchanged, "no roaming: the same object");
  assert.deepEqual(specEndpoints(desired(SPEC)), new Map([[key, SPEC.text]]));
  assert.deepEqual(specEndpoints(desired()), new Map());
});
