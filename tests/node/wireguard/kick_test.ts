/** Which peers the first-handshake kick re-adds: those that initiate on their own (endpoint and keepalive). */
import assert from "node:assert/strict";
import { initiators } from "../../../src/node/wireguard/kick.ts";
import { Endpoint, IpPrefix } from "../../../src/wireguard/addr.ts";
import { generatePrivateKey, publicKeyOf } from "../../../src/wireguard/key.ts";
import type { PeerConfig } from "../../../src/wireguard/model.ts";

Deno.test("kick: only peers with an endpoint and a keepalive initiate", async () => {
  const key = async () => await publicKeyOf(await generatePrivateKey());
  const allowedIps = [IpPrefix.parse("0.0.0.0/0")];
  const endpoint = Endpoint.parse("192.168.65.3:52820");
  const table: [string, PeerConfig, boolean][] = [
    ["endpoint + keepalive 25", { publicKey: await key(), endpoint, persistentKeepalive: 25, allowedIps }, true],
    ["endpoint, no keepalive", { publicKey: await key(), endpoint, allowedIps }, false],
    ["endpoint, keepalive 0", { publicKey: await key(), endpoint, persistentKeepalive: 0, allowedIps }, false],
    ["keepalive, no endpoint", { publicKey: await key(), persistentKeepalive: 25, allowedIps }, false],
    ["neither", { publicKey: await key(), allowedIps }, false],
  ];
  const picked = initiators(table.map(([, p]) => p));
  for (const [what, p, want] of table) assert.equal(picked.includes(p), want, what);
});
