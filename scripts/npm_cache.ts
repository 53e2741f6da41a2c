/**
 * The project's npm packages, cached so that every later `deno run` starts without the network and says nothing
 * about it: `deno install` puts them into node_modules/ from the frozen lockfile, and `deno info npm:<name>@<version>`
 * (run outside the project, once per import of deno.json) keeps each package's registry metadata in Deno's npm cache.
 * Without that metadata, every `deno run` of a program importing the package asks the registry again in the
 * background, writes "Download https://registry.npmjs.org/…" to stderr, and exits before keeping the answer
 * (docs/testing.md). With it cached, `deno info` answers from the cache (tens of milliseconds, no connection).
 *
 * Usage: deno run -A scripts/npm_cache.ts
 */
import { exec } from "../kit/proc.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The `npm:` package specifiers of deno.json's imports, each once (pure); prefix mappings (`npm:/…/`) left out. */
export function npmImports(config: { imports?: Record<string, string> }): string[] {
  const specs = Object.values(config.imports ?? {}).filter((v) => v.startsWith("npm:") && !v.startsWith("npm:/"));
  return [...new Set(specs)].sort();
}

/** Runs `deno install`, then `deno info` of every npm import; throws with Deno's message when one fails. */
export async function cacheNpmPackages(): Promise<void> {
  const deno = Deno.execPath();
  const installed = await exec([deno, "install"], { cwd: ROOT });
  if (installed.code !== 0) throw new Error(`deno install: ${installed.stderr.trim().slice(-2000)}`);
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const outside = await Deno.makeTempDir({ prefix: "dn42op-npm-cache-" }); // no deno.json, node_modules or lockfile
  try {
    for (const spec of npmImports(config)) {
      const r = await exec([deno, "info", spec], { cwd: outside });
      if (r.code !== 0) throw new Error(`deno info ${spec}: ${r.stderr.trim().slice(-2000)}`);
    }
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
}

if (import.meta.main) await cacheNpmPackages();
