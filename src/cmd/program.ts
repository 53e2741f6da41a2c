/**
 * The process skeleton shared by the three programs: flag parsing with Go-compatible usage and exit codes
 * (`-h` → usage, exit 0; a bad flag → message + usage, exit 2), logging setup, and clean shutdown — the first
 * SIGINT/SIGTERM aborts the program's signal so it can stop its loops, a second one exits at once with status 1.
 */
import { type FlagDef, type FlagDefs, FlagError, type FlagValues, HelpRequested, parseFlags, usage } from "./flags.ts";
import { type LogFormat, logger, setupLogging, shutdownLogging } from "../log/mod.ts";
import { ConfigError, type Manager } from "../kube/manager.ts";
import { opsListen } from "../kube/server.ts";
import type { AgentConfig } from "../controllers/agent.ts";
import { DEFAULT_HEARTBEAT_SECONDS } from "../kube/heartbeat.ts";

/** Flags every program accepts (those of the Go implementation), plus klog's flags, accepted for compatibility. */
export const COMMON_FLAGS = {
  kubeconfig: { type: "string", default: "", usage: "Path to a kubeconfig. Empty means the in-cluster configuration." },
  master: {
    type: "string",
    default: "",
    usage: "The address of the Kubernetes API server (overrides the kubeconfig).",
  },
  namespace: {
    type: "string",
    default: "default",
    usage: "Namespace whose objects this program acts on. Empty means all namespaces.",
  },
  "num-workers": { type: "int", default: 1, min: 1, max: 256, usage: "Number of reconcile workers." },
  "default-resync-period": {
    type: "int",
    default: 30,
    min: 1,
    usage: "Seconds between full resyncs of every object (drift detection).",
  },
  v: { type: "int", default: 0, min: 0, max: 10, usage: "Log verbosity; 4 shows per-reconcile detail." },
  "log-format": { type: "string", default: "text", choices: ["text", "json"], usage: "Log line format." },
  // klog flags of the reference implementation: accepted so existing invocations keep working.
  logtostderr: { type: "bool", default: true, usage: "Accepted for klog compatibility; logs always go to stderr." },
  alsologtostderr: { type: "bool", default: false, usage: "Accepted for klog compatibility (no effect)." },
  vmodule: { type: "string", default: "", usage: "Accepted for klog compatibility (no effect)." },
  log_dir: { type: "string", default: "", usage: "Accepted for klog compatibility (no effect)." },
  log_file: { type: "string", default: "", usage: "Accepted for klog compatibility (no effect)." },
  log_file_max_size: { type: "int", default: 1800, usage: "Accepted for klog compatibility (no effect)." },
  skip_headers: { type: "bool", default: false, usage: "Accepted for klog compatibility (no effect)." },
  skip_log_headers: { type: "bool", default: false, usage: "Accepted for klog compatibility (no effect)." },
  stderrthreshold: { type: "string", default: "2", usage: "Accepted for klog compatibility (no effect)." },
  one_output: { type: "bool", default: false, usage: "Accepted for klog compatibility (no effect)." },
  add_dir_header: { type: "bool", default: false, usage: "Accepted for klog compatibility (no effect)." },
  log_backtrace_at: { type: "string", default: "", usage: "Accepted for klog compatibility (no effect)." },
} as const satisfies FlagDefs;

/** -heartbeat-namespace, shared by the node agents (which publish there) and the plan controller (which reads). */
export const HEARTBEAT_NAMESPACE_FLAG = {
  type: "string",
  default: "",
  usage: 'Namespace of the node agents\' heartbeat Leases. Empty means -namespace, or "default" when that is empty.',
} as const;

/** Flags of the per-node programs. */
export const NODE_FLAGS = {
  nodename: {
    type: "string",
    default: "",
    usage: "Name of this node; only objects whose spec.node matches are handled.",
  },
  "dry-run": { type: "bool", default: false, usage: "Observe and report, but change nothing at all." },
  "heartbeat-namespace": HEARTBEAT_NAMESPACE_FLAG,
  "heartbeat-lease-duration": {
    type: "int",
    default: DEFAULT_HEARTBEAT_SECONDS,
    min: 4,
    usage: "Seconds of this agent's heartbeat Lease (<program>-<nodename>); renewed every quarter of it.",
  },
} as const satisfies FlagDefs;

/** The namespace of the node agents' heartbeat Leases: the flag, else -namespace, else "default". */
export function heartbeatNamespace(flag: string, namespace: string): string {
  return flag || namespace || "default";
}

