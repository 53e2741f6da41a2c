/** The READMEs stay true to deno.json: every task, every dependency and every benchmark is listed. */
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
  tasks: Record<string, string>;
  imports: Record<string, string>;
};
const readme = await Deno.readTextFile(`${ROOT}/README.md`);

/** The README section under `heading` (up to the next `## `). */
function section(text: string, heading: string): string {
  const start = text.indexOf(`## ${heading}`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = text.indexOf("\n## ", start + 3);
  return text.slice(start, end < 0 ? undefined : end);
}

Deno.test("README: the task table lists every task of deno.json", () => {
  const table = section(readme, "Tasks");
  const missing = Object.keys(config.tasks).filter((t) =>
    !table.includes(`task ${t}\``) && !table.includes(`task ${t} `)
  );
  assert.deepEqual(missing, [], "tasks missing from README's task table");
});

Deno.test("README: the dependency table names every import of deno.json", () => {
  const table = section(readme, "Dependencies and why");
  const missing = Object.keys(config.imports).filter((d) => !table.includes(`\`${d}\``));
  assert.deepEqual(missing, [], "dependencies missing from README's table");
});

Deno.test("bench/README.md maps every bench task to the decision it guards", async () => {
  const bench = await Deno.readTextFile(`${ROOT}/bench/README.md`);
  const missing = Object.keys(config.tasks).filter((t) =>
    t.startsWith("bench:") && !new RegExp(`\\|\\s*\`${t}\`\\s*\\|`).test(bench)
  );
  assert.deepEqual(missing, [], "benchmarks missing from bench/README.md");
});
