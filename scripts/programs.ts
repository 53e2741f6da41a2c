/**
 * The programs this repository ships, in one table: entry point and the exact Deno permissions each needs.
 * `deno task compile` bakes these permissions into bin/<name>; {@link programCommand} runs bin/<name> when it was
 * built, else `deno run` of the entry point with the same permissions, so tests and the lab exercise the table either
 * way.
 *
 * Why each permission is as wide as it is (found by reading the code and running the programs through their tests):
 * - wg-controller, nl-controller: --allow-all. They stat and read /proc/<pid>/… (network namespace identities in
 *   src/node/placement.ts, wireguard-go adoption in src/wireguard/wggo.ts), and Deno grants /proc, /dev and /sys only
 *   with --allow-all ("Requires all access to \"/proc/thread-self/ns/net\""). Nothing narrower would be a real limit
 *   anyway: they dlopen libc and libnl (--allow-ffi) and stop wireguard-go by PID (Deno.kill needs unscoped
 *   --allow-run), each of which escapes Deno's sandbox; their limits are the pod's (capabilities, mounts, RBAC).
 * - wireguard-go-holder: --allow-all, for the same reasons: it starts wireguard-go (run), checks it in /proc and
 *   stops it by PID.
 * - wgplan-controller, scoped:
 *   - net (any host): the API server's address comes from the kubeconfig or the pod's environment; the ops server
 *     listens on -metrics-bind-address.
 *   - read (any path): -kubeconfig and the certificate/token files it names are user-chosen paths.
 *   - env (all): read on purpose: KUBERNETES_SERVICE_HOST/PORT (in-cluster config). But a kubeconfig with an exec
 *     or auth-provider plugin makes us import @kubernetes/client-node, whose dependency `debug` enumerates the whole
 *     environment at import time (Deno allows that only with unscoped --allow-env), and the plugin inherits the
 *     environment. Static kubeconfigs work with a scoped list (tests/kube/kubeconfig_test.ts proves it); one binary
 *     serves both, so the flag stays unscoped.
 *   - sys=hostname: Event source host and leader-election identity.
 *   - nothing else: no ffi, run or write.
 * - dn42op (the operator's CLI, also `kubectl dn42`): net and read as wgplan-controller (kubeconfig, API server; read
 *   also for `-f FILE`), env unscoped for the same client-node reason plus $KUBECONFIG/$HOME/$NO_COLOR, write for
 *   `showconf --dir`, run for Graphviz's `dot` (`graph -o svg`) and for exec credential plugins (which client-node
 *   starts; their command is named by the kubeconfig, so run cannot be scoped either).
 */

/** Names of the shipped programs. */
export type ProgramName = "wg-controller" | "nl-controller" | "wgplan-controller" | "wireguard-go-holder" | "dn42op";

/** One program: its entry point (relative to the repository) and the Deno permission flags it runs with. */
export interface Program {
  name: ProgramName;
  entry: string;
  permissions: readonly string[];
}

/** Repository root (absolute, with a trailing slash). */
export const ROOT = new URL("../", import.meta.url).pathname;

/** The programs, by name. */
export const PROGRAMS: Readonly<Record<ProgramName, Program>> = {
  "wg-controller": { name: "wg-controller", entry: "src/cmd/wg-controller.ts", permissions: ["--allow-all"] },
  "nl-controller": { name: "nl-controller", entry: "src/cmd/nl-controller.ts", permissions: ["--allow-all"] },
  "wgplan-controller": {
    name: "wgplan-controller",
    entry: "src/cmd/wgplan-controller.ts",
    permissions: ["--allow-net", "--allow-read", "--allow-env", "--allow-sys=hostname"],
  },
  "wireguard-go-holder": {
    name: "wireguard-go-holder",
    entry: "src/cmd/wireguard-go-holder.ts",
    permissions: ["--allow-all"],
  },
  dn42op: {
    name: "dn42op",
    entry: "src/cli/main.ts",
    permissions: ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run"],
  },
};

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
 * Deno flags that write a V8 CPU profile of every program run by `deno run` into `$DN42OP_CPU_PROF_DIR` (one
 * `CPU.<time>.<pid>.cpuprofile` per process, written when it exits; open it in Chrome DevTools or summarise it with
 * `deno run -A scripts/cpuprof.ts`). Empty when the variable is unset. For local experiments (lab, benches).
 */
function profileFlags(): string[] {
  const dir = Deno.env.get("DN42OP_CPU_PROF_DIR");
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/**
 * The command line that runs program `name` with `args`: `bin/<name> args…` when that binary exists, otherwise
 * `<pinned deno> run --no-prompt <permissions> <denoFlags> <entry> args…` (`denoFlags` e.g. `--cached-only` where
 * there is no network; with {@link profileFlags}). Works from any working directory.
 */
export function programCommand(
  name: ProgramName,
  args: readonly string[] = [],
  root = ROOT,
  denoFlags: readonly string[] = [],
): string[] {
  const p = PROGRAMS[name];
  if (!p) throw new TypeError(`programCommand: unknown program "${name}" (known: ${PROGRAM_NAMES.join(", ")})`);
  const bin = binaryPath(name, root);
  if (isFile(bin)) return [bin, ...args];
  return [...denoRunCommand(p, root, Deno.execPath(), [...denoFlags, ...profileFlags()]), ...args];
}

/**
 * `<deno> run --no-prompt --config=<root>deno.json <permissions> [extra…] <entry>`: program `p` run from its sources
 * with its permissions (the image's launchers add `--cached-only --frozen`, see scripts/image/install.ts).
 */
export function denoRunCommand(
  p: Program,
  root = ROOT,
  deno = Deno.execPath(),
  extra: readonly string[] = [],
): string[] {
  return [deno, "run", "--no-prompt", `--config=${root}deno.json`, ...p.permissions, ...extra, root + p.entry];
}
