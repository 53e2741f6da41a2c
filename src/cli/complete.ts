/**
 * Shell completion. `dn42op __complete WORD…` answers with candidates, one per line, and a last line `:N` (N: cobra's
 * directive bits, the protocol kubectl uses for its plugins' `kubectl_complete-<name>` helpers), where the last WORD
 * is the one being completed ("" for a new word). The bash and zsh scripts only call it, so completion follows the
 * verb table of spec.ts. Candidates come from the table (verbs, flags, choices) or from the API server (plans, nodes
 * of a plan, namespaces' objects) through {@link CompletionSource}.
 */
import { flagsOf, splitVerb } from "./args.ts";
import { type FlagSpec, SHELLS, verbNamed, VERBS } from "./spec.ts";

/** cobra's ShellCompDirective bits. */
export const DIRECTIVE = { default: 0, noSpace: 2, noFileComp: 4, filterDirs: 16 } as const;

/** Dynamic candidates (may fail: completion then offers nothing). */
export interface CompletionSource {
  plans(): Promise<string[]>;
  nodes(plan?: string): Promise<string[]>;
  contexts(): Promise<string[]>;
  namespaces(): Promise<string[]>;
}

/** Candidates and directive for `words` (the last one is being completed). */
export async function complete(
  words: readonly string[],
  source: CompletionSource,
): Promise<{ candidates: string[]; directive: number }> {
  const cur = words.at(-1) ?? "";
  const before = joinEquals(words.slice(0, -1));
  const { words: verbWords, rest } = splitVerb(before);
  const verb = verbNamed(verbWords.join(" "));
  const specs = flagsOf(verb);
  const flagOf = (token: string): [string, FlagSpec] | undefined =>
    Object.entries(specs).find(([n, f]) => token === `--${n}` || (f.short && token === `-${f.short}`));
  const none = { candidates: [] as string[], directive: DIRECTIVE.noFileComp };
  const words_ = (list: readonly string[]) => ({
    candidates: list.filter((c) => c.startsWith(cur)),
    directive: DIRECTIVE.noFileComp,
  });
  const dynamic = async (f: () => Promise<string[]>) => {
    try {
      return words_(await f());
    } catch {
      return none;
    }
  };

  // bash splits `--output=wi` into "--output", "=", "wi": a flag ending in "=" still wants its value.
  const prev = before.at(-1)?.replace(/=$/, "");
  const prevFlag = prev !== undefined ? flagOf(prev) : undefined;
  if (prevFlag && prevFlag[1].type === "string") {
    const f = prevFlag[1];
    if (f.choices) return words_(f.choices);
    if (f.complete === "file") return { candidates: [], directive: DIRECTIVE.default };
    if (f.complete === "dir") return { candidates: [], directive: DIRECTIVE.filterDirs };
    if (f.complete === "context") return await dynamic(source.contexts);
    if (f.complete === "namespace") return await dynamic(source.namespaces);
    if (f.complete === "plan") return await dynamic(source.plans);
    if (f.complete === "node") return await dynamic(() => source.nodes(positionals(rest, specs)[0]));
    return none;
  }
  if (cur.startsWith("-")) {
    const names = Object.entries(specs).map(([n, f]) => `--${n}${f.type === "string" ? "=" : ""}`);
    return { candidates: names.filter((n) => n.startsWith(cur)).sort(), directive: DIRECTIVE.noFileComp };
  }
  if (!verb) {
    if (verbWords[0] === "keys") return words_(["rotate"]);
    if (verbWords.length === 0) return words_([...new Set(VERBS.map((v) => v.name.split(" ")[0])), "help"]);
    return none;
  }
  const args = positionals(rest, specs);
  const arg = verb.args[args.length];
  if (!arg) return none;
  if (arg.complete === "plan") return await dynamic(source.plans);
  if (arg.complete === "node") return await dynamic(() => source.nodes(args[0]));
  if (arg.complete === "shell") return words_(SHELLS);
  return none;
}

/** Words as typed, with bash's "=" words glued back to their flag ("--output", "=", "json" → "--output=json"). */
function joinEquals(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === "=" && out.at(-1)?.startsWith("-")) {
      out[out.length - 1] += "=" + (i + 1 < words.length ? words[++i] : "");
    } else {
      out.push(words[i]);
    }
  }
  return out;
}

/** The positional arguments among `rest` (flags and their values skipped). */
function positionals(rest: readonly string[], specs: Record<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a.startsWith("-") && a !== "-") {
      const name = a.replace(/^--?/, "").split("=")[0];
      const f = Object.entries(specs).find(([n, s]) => n === name || s.short === name)?.[1];
      if (f?.type === "string" && !a.includes("=")) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The `__complete` answer as printed. */
export function completionOutput(r: { candidates: string[]; directive: number }): string {
  return [...r.candidates, `:${r.directive}`].join("\n") + "\n";
}

const BASH_FUNCTION = `_dn42op() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" out directive
  out=$("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null) || return 0
  directive=\${out##*:}
  out=\${out%:*}
  if (( directive & 16 )); then
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
  elif [[ -z $out ]] && (( (directive & 4) == 0 )); then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$out" -- "$cur")
  fi
  if [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == *= ]]; then compopt -o nospace 2>/dev/null; fi
  return 0
}`;

/** The completion script for `shell`, registered for `program` (and kubectl-dn42). */
export function completionScript(shell: typeof SHELLS[number], program: string): string {
  const names = [...new Set([program, "dn42op", "kubectl-dn42"])].join(" ");
  if (shell === "bash") {
    return `# bash completion for dn42op; source <(dn42op completion bash)\n${BASH_FUNCTION}\n` +
      `complete -F _dn42op ${names}\n`;
  }
  return `#compdef ${names}\n# zsh completion for dn42op (through bash's completion API); ` +
    `source <(dn42op completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${BASH_FUNCTION}\n` +
    `complete -F _dn42op ${names}\n`;
}
