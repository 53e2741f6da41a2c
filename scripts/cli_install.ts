/**
 * `deno task cli:install [DIR]`: puts the CLI on PATH as `dn42op` and as the kubectl plugin `kubectl-dn42` (with
 * `kubectl_complete-dn42`, kubectl's completion helper for plugins), in DIR (default /usr/local/bin). Each is a small
 * shell script that runs {@link programCommand}'s command line: the compiled bin/dn42op when it exists, else the
 * pinned Deno with the permissions of scripts/programs.ts. Idempotent; prints what it wrote.
 */
import { programCommand } from "./programs.ts";

/** A POSIX shell single-quoted word. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The wrapper scripts by file name (pure). */
export function wrapperScripts(command: readonly string[]): Record<string, string> {
  const cmd = command.map(shellQuote).join(" ");
  const script = (env: string, extra: string) =>
    `#!/bin/sh\n# written by deno task cli:install\n${env}exec ${cmd}${extra} "$@"\n`;
  return {
    "dn42op": script("", ""),
    "kubectl-dn42": script("DN42OP_PROGRAM='kubectl dn42' ", ""),
    "kubectl_complete-dn42": script("DN42OP_PROGRAM='kubectl dn42' ", " __complete"),
  };
}

if (import.meta.main) {
  const dir = (Deno.args[0] ?? "/usr/local/bin").replace(/\/+$/, "");
  for (const [name, text] of Object.entries(wrapperScripts(programCommand("dn42op")))) {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text, { mode: 0o755 });
    await Deno.chmod(path, 0o755);
    console.log(`cli:install: wrote ${path}`);
  }
}
