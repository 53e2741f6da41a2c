import assert from "node:assert/strict";

async function emit(verbosity: number, format: string): Promise<string> {
  const fixture = new URL("../fixtures/log_emitter.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fixture, String(verbosity), format],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stderr);
}

Deno.test("log: -v gates verbose lines like klog", async () => {
  const v0 = await emit(0, "text");
  assert.match(v0, /always shown/);
  assert.doesNotMatch(v0, /shown at v2/);
  const v2 = await emit(2, "text");
  assert.match(v2, /shown at v2/);
  assert.doesNotMatch(v2, /shown at v4/);
  const v4 = await emit(4, "text");
  assert.match(v4, /shown at v4/);
});

Deno.test("log: json format emits one JSON object per line", async () => {
  const lines = (await emit(4, "json")).trim().split("\n").map((l) => JSON.parse(l));
  const msg = lines.find((l) => JSON.stringify(l).includes("shown at v4"));
  assert.ok(msg, "v4 line present");
  assert.equal(msg.properties.v, 4);
  assert.equal(msg.properties.step, 4);
});

Deno.test("log: key-material fields are redacted in every format", async () => {
  for (const format of ["text", "json"]) {
    const out = await emit(0, format);
    assert.doesNotMatch(out, /SECRET-PRIVATE|SECRET-PSK/, format);
    assert.match(out, /REDACTED/, format);
    assert.match(out, /PUBLIC/, format);
  }
});
