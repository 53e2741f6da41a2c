/**
 * `deno task check:layers`: fails when an import points up a layer. The layers of the product code, lowest first
 * (a module may import its own directory and any lower layer, never its own layer's siblings or a higher one):
 *
 *   ffi/, src/log/  →  src/netlink/  →  src/wireguard/  →  src/kube/  →  src/api/  →  src/node/, src/plan/
 *   →  src/controllers/  →  src/cmd/, src/cli/
 *
 * Around them: src/ and ffi/ import nothing outside src/ and ffi/; bench/, kit/, lab/ and scripts/ never import
 * tests/.
 * A directory under src/ that is in no layer is an error too, so a new one gets its place here and in the README.
 */

/** The layers, lowest first; the entries of one layer may not import each other. */
export const LAYERS: readonly (readonly string[])[] = [
  ["ffi", "src/log"],
  ["src/netlink"],
  ["src/wireguard"],
  ["src/kube"],
  ["src/api"],
  ["src/node", "src/plan"],
  ["src/controllers"],
  ["src/cmd", "src/cli"],
];

/** Top-level directories that must not import tests/. */
const NOT_FROM_TESTS = ["bench", "kit", "lab", "scripts"];

/** One relative import: repository paths of the importer and the imported module. */
export interface Import {
  from: string;
  to: string;
  line: number;
}

/** The layer unit (a LAYERS entry) holding `path`, or undefined. */
function unitOf(path: string): string | undefined {
  return LAYERS.flat().filter((u) => path === u || path.startsWith(`${u}/`)).sort((a, b) => b.length - a.length)[0];
}

function rankOf(unit: string): number {
  return LAYERS.findIndex((l) => l.includes(unit));
}

/** What is wrong with one import, or null (pure). */
export function violation(i: Import): string | null {
  const top = (p: string) => p.split("/")[0];
  const product = (p: string) => top(p) === "src" || top(p) === "ffi";
  const where = `${i.from}:${i.line} imports ${i.to}`;
  if (NOT_FROM_TESTS.includes(top(i.from)) && top(i.to) === "tests") {
    return `${where}: ${top(i.from)}/ may not import tests/ (move the shared code out of tests/)`;
  }
  if (!product(i.from)) return null;
  if (!product(i.to)) return `${where}: product code imports only src/ and ffi/`;
  const a = unitOf(i.from);
  const b = unitOf(i.to);
  if (a === undefined) {
    return `${i.from}: ${i.from.split("/").slice(0, 2).join("/")}/ is in no layer (scripts/layers.ts)`;
  }
  if (b === undefined) return `${where}: ${i.to.split("/").slice(0, 2).join("/")}/ is in no layer (scripts/layers.ts)`;
  if (a === b) return null;
  const [ra, rb] = [rankOf(a), rankOf(b)];
  if (rb < ra) return null;
  return `${where}: ${a}/ (layer ${ra + 1}) may not import ${rb === ra ? "its sibling " : ""}${b}/ (layer ${rb + 1})`;
}

/** Relative import specifiers of a module's source, with their line numbers (comments ignored; pure). */
export function importsOf(source: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  const lines = code.split("\n");
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)["'](\.{1,2}\/[^"']+)["']/g;
  lines.forEach((text, n) => {
    const line = text.replace(/(^|\s)\/\/.*$/, "");
    for (const m of line.matchAll(re)) out.push({ spec: m[1], line: n + 1 });
  });
  return out;
}

/** TypeScript files under `dir` (recursively; lab/controlplane, the Go modules, left out). */
async function* tsFiles(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && !path.endsWith("lab/controlplane")) yield* tsFiles(path);
    else if (e.isFile && /\.tsx?$/.test(e.name)) yield path;
  }
}

/** Every import violation under `root`, sorted. */
export async function checkLayers(root: string): Promise<string[]> {
  const problems: string[] = [];
  const dirs = [...new Set([...LAYERS.flat().map((u) => u.split("/")[0]), ...NOT_FROM_TESTS])];
  for (const dir of dirs) {
    for await (const file of tsFiles(`${root}/${dir}`)) {
      const from = file.slice(root.length + 1);
      for (const { spec, line } of importsOf(await Deno.readTextFile(file))) {
        const to = new URL(spec, `file:///${from}`).pathname.slice(1);
        const v = violation({ from, to, line });
        if (v) problems.push(v);
      }
    }
  }
  return problems.sort();
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const problems = await checkLayers(root);
  for (const p of problems) console.log(p);
  console.log(problems.length ? `${problems.length} import(s) point up a layer` : "layers: every import points down");
  Deno.exit(problems.length ? 1 : 0);
}
