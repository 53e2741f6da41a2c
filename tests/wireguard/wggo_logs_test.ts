/**
 * wireguard-go logs stay bounded: trimLogs cuts a log above its limit to its end while the writer keeps appending
 * (a shell appending with `>>`, as the daemons' output is redirected).
 */
import assert from "node:assert/strict";
import { trimLogs } from "../../src/wireguard/wggo.ts";

Deno.test("trimLogs: a log over the limit keeps only its end, an appending writer carries on after it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-ten-wglog-" });
  const log = `${dir}/wg0.log`;
  const writer = new Deno.Command("sh", {
    args: ["-c", 'i=0; while :; do i=$((i+1)); echo "line $i: error padding padding padding"; done >>"$0"', log],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const size = async () => (await Deno.stat(log).catch(() => ({ size: 0 }))).size;
    while ((await size()) < 256 << 10) await new Promise((r) => setTimeout(r, 20));
    await Deno.writeTextFile(`${dir}/small.log`, "short\n");
    await Deno.writeTextFile(`${dir}/wg0.pid`, "1\n".repeat(200_000)); // not a log: never cut
    const cut = await trimLogs(dir, 128 << 10, 4 << 10);
    assert.deepEqual(cut, ["wg0.log"]);
    const after = await Deno.readTextFile(log);
    assert.ok(after.length < 128 << 10, `${after.length} bytes left`);
    assert.ok([...after.matchAll(/line \d+:/g)].length > 10, "the kept end of the log");
    assert.equal(await Deno.readTextFile(`${dir}/small.log`), "short\n");
    assert.equal((await Deno.stat(`${dir}/wg0.pid`)).size, 400_000);
    const grown = await size();
    while ((await size()) <= grown) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await trimLogs(`${dir}/missing`), []);
  } finally {
    writer.kill("SIGKILL");
    await writer.status;
    await Deno.remove(dir, { recursive: true });
  }
});
