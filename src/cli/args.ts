/**
 * Command-line parsing and help of the CLI (pure), kubectl style: `dn42op [flags] VERB [args] [flags]`, GNU flags
 * (`--name value`, `--name=value`, `-n value`, `-A`), `--help`/`-h` on every verb, `--` ends the flags. Usage errors
 * are {@link UsageError}s naming the flag or argument; main prints them as kubectl does and exits 1.
 */
import { parseArgs } from "node:util";
import { wrap } from "./format.ts";
import { type FlagSpec, GLOBAL_FLAGS, verbNamed, VERBS, type VerbSpec } from "./spec.ts";

/** Width help text is wrapped to. */
const HELP_WIDTH = 100;

/** A bad command line; `verb` tells which help to point at. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, readonly verb?: string) {
    super(message);
  }
}

/** Parsed flag values: strings, booleans (absent booleans are false, absent strings their default or undefined). */
export type FlagValues = Record<string, string | boolean | undefined>;

/** What the command line asks for. */
export type Command =
  | { kind: "help"; verb?: VerbSpec }
  | { kind: "run"; verb: VerbSpec; args: string[]; flags: FlagValues }
  | { kind: "complete"; words: string[] };

/** Every flag of `verb` plus the global ones. */
export function flagsOf(verb: VerbSpec | undefined): Record<string, FlagSpec> {
  return { ...GLOBAL_FLAGS, ...(verb?.flags ?? {}) };
}

/** Flags (long and short names) that take a value in any verb: used to find the verb among the words. */
function valueFlags(): Set<string> {
  const out = new Set<string>();
  for (const v of [undefined, ...VERBS]) {
    for (const [name, f] of Object.entries(flagsOf(v))) {
      if (f.type !== "string") continue;
      out.add(`--${name}`);
      if (f.short) out.add(`-${f.short}`);
    }
  }
  return out;
}

/** Splits argv into the verb's words and the rest (flags and arguments, in order). */
export function splitVerb(argv: readonly string[]): { words: string[]; rest: string[] } {
  const takesValue = valueFlags();
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a.startsWith("-") && a !== "-") {
      rest.push(a);
      if (takesValue.has(a) && i + 1 < argv.length) rest.push(argv[++i]);
      continue;
    }
    const wantsSecond = words.length === 1 && words[0] === "keys";
    if (words.length === 0 || wantsSecond) words.push(a);
    else rest.push(a);
  }
  return { words, rest };
}

function parseError(e: unknown, verb?: string): UsageError {
  const m = (e as Error).message;
  const unknown = m.match(/Unknown option '([^']+)'/);
  if (unknown) return new UsageError(`unknown flag: ${unknown[1]}`, verb);
  const missing = m.match(/Option '(?:-\w, )?(--[^ ']+)[^']*' argument missing/);
  if (missing) return new UsageError(`flag needs an argument: ${missing[1]}`, verb);
  const ambiguous = m.match(/Option '(?:-\w, )?(--[^ ']+)[^']*' argument is ambiguous/);
  if (ambiguous) {
    return new UsageError(`flag ${ambiguous[1]}: give a value that starts with "-" as ${ambiguous[1]}=VALUE`, verb);
  }
  const boolValue = m.match(/Option '(?:-\w, )?(--[^ ']+)' does not take an argument/);
  if (boolValue) return new UsageError(`flag takes no value: ${boolValue[1]}`, verb);
  return new UsageError(m, verb);
}

