/**
 * `deno task compile` and scripts/programs.ts: the one-line failure when Deno's runtime (denort) is missing, the
 * command lines programCommand builds, every program starting with exactly its table permissions, and — only where a
 * real denort is available ($DENORT_BIN) — compiled binaries that answer like `deno run`.
 */
import assert from "node:assert/strict";
import { compileCommand, denortProblem } from "../../scripts/compile.ts";
import { binaryPath, PROGRAM_NAMES, programCommand, PROGRAMS, ROOT } from "../../scripts/programs.ts";
import { skipUnless } from "../helpers/caps.ts";
import { withNetns } from "../../kit/netns.ts";

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs scripts/compile.ts (as `deno task compile` does); inside `netns` (no network) with DENORT_BIN unset. */
async function runCompile(env: Record<string, string>, netns?: string) {
  const deno = [Deno.execPath(), "run", "-A", `${ROOT}scripts/compile.ts`, "wgplan-controller"];
  const cmd = netns ? ["ip", "netns", "exec", netns, "env", "-u", "DENORT_BIN", ...deno] : deno;
  const hadBin = await Deno.stat(`${ROOT}bin`).then(() => true, () => false);
  try {
    const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), env, stdout: "piped", stderr: "piped" }).output();
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    if (!hadBin) await Deno.remove(`${ROOT}bin`).catch(() => {}); // only if empty
  }
}

/** The stderr lines that are ours (Node's deprecation warnings from npm packages aside). */
const ownLines = (stderr: string) => stderr.trim().split("\n").filter((l) => l && !/DeprecationWarning/.test(l));

Deno.test("compile: DENORT_BIN naming a missing file → one line saying so and how to provide it, exit 1", async () => {
  const r = await runCompile({ DENORT_BIN: "/nonexistent/denort" });
  assert.equal(r.code, 1);
  const lines = ownLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^compile: DENORT_BIN=\/nonexistent\/denort does not exist/);
  assert.match(lines[0], /DENORT_BIN=\/path\/to\/denort \.\/denow task compile/);
  assert.equal(await Deno.stat(binaryPath("wgplan-controller")).then(() => true, () => false), false);
});

Deno.test({
  name: "compile: no DENORT_BIN and no network (throwaway namespace) → one line, exit 1, no binary left",
  ignore: skipUnless("root"),
  fn: () =>
    withNetns(async (ns) => {
      const r = await runCompile({}, ns.name);
      assert.equal(r.code, 1, r.stderr);
      const lines = ownLines(r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^compile: Deno's runtime binary \(denort 2\.9\.6\) is missing: DENORT_BIN is not set/);
      assert.match(lines[0], /downloading it failed \((?!<unknown>)[^)]*(lookup|dns|connect|network)[^)]*\)/i);
      assert.equal(await Deno.stat(binaryPath("wgplan-controller")).then(() => true, () => false), false);
      const leftovers = await Array.fromAsync(Deno.readDir(`${ROOT}bin`)).catch(() => []);
      assert.deepEqual(leftovers.filter((e) => e.name.startsWith("wgplan-controller.tmp-")), []);
    }, { tag: "sh" }),
});

