/**
 * `deno task bench`: runs every `bench:NAME` task of deno.json in turn and prints each one's closing JSON line.
 * Each benchmark prints readable lines and ends with one line holding a single JSON object of its figures.
 */
const ROOT = new URL("..", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as { tasks: Record<string, string> };
const names = Object.keys(config.tasks).filter((t) => t.startsWith("bench:")).sort();
const results: Record<string, unknown> = {};
let failures = 0;
for (const name of names) {
  console.log(`\n=== ${name}`);
  const child = new Deno.Command(Deno.execPath(), { args: ["task", name], cwd: ROOT, stdout: "piped" }).spawn();
  let text = "";
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    text += new TextDecoder().decode(chunk);
  }
  const status = await child.status;
  const last = text.trim().split("\n").at(-1) ?? "";
  try {
    results[name] = JSON.parse(last);
  } catch {
    results[name] = { error: `no closing JSON line (exit ${status.code})` };
  }
  if (!status.success) failures++;
}
console.log(JSON.stringify(results));
Deno.exit(failures ? 1 : 0);
