/**
 * The three programs this repository ships, in one table: entry point and the exact Deno permissions each needs.
 * `deno task compile` bakes these permissions into bin/<name>; {@link programCommand} runs bin/<name> when it was
 * built, else `deno run` of the entry point with the same permissions (never -A), so tests and the lab exercise the
 * table either way.
 *
 * Why each permission is as wide as it is (found by reading the code and running the programs through their tests):
 * - net (any host): the API server's address comes from the kubeconfig or the pod's environment; the ops server
 *   listens on -metrics-bind-address; wg-controller resolves peer endpoint host names (Deno.resolveDns).
 * - read (any path): -kubeconfig and the certificate/token files it names are user-chosen paths; the node agents also
 *   read /proc/<pid>/… (namespaces, wireguard-go adoption) and the Docker socket.
 * - env (all): the npm package `debug` (pulled in by @kubernetes/client-node) enumerates the whole environment at
 *   import time, which Deno only allows with unscoped --allow-env. Read on purpose: KUBERNETES_SERVICE_HOST/PORT,
 *   DOCKER_HOST, DN42OP_LIB_DIR.
 * - sys: hostname (Event source host, leader identity), osRelease (wg-controller: kernel feature detection).
 * - ffi: only the absolute library paths ffi/load.ts tries (libc, libnl-3, libnl-route-3), node agents only.
 * - run, write: wg-controller only — it starts wireguard-go through `sh -c 'exec setsid nsenter … wireguard-go'`,
 *   stops daemons by PID (Deno.kill needs unscoped --allow-run), writes PID/log files under -wg-state-dir and
 *   removes stale UAPI sockets in /var/run/wireguard.
 */
import { libraryCandidates } from "../ffi/load.ts";

/** Names of the shipped programs. */
export type ProgramName = "wg-controller" | "nl-controller" | "wgplan-controller";

/** One program: its entry point (relative to the repository) and the Deno permission flags it runs with. */
export interface Program {
  name: ProgramName;
  entry: string;
  permissions: readonly string[];
}

/** Repository root (absolute, with a trailing slash). */
export const ROOT = new URL("../", import.meta.url).pathname;

const LIBRARIES = ["libc.so.6", "libnl-3.so.200", "libnl-route-3.so.200"];

/** Absolute paths the node agents may dlopen (every candidate ffi/load.ts tries). */
export function ffiPaths(): string[] {
  return LIBRARIES.flatMap(libraryCandidates);
}

const KUBE = ["--allow-net", "--allow-read", "--allow-env"];

function table(): Record<ProgramName, Program> {
  const ffi = `--allow-ffi=${ffiPaths().join(",")}`;
  return {
    "wg-controller": {
      name: "wg-controller",
      entry: "src/cmd/wg-controller.ts",
      permissions: [
        ...KUBE,
        "--allow-sys=hostname,osRelease",
        ffi,
        "--allow-run",
        "--allow-write=/run,/var/run,/tmp",
      ],
    },
    "nl-controller": {
      name: "nl-controller",
      entry: "src/cmd/nl-controller.ts",
      permissions: [...KUBE, "--allow-sys=hostname", ffi],
    },
    "wgplan-controller": {
      name: "wgplan-controller",
      entry: "src/cmd/wgplan-controller.ts",
      permissions: [...KUBE, "--allow-sys=hostname"],
    },
  };
}

/** The programs, by name. */
export const PROGRAMS: Readonly<Record<ProgramName, Program>> = table();

/** Every program name, in a fixed order. */
export const PROGRAM_NAMES = Object.keys(PROGRAMS) as ProgramName[];

/** Path of the compiled binary of `name` (it may not exist). */
export function binaryPath(name: ProgramName, root = ROOT): string {
  return `${root}bin/${name}`;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The command line that runs program `name` with `args`: `bin/<name> args…` when that binary exists, otherwise
 * `<pinned deno> run --no-prompt <permissions> <entry> args…`. Works from any working directory.
 */
export function programCommand(name: ProgramName, args: readonly string[] = [], root = ROOT): string[] {
  const p = PROGRAMS[name];
  if (!p) throw new TypeError(`programCommand: unknown program "${name}" (known: ${PROGRAM_NAMES.join(", ")})`);
  const bin = binaryPath(name, root);
  if (isFile(bin)) return [bin, ...args];
  return [
    Deno.execPath(),
    "run",
    "--no-prompt",
    `--config=${root}deno.json`,
    ...p.permissions,
    root + p.entry,
    ...args,
  ];
}