/** Parses argv (without the program name). Throws {@link UsageError}. */
export function parseCommandLine(argv: readonly string[]): Command {
  if (argv[0] === "__complete") return { kind: "complete", words: argv.slice(1) };
  const { words, rest } = splitVerb(argv);
  const helpAsked = rest.includes("--help") || rest.includes("-h");
  if (words[0] === "help") {
    const name = [...words.slice(1), ...rest.filter((r) => !r.startsWith("-"))].join(" ");
    if (!name) return { kind: "help" };
    const verb = verbNamed(name);
    if (!verb) throw new UsageError(`unknown command "${name}"`);
    return { kind: "help", verb };
  }
  if (words.length === 0) {
    if (helpAsked || rest.length === 0) return { kind: "help" };
    throw new UsageError(`no command given (${rest[0]})`);
  }
  const name = words.join(" ");
  const verb = verbNamed(name);
  if (!verb) {
    if (words[0] === "keys") throw new UsageError(`"keys" needs a subcommand: rotate`);
    throw new UsageError(`unknown command "${name}"`);
  }
  if (helpAsked) return { kind: "help", verb };
  const specs = flagsOf(verb);
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [n, f] of Object.entries(specs)) options[n] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...rest], options, strict: true, allowPositionals: true });
  } catch (e) {
    throw parseError(e, verb.name);
  }
  const flags: FlagValues = {};
  for (const [n, f] of Object.entries(specs)) {
    const v = parsed.values[n];
    if (f.type === "boolean") {
      flags[n] = v === true;
      continue;
    }
    const s = v === undefined ? f.default : String(v);
    if (s !== undefined && f.choices && !f.choices.includes(s)) {
      throw new UsageError(`--${n} must be one of ${f.choices.join(", ")}, not "${s}"`, verb.name);
    }
    flags[n] = s;
  }
  const args = parsed.positionals;
  const required = verb.args.filter((a) => a.required);
  if (args.length < required.length) {
    const names = required.map((a) => a.name);
    throw new UsageError(`${verb.name} needs ${names.join(" and ")}`, verb.name);
  }
  if (args.length > verb.args.length) {
    throw new UsageError(
      `${verb.name} takes at most ${verb.args.length} argument${verb.args.length === 1 ? "" : "s"} ` +
        `(${verb.args.map((a) => a.name).join(" ")}), got ${args.length}: ${args.join(" ")}`,
      verb.name,
    );
  }
  return { kind: "run", verb, args, flags };
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const rows = Object.entries(flags).sort(([a], [b]) => a < b ? -1 : 1).map(([name, f]) => {
    const head = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.arg ?? "string"}` : ""}`;
    const dflt = f.default !== undefined ? ` (default "${f.default}")` : "";
    return [head, f.usage + dflt];
  });
  const width = Math.max(...rows.map(([h]) => h.length));
  const indent = " ".repeat(width + 5);
  return rows.map(([h, u]) => `  ${h.padEnd(width)}   ${wrap(u, HELP_WIDTH - width - 5, indent)}`);
}

function synopsis(verb: VerbSpec): string {
  const args = verb.args.map((a) => a.required ? a.name : `[${a.name}]`);
  return [verb.name, ...args, "[flags]"].join(" ");
}

/** The help text of the program (no verb) or of one verb. */
export function helpText(program: string, verb?: VerbSpec): string {
  if (!verb) {
    const width = Math.max(...VERBS.map((v) => v.name.length));
    return [
      wrap(
        "The operator's view of dn42op: tunnel status, topology graphs, configurations for nodes outside the " +
          "cluster, key rotation.",
        HELP_WIDTH,
      ),
      "",
      "Usage:",
      `  ${program} COMMAND [ARGS] [flags]`,
      "",
      "Commands:",
      ...VERBS.map((v) => `  ${v.name.padEnd(width)}   ${v.summary}`),
      "",
      "Flags of every command:",
      ...flagLines({ ...GLOBAL_FLAGS }),
      "",
      `Use "${program} COMMAND --help" for more about a command. Exit status: 0 on success, 1 on any error.`,
      "",
    ].join("\n");
  }
  return [
    wrap(verb.description, HELP_WIDTH),
    "",
    "Usage:",
    `  ${program} ${synopsis(verb)}`,
    "",
    "Examples:",
    ...verb.examples.map((e) => `  ${e}`),
    "",
    "Flags:",
    ...flagLines(flagsOf(verb)),
    "",
  ].join("\n");
}
