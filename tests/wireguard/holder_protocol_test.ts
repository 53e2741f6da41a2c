/** The wireguard-go holder's protocol (pure parts): what a request may carry, what a reply is. */
import assert from "node:assert/strict";
import { InvalidConfigError } from "../../src/wireguard/errors.ts";
import {
  encodeReply,
  encodeStartRequest,
  MAX_START_TIMEOUT_MS,
  parseReply,
  parseStartRequest,
} from "../../src/wireguard/holder_protocol.ts";

const ok = { name: "wg0", stateDir: "/run/dn42op/wireguard-go/default/n1" };

Deno.test("holder protocol: a start request round-trips, optional fields included", () => {
  for (const r of [ok, { ...ok, netnsPath: "/proc/42/fd/17", startTimeoutMs: 30_000 }]) {
    const line = encodeStartRequest(r);
    assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"));
    assert.deepEqual(parseStartRequest(line.trim()), r);
  }
});

Deno.test("holder protocol: a bad request is refused naming the field", () => {
  const start = (s: unknown) => JSON.stringify({ start: s });
  const cases: [string, string, RegExp][] = [
    ["not json", "{", /^request: not a JSON object$/],
    ["array", "[]", /^request: /],
    ["other operation", JSON.stringify({ exec: { argv: ["sh"] } }), /^request\.exec: unknown operation/],
    ["extra operation", JSON.stringify({ start: ok, stop: {} }), /^request\.stop: /],
    ["no start object", JSON.stringify({ start: "wg0" }), /^start: /],
    ["unknown field", start({ ...ok, binary: "/bin/sh" }), /^start\.binary: unknown field$/],
    ["name missing", start({ stateDir: ok.stateDir }), /^start\.name: must be a string$/],
    ["name too long", start({ ...ok, name: "a-very-long-interface-name" }), /^start\.name: .*not a valid interface/],
    ["name with a slash", start({ ...ok, name: "../x" }), /^start\.name: /],
    ["state dir missing", start({ name: "wg0" }), /^start\.stateDir: must be an absolute path$/],
    ["state dir relative", start({ ...ok, stateDir: "run/x" }), /^start\.stateDir: must be an absolute path$/],
    ["state dir with ..", start({ ...ok, stateDir: "/run/../etc" }), /^start\.stateDir: .*not a normalized/],
    ["state dir with //", start({ ...ok, stateDir: "/run//x" }), /^start\.stateDir: .*not a normalized/],
    ["state dir trailing /", start({ ...ok, stateDir: "/run/x/" }), /^start\.stateDir: .*not a normalized/],
    ["netns relative", start({ ...ok, netnsPath: "proc/1/ns/net" }), /^start\.netnsPath: must be an absolute/],
    ["netns not a string", start({ ...ok, netnsPath: 7 }), /^start\.netnsPath: /],
    ["timeout 0", start({ ...ok, startTimeoutMs: 0 }), /^start\.startTimeoutMs: /],
    ["timeout fraction", start({ ...ok, startTimeoutMs: 1.5 }), /^start\.startTimeoutMs: /],
    ["timeout too long", start({ ...ok, startTimeoutMs: MAX_START_TIMEOUT_MS + 1 }), /^start\.startTimeoutMs: /],
  ];
  for (const [what, line, want] of cases) {
    assert.throws(() => parseStartRequest(line), (e: Error) => {
      assert.ok(e instanceof InvalidConfigError, what);
      assert.match(e.message, want, what);
      return true;
    });
  }
});

Deno.test("holder protocol: replies are a PID above 1 or an error text, nothing else", () => {
  assert.deepEqual(parseReply(encodeReply({ pid: 4321 }).trim()), { pid: 4321 });
  assert.deepEqual(parseReply(encodeReply({ error: "exited during start" }).trim()), { error: "exited during start" });
  for (const bad of ["", "{", "{}", '{"pid":1}', '{"pid":-3}', '{"pid":"42"}', '{"pid":4.5}', "null", "[]"]) {
    assert.throws(() => parseReply(bad), /not a reply/, bad);
  }
});
