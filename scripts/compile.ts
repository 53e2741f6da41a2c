/**
 * `deno task compile [name…]`: builds bin/wg-controller, bin/nl-controller and bin/wgplan-controller with
 * `deno compile`, each with exactly the permissions of scripts/programs.ts baked in (never -A). There are no Worker
 * modules to `--include` (the netlink event monitor waits in a `nonblocking` FFI poll, not in a Worker).
 *
 * `deno compile` needs Deno's runtime binary (denort). It uses $DENORT_BIN when set, otherwise it downloads denort from
 * dl.deno.land. When neither works, this script prints ONE line saying what is missing and how to provide DENORT_BIN,
 * and exits 1. Each binary is then run with `-h`; a binary that does not print its usage (e.g. DENORT_BIN pointed at
 * the `deno` CLI, which ignores the appended program) is deleted and reported the same way.
 */
import { exec, type ExecResult } from "../kit/proc.ts";
import { binaryPath, PROGRAM_NAMES, type ProgramName, PROGRAMS, ROOT } from "./programs.ts";

/** Why compiling failed, in one line. */
export class CompileError extends Error {
  override name = "CompileError";
}

const DENORT_HINT = "download denort-<target>.zip of the same Deno version (https://dl.deno.land/release/" +
  `v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip) on a machine that can, unzip it, and run ` +
  "DENORT_BIN=/path/to/denort ./denow task compile";

/**
 * Paths left out of the embedded file system. Deno 2.9.6's `deno compile` overflows its stack (and aborts) on the test
 * fixtures of the npm package bintrees (prom-client → tdigest → bintrees); nothing loads them at run time.
 */
export function compileExcludes(root = ROOT): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${root}node_modules/.deno`)];
  } catch {
    return [];
  }
  return entries.filter((e) => e.name.startsWith("bintrees@"))
    .map((e) => `${root}node_modules/.deno/${e.name}/node_modules/bintrees/test`);
}

/** The `deno compile` command line of one program. */
export function compileCommand(name: ProgramName, root = ROOT): string[] {
  const p = PROGRAMS[name];
  return [
    Deno.execPath(),
    "compile",
    "--no-prompt",
    `--config=${root}deno.json`,
    ...p.permissions,
    ...compileExcludes(root).map((path) => `--exclude=${path}`),
    `--output=${binaryPath(name, root)}`,
    root + p.entry,
  ];
}

/** The innermost cause in `deno compile`'s error chain ("Caused by: 0: … 1: …"). */
function innermostCause(stderr: string): string {
  const chain = stderr.split("Stack backtrace:")[0];
  const causes = [...chain.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1].trim());
  return causes.at(-1) ?? stderr.trim().split("\n")[0];
}

/** One line for a `deno compile` failure caused by the runtime binary (denort); undefined for other failures. */
export function denortProblem(stderr: string, denortBin: string | undefined): string | undefined {
  if (!/Setting up base binary|denort/i.test(stderr)) return undefined;
  const cause = innermostCause(stderr);
  return denortBin !== undefined
    ? `compile: DENORT_BIN=${denortBin} is not usable by deno compile (${cause}); ${DENORT_HINT}`
    : `compile: Deno's runtime binary (denort ${Deno.version.deno}) is missing: DENORT_BIN is not set and ` +
      `downloading it failed (${cause}); ${DENORT_HINT}`;
}

/** Runs a command without colours in its output. */
function output(cmd: string[]): Promise<ExecResult> {
  return exec(cmd, { env: { NO_COLOR: "1" } });
}

/** Removes the `bin/<name>.tmp-…` file a crashed `deno compile` leaves behind. */
async function removeTemporaries(name: ProgramName, root: string): Promise<void> {
  for await (const e of Deno.readDir(`${root}bin`)) {
    if (e.name.startsWith(`${name}.tmp-`)) await Deno.remove(`${root}bin/${e.name}`).catch(() => {});
  }
}

/** Compiles one program and checks that the binary answers `-h` with its usage. Throws CompileError. */
export async function compileProgram(name: ProgramName, root = ROOT): Promise<string> {
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  if (denortBin === undefined) Deno.env.delete("DENORT_BIN"); // empty means unset, for deno compile too
  if (denortBin !== undefined) {
    const st = await Deno.stat(denortBin).catch(() => undefined);
    if (!st?.isFile) {
      throw new CompileError(`compile: DENORT_BIN=${denortBin} does not exist or is not a file; ${DENORT_HINT}`);
    }
  }
  await Deno.mkdir(`${root}bin`, { recursive: true });
  const r = await output(compileCommand(name, root));
  if (r.code !== 0) {
    await removeTemporaries(name, root);
    const line = denortProblem(r.stderr, denortBin);
    if (line) throw new CompileError(line);
    const first = r.stderr.split("\n").find((l) => l.startsWith("error")) ?? r.stderr.trim().split("\n")[0];
    throw new CompileError(`compile: deno compile of ${name} failed: ${first}`);
  }
  const bin = binaryPath(name, root);
  const h = await output([bin, "-h"]);
  if (h.code !== 0 || !h.stderr.includes(`Usage of ${name}:`)) {
    await Deno.remove(bin).catch(() => {});
    const which = denortBin ? `DENORT_BIN=${denortBin} is not Deno's denort runtime (the deno CLI is not one)` : "";
    throw new CompileError(
      `compile: bin/${name} does not run the program (\`-h\` printed no usage)${
        which ? `: ${which}` : ""
      }; ${DENORT_HINT}`,
    );
  }
  return bin;
}

if (import.meta.main) {
  const names = Deno.args.length ? Deno.args : PROGRAM_NAMES;
  const unknown = names.filter((n) => !(n in PROGRAMS));
  if (unknown.length) {
    console.error(`compile: unknown program ${unknown.join(", ")} (known: ${PROGRAM_NAMES.join(", ")})`);
    Deno.exit(2);
  }
  try {
    for (const name of names as ProgramName[]) console.log(`compiled ${await compileProgram(name)}`);
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    console.error(e.message);
    Deno.exit(1);
  }
}
