/**
 * Writes crds/*.yaml and their copies in deploy/crds/ (kustomize only loads files below deploy/) from the TypeScript
 * API types (`deno task crds`), or with --check exits 1 when the files on disk differ from what the types generate.
 */
import { parseArgs } from "node:util";
import { renderCrdFiles } from "../src/api/crds.ts";

const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });
const DIRS = ["crds/", "deploy/crds/"];
let stale = 0;
for (const [name, text] of renderCrdFiles()) {
  for (const rel of DIRS) {
    const dir = new URL(`../${rel}`, import.meta.url);
    const file = new URL(name, dir);
    if (values.check) {
      const current = await Deno.readTextFile(file).catch(() => "");
      if (current !== text) {
        console.error(`${rel}${name} is stale; run \`deno task crds\``);
        stale++;
      }
    } else {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(file, text);
      console.log(`wrote ${rel}${name}`);
    }
  }
}
if (stale > 0) Deno.exit(1);
