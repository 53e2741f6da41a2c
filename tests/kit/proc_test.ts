/** kit/proc.ts: options are checked, so an environment passed in their place cannot be dropped silently. */
import assert from "node:assert/strict";
import { exec, type ProcOptions } from "../../kit/proc.ts";

Deno.test("proc: an environment record in place of the options is refused, { env } reaches the command", async () => {
  const env = { DN42OP_PROC_TEST: "passed" } as unknown as ProcOptions;
  await assert.rejects(() => exec(["sh", "-c", "true"], env), /unknown option\(s\) DN42OP_PROC_TEST/);
  const r = await exec(["sh", "-c", 'printf %s "$DN42OP_PROC_TEST"'], { env: { DN42OP_PROC_TEST: "passed" } });
  assert.equal(r.stdout, "passed");
});
