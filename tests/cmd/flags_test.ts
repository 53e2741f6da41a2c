import assert from "node:assert/strict";
import { FlagError, HelpRequested, parseFlags, usage } from "../../src/cmd/flags.ts";
import { COMMON_FLAGS, NODE_FLAGS, parseProgramFlags } from "../../src/cmd/program.ts";

const DEFS = { ...COMMON_FLAGS, ...NODE_FLAGS };

Deno.test("flags: reference invocations parse (Go single-dash, double-dash, =value)", () => {
  const cases: [string[], Partial<Record<string, unknown>>][] = [
    [["--kubeconfig", "/root/.kube/config", "-nodename", "lax1", "-v", "4"], {
      kubeconfig: "/root/.kube/config",
      nodename: "lax1",
      v: 4,
    }],
    [["--kubeconfig=/k", "-v=2"], { kubeconfig: "/k", v: 2 }],
    [["-namespace", "default", "-num-workers=3", "-default-resync-period", "10"], {
      namespace: "default",
      "num-workers": 3,
      "default-resync-period": 10,
    }],
    [["-dry-run"], { "dry-run": true }],
    [["-dry-run=false"], { "dry-run": false }],
    [["--dry-run=true", "-namespace="], { "dry-run": true, namespace: "" }],
    [["-logtostderr", "-alsologtostderr=true", "-vmodule", "x=2"], { logtostderr: true, vmodule: "x=2" }],
    [[], {
      kubeconfig: "",
      namespace: "default",
      "num-workers": 1,
      "default-resync-period": 30,
      v: 0,
      "dry-run": false,
    }],
  ];
  for (const [argv, want] of cases) {
    const got = parseFlags(DEFS, argv) as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) assert.equal(got[k], v, `${argv.join(" ")}: ${k}`);
  }
});

Deno.test("flags: errors name the flag", () => {
  const bad: [string[], RegExp][] = [
    [["-nosuch"], /flag provided but not defined: -nosuch/],
    [["-v", "x"], /invalid value "x" for flag -v/],
    [["-num-workers", "0"], /-num-workers: < 1/],
    [["-dry-run=maybe"], /invalid boolean value "maybe" for -dry-run/],
    [["-log-format", "xml"], /one of text, json/],
    [["-kubeconfig"], /kubeconfig/],
    [["extra"], /extra/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(
      () => parseFlags(DEFS, argv),
      (e: Error) => e instanceof FlagError && re.test(e.message),
      argv.join(" "),
    );
  }
  assert.throws(() => parseFlags(DEFS, ["-h"]), HelpRequested);
  assert.throws(() => parseFlags(DEFS, ["--help"]), HelpRequested);
});

Deno.test("flags: -h prints usage and exits 0, a bad flag prints usage and exits 2", () => {
  let out = "";
  const w = (t: string) => (out += t);
  assert.deepEqual(parseProgramFlags("wg-controller", DEFS, ["-h"], w), { exitCode: 0 });
  assert.match(out, /^Usage of wg-controller:/);
  assert.match(out, /-nodename string/);
  out = "";
  assert.deepEqual(parseProgramFlags("wg-controller", DEFS, ["-bogus"], w), { exitCode: 2 });
  assert.match(out, /not defined: -bogus\nUsage of wg-controller:/);
});

Deno.test("flags: usage lists every flag with its default", () => {
  const text = usage("x", DEFS);
  for (const name of Object.keys(DEFS)) assert.match(text, new RegExp(`^  -${name}\\b`, "m"), name);
  assert.match(text, /-namespace string\n.*\(default "default"\)/);
  assert.match(text, /-num-workers int\n.*\(default 1\)/);
});