/**
 * The `-metrics-bind-address` flag of a program whose default address is `programDefault` (resolved with
 * `opsListen` of src/kube/server.ts): unset means that address, or a free port when it is taken.
 */
export function metricsAddressFlag(programDefault: string) {
  return {
    type: "string",
    default: "",
    usage: `Address of /metrics, /healthz and /readyz, e.g. "${programDefault}" or "127.0.0.1:9090"; "0" disables. ` +
      `Unset: "${programDefault}", or a free port (logged) when another program has it; an address given here that ` +
      "is in use is a fatal error.",
  } as const satisfies FlagDef;
}

/** Result of parsing: either values to run with, or an exit code (help or usage error) already reported. */
export type ParseOutcome<D extends FlagDefs> = { flags: FlagValues<D> } | { exitCode: number };

/** Parses argv for a program, printing usage on `-h` (exit 0) or on a usage error (exit 2). */
export function parseProgramFlags<D extends FlagDefs>(
  program: string,
  defs: D,
  argv: readonly string[],
  write: (text: string) => void = (t) => console.error(t),
): ParseOutcome<D> {
  try {
    return { flags: parseFlags(defs, argv) };
  } catch (e) {
    if (e instanceof HelpRequested) {
      write(usage(program, defs));
      return { exitCode: 0 };
    }
    if (e instanceof FlagError) {
      write(`${e.message}\n${usage(program, defs)}`);
      return { exitCode: 2 };
    }
    throw e;
  }
}

/**
 * Runs a program: parses flags, configures logging, wires signals, awaits `main`, and exits with its status.
 * `main` receives an AbortSignal that fires on the first SIGINT/SIGTERM.
 */
export async function runProgram<D extends FlagDefs & Pick<typeof COMMON_FLAGS, "v" | "log-format">>(
  program: string,
  defs: D,
  main: (flags: FlagValues<D>, signal: AbortSignal) => Promise<number>,
): Promise<never> {
  const parsed = parseProgramFlags(program, defs, Deno.args);
  if ("exitCode" in parsed) Deno.exit(parsed.exitCode);
  const flags = parsed.flags;
  await setupLogging({ verbosity: flags.v as number, format: flags["log-format"] as LogFormat, program });
  const log = logger(program);
  const stop = new AbortController();
  const onSignal = (sig: Deno.Signal) => () => {
    if (stop.signal.aborted) {
      log.warn("second signal, exiting now", { signal: sig });
      Deno.exit(1);
    }
    log.info("shutting down", { signal: sig });
    stop.abort();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  let code = 1;
  try {
    code = await main(flags, stop.signal);
  } catch (e) {
    log.error("fatal", { error: String((e as Error).message ?? e) });
  } finally {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    await shutdownLogging();
  }
  Deno.exit(code);
}

/**
 * Runs a program built as a {@link Manager}: `build` gets the parsed flags and returns the manager, or an exit
 * status when the flags do not allow a start (a {@link ConfigError} thrown by `build` is reported and exits 2).
 */
export function runManager<D extends FlagDefs & Pick<typeof COMMON_FLAGS, "v" | "log-format">>(
  program: string,
  defs: D,
  build: (flags: FlagValues<D>) => Manager | number,
): Promise<never> {
  return runProgram(program, defs, (flags, signal) => {
    let m: Manager | number;
    try {
      m = build(flags);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      logger(program).error(e.message);
      return Promise.resolve(2);
    }
    return typeof m === "number" ? Promise.resolve(m) : m.run(signal);
  });
}

/**
 * The node agents' shared settings from their flags (COMMON_FLAGS, NODE_FLAGS, -metrics-bind-address with the
 * program's default address `opsDefault`, -docker-host).
 */
export function agentConfig(
  f: FlagValues<typeof COMMON_FLAGS & typeof NODE_FLAGS> & { "metrics-bind-address": string; "docker-host": string },
  opsDefault: string,
): AgentConfig {
  return {
    kubeconfig: f.kubeconfig,
    master: f.master,
    namespace: f.namespace,
    nodename: f.nodename,
    workers: f["num-workers"],
    resyncSeconds: f["default-resync-period"],
    dryRun: f["dry-run"],
    ops: opsListen(f["metrics-bind-address"], opsDefault),
    dockerHost: f["docker-host"],
    heartbeat: {
      namespace: heartbeatNamespace(f["heartbeat-namespace"], f.namespace),
      leaseDurationSeconds: f["heartbeat-lease-duration"],
    },
  };
}
