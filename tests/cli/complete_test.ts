import assert from "node:assert/strict";
import { complete, completionOutput, completionScript, type CompletionSource } from "../../src/cli/complete.ts";
import { programCommand } from "../../scripts/programs.ts";
import { wrapperScripts } from "../../scripts/cli_install.ts";

const source: CompletionSource = {
  plans: () => Promise.resolve(["mesh", "wgp1"]),
  nodes: (plan) => Promise.resolve(plan === "wgp1" ? ["lax1", "lax2"] : ["edge1", "hub", "laptop", "lax1", "lax2"]),
  contexts: () => Promise.resolve(["admin", "dev"]),
  namespaces: () => Promise.reject(new Error("forbidden")),
};

Deno.test("complete: verbs, flags, flag values and arguments from the verb table and the cluster", async () => {
  const cases: [string[], string[], number][] = [
    [[""], ["status", "graph", "showconf", "keys", "completion", "help"], 4],
    [["s"], ["status", "showconf"], 4],
    [["keys", ""], ["rotate"], 4],
    [["keys", "rotate", ""], ["mesh", "wgp1"], 4],
    [["keys", "rotate", "wgp1", ""], ["lax1", "lax2"], 4],
    [["showconf", "-n", "x", "wgp1", "l"], ["lax1", "lax2"], 4],
    [["showconf", "wgp1", "lax2", "--peer", ""], ["lax1", "lax2"], 4],
    [["showconf", "wgp1", "lax2", "--dir", ""], [], 16],
    [["status", "-o", ""], ["table", "wide", "json", "yaml"], 4],
    [["graph", "--output", "=", "s"], ["svg"], 4],
    [["graph", "-f", ""], [], 0],
    [["status", "--context", ""], ["admin", "dev"], 4],
    [["status", "-n", ""], [], 4],
    [["status", "--no"], ["--node="], 4],
    [["graph", "--a"], ["--all", "--all-namespaces", "--at="], 4],
    [["completion", ""], ["bash", "zsh"], 4],
    [["status", "wgp1", ""], [], 4],
  ];
  for (const [words, candidates, directive] of cases) {
    assert.deepEqual(await complete(words, source), { candidates, directive }, words.join(" "));
  }
  assert.equal(completionOutput({ candidates: ["a", "b"], directive: 4 }), "a\nb\n:4\n");
});

/** Completion as bash runs it: the script sourced, COMP_WORDS set, COMPREPLY printed. */
async function bashComplete(dir: string, line: string[]): Promise<string[]> {
  const words = line.map((w) => `'${w}'`).join(" ");
  const script = `source <(dn42op completion bash)
COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}
_dn42op
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    env: { PATH: `${dir}:${Deno.env.get("PATH")}`, KUBECONFIG: "/nonexistent" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test("completion: the bash script completes through the installed program (cli:install's wrapper)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-cli-" });
  try {
    for (const [name, text] of Object.entries(wrapperScripts(programCommand("dn42op")))) {
      await Deno.writeTextFile(`${dir}/${name}`, text, { mode: 0o755 });
    }
    assert.deepEqual(await bashComplete(dir, ["dn42op", "gr"]), ["graph"]);
    assert.deepEqual(await bashComplete(dir, ["dn42op", "status", "-o", "w"]), ["wide"]);
    assert.deepEqual(await bashComplete(dir, ["dn42op", "keys", ""]), ["rotate"]);
    // No cluster reachable: plan names cannot be had, and nothing else is offered.
    assert.deepEqual(await bashComplete(dir, ["dn42op", "showconf", ""]), []);
    // kubectl's plugin completion helper speaks the same protocol.
    const helper = await new Deno.Command(`${dir}/kubectl_complete-dn42`, {
      args: ["graph", "-o", ""],
      stdout: "piped",
    })
      .output();
    assert.equal(new TextDecoder().decode(helper.stdout), "dot\nsvg\n:4\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("completion: zsh gets the same function through bashcompinit", () => {
  const zsh = completionScript("zsh", "dn42op");
  assert.match(zsh, /^#compdef dn42op kubectl-dn42\n/);
  assert.match(zsh, /bashcompinit/);
  assert.ok(zsh.includes(completionScript("bash", "dn42op").split("\n").slice(1).join("\n")));
});
