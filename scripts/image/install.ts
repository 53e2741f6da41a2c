/**
 * The build stage of deploy/Dockerfile: puts the image's programs into `--out` as the runtime stage copies them to `/`.
 *
 *   --mode=compiled   `deno compile` binaries (scripts/compile.ts: permissions baked in) at usr/local/bin/<name>
 *   --mode=deno-run   the pinned Deno at usr/local/bin/deno, the sources with node_modules and a warm DENO_DIR
 *                     (transpiled sources, no npm cache) at opt/dn42op/, and a launcher per program at
 *                     usr/local/bin/<name> (see {@link launcherScript})
 *
 * Run from the application directory after `deno install --frozen`. Every program is started once with `-h` (it must
 * print its usage): for deno-run that also fills DENO_DIR with the transpiled sources, so the container starts
 * without writing or fetching anything (the launchers pass `--cached-only`, so a missing module is an error, not a
 * download).
 *
 *   deno run -A scripts/image/install.ts --mode=compiled|deno-run --out=/out
 */
import { parseArgs } from "node:util";
import { exec } from "../../kit/proc.ts";
import { CompileError, compileProgram } from "../compile.ts";
import { denoRunCommand, type ProgramName, PROGRAMS, ROOT } from "../programs.ts";

/** The programs in the image: those deploy/'s workloads run (the CLI, dn42op, runs where the operator is). */
export const IMAGE_PROGRAMS: readonly ProgramName[] = [
  "wg-controller",
  "nl-controller",
  "wgplan-controller",
  "wireguard-go-holder",
];

/** How the programs are put into the image. */
export type InstallMode = "compiled" | "deno-run";

/** Where the deno-run layout puts the Deno binary. */
export const IMAGE_DENO = "/usr/local/bin/deno";

/** Flags every launcher adds: nothing may be fetched, and the lockfile is not written. */
export const LAUNCHER_FLAGS = ["--cached-only", "--frozen"] as const;

/** Quotes one word for sh. */
function shQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The launcher of program `name` for the deno-run layout with the application at `root` (absolute, trailing slash):
 * a sh script that execs Deno (so Deno is the container's process and gets its signals) with the program's
 * permissions from scripts/programs.ts, its DENO_DIR baked into the image, and {@link LAUNCHER_FLAGS}.
 */
export function launcherScript(name: ProgramName, root: string, deno = IMAGE_DENO): string {
  const p = PROGRAMS[name];
  const argv = denoRunCommand(p, root, deno, LAUNCHER_FLAGS);
  return [
    "#!/bin/sh",
    `# ${name}: written by scripts/image/install.ts from scripts/programs.ts (permissions ${p.permissions.join(" ")}).`,
    `export DENO_DIR=${shQuote(`${root}.deno`)} DENO_NO_UPDATE_CHECK=1`,
    `exec ${argv.map(shQuote).join(" ")} "$@"`,
    "",
  ].join("\n");
}

/** Runs `bin -h` and throws unless it printed the program's usage. */
async function checkUsage(name: ProgramName, bin: string, env: Record<string, string> = {}): Promise<void> {
  const r = await exec([bin, "-h"], { env: { NO_COLOR: "1", ...env } });
  if (r.code !== 0 || !r.stderr.includes(`Usage of ${name}:`)) {
    throw new Error(`image: ${bin} -h printed no usage (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3)}`);
  }
}

async function copyTree(from: string, to: string): Promise<void> {
  const r = await exec(["cp", "-a", from, to]);
  if (r.code !== 0) throw new Error(`image: cp -a ${from} ${to}: ${r.stderr.trim()}`);
}

async function installCompiled(out: string): Promise<void> {
  for (const name of IMAGE_PROGRAMS) {
    const bin = await compileProgram(name);
    await Deno.copyFile(bin, `${out}/usr/local/bin/${name}`);
    await Deno.chmod(`${out}/usr/local/bin/${name}`, 0o755);
  }
}

async function installDenoRun(out: string): Promise<void> {
  const root = ROOT; // the application directory, the same path in the build stage and in the image
  for (const name of IMAGE_PROGRAMS) {
    const path = `/usr/local/bin/${name}`;
    await Deno.writeTextFile(path, launcherScript(name, root), { mode: 0o755 });
    await checkUsage(name, path);
    await Deno.copyFile(path, `${out}${path}`);
    await Deno.chmod(`${out}${path}`, 0o755);
  }
  await Deno.copyFile(IMAGE_DENO, `${out}${IMAGE_DENO}`);
  await Deno.chmod(`${out}${IMAGE_DENO}`, 0o755);
  await Deno.mkdir(`${out}${root}`, { recursive: true });
  for (const part of ["deno.json", "deno.lock", "ffi", "src", "node_modules", ".deno"]) {
    await copyTree(`${root}${part}`, `${out}${root}`);
  }
  // DENO_DIR's npm cache duplicates node_modules (about 95 MB), which is what the programs load.
  await Deno.remove(`${out}${root}.deno/npm`, { recursive: true });
  // Readable by every user (the plan controller runs as 65532), writable by none but root.
  const r = await exec(["chmod", "-R", "a+rX,go-w", `${out}${root}`]);
  if (r.code !== 0) throw new Error(`image: chmod: ${r.stderr.trim()}`);
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { mode: { type: "string" }, out: { type: "string" } } });
  const mode = values.mode as InstallMode;
  if (!["compiled", "deno-run"].includes(mode) || !values.out) {
    console.error("usage: deno run -A scripts/image/install.ts --mode=compiled|deno-run --out=DIR");
    Deno.exit(2);
  }
  try {
    await Deno.mkdir(`${values.out}/usr/local/bin`, { recursive: true });
    await (mode === "compiled" ? installCompiled(values.out) : installDenoRun(values.out));
    console.log(`image: installed ${IMAGE_PROGRAMS.join(", ")} (${mode}) into ${values.out}`);
  } catch (e) {
    console.error(e instanceof CompileError ? e.message : `image: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
