/**
 * Command-line flags in the style of Go's `flag` package, on top of `node:util` parseArgs, so the reference
 * implementation's invocations keep working: `-name value`, `-name=value`, `--name value`, `--name=value`, and for
 * booleans `-dry-run`, `-dry-run=true|false`. `-h`/`-help` requests usage. Unknown flags and bad values are errors.
 */
import { parseArgs } from "node:util";

/** One flag's definition. */
export type FlagDef =
  | { type: "string"; default: string; usage: string; choices?: readonly string[] }
  | { type: "int"; default: number; usage: string; min?: number; max?: number }
  | { type: "bool"; default: boolean; usage: string };

/** A set of flag definitions keyed by flag name. */
export type FlagDefs = Record<string, FlagDef>;

/** Parsed values, typed from the definitions. */
export type FlagValues<D extends FlagDefs> = {
  [K in keyof D]: D[K] extends { type: "bool" } ? boolean : D[K] extends { type: "int" } ? number : string;
};

/** A usage error: unknown flag, missing or bad value. The message says which flag and why. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** Thrown when `-h`/`-help` was given. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

const BOOL_WORDS: Record<string, boolean> = {
  "1": true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  "0": false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

/** Parses argv against the definitions. Throws {@link FlagError} or {@link HelpRequested}. */
export function parseFlags<D extends FlagDefs>(defs: D, argv: readonly string[]): FlagValues<D> {
  const boolOverrides = new Map<string, boolean>();
  const normalized: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      normalized.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      normalized.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === "h" || name === "help") throw new HelpRequested("help requested");
    const def = defs[name];
    if (!def) throw new FlagError(`flag provided but not defined: -${name}`);
    if (def.type === "bool" && eq >= 0) {
      const word = body.slice(eq + 1);
      if (!(word in BOOL_WORDS)) throw new FlagError(`invalid boolean value "${word}" for -${name}`);
      boolOverrides.set(name, BOOL_WORDS[word]);
      continue;
    }
    normalized.push(eq < 0 ? `--${name}` : `--${name}=${body.slice(eq + 1)}`);
  }

  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, def] of Object.entries(defs)) options[name] = { type: def.type === "bool" ? "boolean" : "string" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: normalized, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new FlagError((e as Error).message.replace(/'--([^']+)'/g, "-$1").replace(/--(\S+)/g, "-$1"));
  }

  const out: Record<string, string | number | boolean> = {};
  for (const [name, def] of Object.entries(defs)) {
    const raw = parsed.values[name];
    if (def.type === "bool") {
      out[name] = boolOverrides.get(name) ?? (raw === true ? true : def.default);
    } else if (def.type === "int") {
      if (raw === undefined) {
        out[name] = def.default;
        continue;
      }
      const s = String(raw);
      if (!/^-?\d+$/.test(s)) throw new FlagError(`invalid value "${s}" for flag -${name}: not an integer`);
      const n = Number(s);
      if (def.min !== undefined && n < def.min) {
        throw new FlagError(`invalid value ${n} for flag -${name}: < ${def.min}`);
      }
      if (def.max !== undefined && n > def.max) {
        throw new FlagError(`invalid value ${n} for flag -${name}: > ${def.max}`);
      }
      out[name] = n;
    } else {
      const s = raw === undefined ? def.default : String(raw);
      if (def.choices && !def.choices.includes(s)) {
        throw new FlagError(`invalid value "${s}" for flag -${name}: expected one of ${def.choices.join(", ")}`);
      }
      out[name] = s;
    }
  }
  return out as FlagValues<D>;
}

/** Renders Go-style usage text for the program's flags. */
export function usage(program: string, defs: FlagDefs): string {
  const lines = [`Usage of ${program}:`];
  for (const name of Object.keys(defs).sort()) {
    const def = defs[name];
    const kind = def.type === "bool" ? "" : def.type === "int" ? " int" : " string";
    lines.push(`  -${name}${kind}`);
    const dflt = def.type === "string"
      ? (def.default === "" ? "" : ` (default "${def.default}")`)
      : def.type === "bool"
      ? (def.default ? " (default true)" : "")
      : ` (default ${def.default})`;
    const choices = def.type === "string" && def.choices ? ` (one of: ${def.choices.join(", ")})` : "";
    lines.push(`    \t${def.usage}${choices}${dflt}`);
  }
  return lines.join("\n");
}
