/**
 * Writes crds/*.yaml and their copies in deploy/crds/ (kustomize only loads files below deploy/) from the TypeScript
 * API types, and the admission policies deploy/admission-{secret-refs,tenants}.yaml (`deno task crds`), or with --check
 * exits 1 when the files on disk differ from what the types generate.
 */
import { parseArgs } from "node:util";
import { renderPolicyFiles } from "../src/api/admission.ts";
import { renderCrdFiles } from "../src/api/crds.ts";

const { values } = parseArgs({ options: { check: { type: "boolean", default: false } } });
const FILES: [string[], Map<string, string>][] = [
  [["crds/", "deploy/crds/"], renderCrdFiles()],
  [["deploy/"], renderPolicyFiles()],
];
let stale = 0;
for (const [dirs, files] of FILES) {
  for (const [name, text] of files) await write(dirs, name, text);
}

async function write(dirs: string[], name: string, text: string): Promise<void> {
  for (const rel of dirs) {
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