Deno.test("compile: denortProblem turns deno compile's runtime errors into one line and leaves others alone", () => {
  const download =
    "Compile src/cmd/x.ts to bin/x\nerror: Writing deno compile executable to temporary file 'bin/x.tmp'\n\n" +
    "Caused by:\n    0: Setting up base binary.\n    1: error sending request for url (https://dl.deno.land/release/" +
    "v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect)\n    2: client error (Connect)\n" +
    "    3: dns error\n    4: failed to lookup address information: Name or service not known\n\nStack backtrace:\n" +
    "   0: <unknown>\n";
  const missing = "error: Writing deno compile executable to temporary file 'bin/x.tmp'\n\nCaused by:\n" +
    "    0: Could not find denort at '/x/denort'\n    1: No such file or directory (os error 2)\n";
  const table: [string, string | undefined, RegExp | undefined][] = [
    [download, undefined, /is missing: DENORT_BIN is not set .*\(failed to lookup address information: .*\)/],
    [missing, "/x/denort", /^compile: DENORT_BIN=\/x\/denort is not usable .*\(No such file or directory/],
    ['error: Module not found "file:///x.ts".', undefined, undefined],
    ["error: Type checking failed.", "/x/denort", undefined],
  ];
  for (const [stderr, bin, want] of table) {
    const line = denortProblem(stderr, bin);
    if (want === undefined) assert.equal(line, undefined, stderr);
    else {
      assert.match(line ?? "", want);
      assert.equal(line!.includes("\n"), false);
    }
  }
});

Deno.test("programs: programCommand runs bin/<name> when it exists, else deno run with the table's permissions", async () => {
  const root = await Deno.makeTempDir({ prefix: "dn42op-sh-root-" });
  try {
    const fake = `${root}/`;
    for (const name of PROGRAM_NAMES) {
      const run = programCommand(name, ["-v=4"], fake);
      assert.deepEqual(run, [
        Deno.execPath(),
        "run",
        "--no-prompt",
        `--config=${fake}deno.json`,
        ...PROGRAMS[name].permissions,
        `${fake}${PROGRAMS[name].entry}`,
        "-v=4",
      ]);
      assert.equal(run.includes("-A"), false);
      const compiled = compileCommand(name, fake);
      assert.deepEqual(compiled.slice(1, 2), ["compile"]);
      for (const p of PROGRAMS[name].permissions) assert.ok(compiled.includes(p), `${name}: compile bakes in ${p}`);
      assert.ok(compiled.includes(`--output=${fake}bin/${name}`));
    }
    await Deno.mkdir(`${root}/bin`);
    await Deno.writeTextFile(`${root}/bin/wgplan-controller`, "");
    assert.deepEqual(programCommand("wgplan-controller", ["-h"], fake), [`${fake}bin/wgplan-controller`, "-h"]);
    assert.equal(programCommand("nl-controller", [], fake)[1], "run");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  // Only the node agents need everything (Deno gates /proc behind --allow-all); the plan controller is scoped.
  assert.deepEqual(PROGRAMS["wgplan-controller"].permissions, [
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys=hostname",
  ]);
});

Deno.test("programs: with DN42OP_CPU_PROF_DIR set, deno run writes a CPU profile of the program into it", () => {
  const before = Deno.env.get("DN42OP_CPU_PROF_DIR");
  try {
    Deno.env.set("DN42OP_CPU_PROF_DIR", "/tmp/dn42op-prof");
    const run = programCommand("wg-controller", ["-v=2"], "/nonexistent/");
    const entry = run.indexOf(`/nonexistent/${PROGRAMS["wg-controller"].entry}`);
    assert.ok(run.indexOf("--cpu-prof") > 1 && run.indexOf("--cpu-prof") < entry, run.join(" "));
    assert.ok(run.indexOf("--cpu-prof-dir=/tmp/dn42op-prof") < entry, run.join(" "));
    Deno.env.delete("DN42OP_CPU_PROF_DIR");
    assert.ok(!programCommand("wg-controller", [], "/nonexistent/").some((a) => a.startsWith("--cpu-prof")));
  } finally {
    if (before === undefined) Deno.env.delete("DN42OP_CPU_PROF_DIR");
    else Deno.env.set("DN42OP_CPU_PROF_DIR", before);
  }
});

Deno.test("programs: each program starts with exactly its permissions and prints its usage (-h, exit 0)", async () => {
  for (const name of PROGRAM_NAMES) {
    const cmd = programCommand(name, ["-h"]);
    const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
    assert.equal(out.code, 0, `${name}: ${decode(out.stderr)}`);
    // The controllers print Go-style usage on stderr; the CLI prints kubectl-style help on stdout.
    assert.match(decode(out.stderr) + decode(out.stdout), new RegExp(`^(Usage of ${name}:|  ${name} COMMAND)`, "m"));
  }
});

Deno.test({
  name: "compile: every compiled binary answers -h like deno run (needs a real denort in $DENORT_BIN)",
  // dl.deno.land is unreachable here and npm has no denort: this runs only where DENORT_BIN names a real one.
  ignore: skipUnless("denort"),
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}scripts/compile.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, decode(out.stderr));
    for (const name of PROGRAM_NAMES) {
      const viaBin = await new Deno.Command(binaryPath(name), { args: ["-h"], stderr: "piped" }).output();
      const run = [Deno.execPath(), "run", ...PROGRAMS[name].permissions, `${ROOT}${PROGRAMS[name].entry}`, "-h"];
      const viaRun = await new Deno.Command(run[0], { args: run.slice(1), stderr: "piped" }).output();
      assert.equal(viaBin.code, viaRun.code);
      assert.equal(ownLines(decode(viaBin.stderr)).join("\n"), ownLines(decode(viaRun.stderr)).join("\n"));
    }
  },
});
