/** CLI test helpers: the CLI run in-process with captured output and a fixed clock, and golden files. */
import assert from "node:assert/strict";
import { run } from "../../src/cli/main.ts";

const HERE = new URL(".", import.meta.url).pathname;
/** The fixtures of the CLI tests. */
export const FIXTURES = new URL("../fixtures/cli/", import.meta.url).pathname;
/** The time the fixtures are evaluated at. */
export const AT = "2026-01-15T10:01:00Z";

/** Output of one run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dn42op argv…` in this process (colour off unless asked, the clock fixed at {@link AT}). */
export async function cli(argv: string[], o: { colour?: boolean } = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    colour: o.colour ?? false,
    readFile: (p) => Deno.readTextFile(p),
    now: () => Date.parse(AT),
  });
  return { code, stdout, stderr };
}

/**
 * Compares `actual` with tests/cli/golden/NAME. With DN42OP_UPDATE_GOLDEN=1 the file is (re)written instead; a
 * missing golden file is an error, so a new case cannot pass unseen.
 */
export async function golden(name: string, actual: string): Promise<void> {
  const path = `${HERE}golden/${name}`;
  if (Deno.env.get("DN42OP_UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(path, actual);
    return;
  }
  const expected = await Deno.readTextFile(path).catch(() => {
    throw new Error(`golden file ${path} is missing (DN42OP_UPDATE_GOLDEN=1 writes it)`);
  });
  assert.equal(actual, expected, `output differs from golden/${name}`);
}
