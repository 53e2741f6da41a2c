import assert from "node:assert/strict";
import { parseCommandLine, splitVerb, UsageError } from "../../src/cli/args.ts";
import { cli } from "./support.ts";

Deno.test("args: kubectl-style flags anywhere, short and long, with = or a separate value", () => {
  const c = parseCommandLine(["-n", "net", "status", "mesh", "--node=hub", "-o", "wide", "-A", "--context", "k"]);
  assert.equal(c.kind, "run");
  if (c.kind !== "run") return;
  assert.equal(c.verb.name, "status");
  assert.deepEqual(c.args, ["mesh"]);
  assert.equal(c.flags.namespace, "net");
  assert.equal(c.flags.node, "hub");
  assert.equal(c.flags.output, "wide");
  assert.equal(c.flags["all-namespaces"], true);
  assert.equal(c.flags.context, "k");
  assert.equal(c.flags["stale-after"], "300", "defaults apply");
  const k = parseCommandLine(["keys", "--namespace=x", "rotate", "wgp1", "lax2", "--wait"]);
  assert.ok(k.kind === "run" && k.verb.name === "keys rotate" && k.args.join() === "wgp1,lax2" && k.flags.wait);
  assert.deepEqual(splitVerb(["--kubeconfig", "status", "graph"]), {
    words: ["graph"],
    rest: ["--kubeconfig", "status"],
  });
});

Deno.test("args: help on every verb, in every spelling", () => {
  for (const argv of [[], ["--help"], ["-h"], ["help"]]) assert.deepEqual(parseCommandLine(argv), { kind: "help" });
  for (const argv of [["status", "-h"], ["help", "status"], ["status", "--help", "--bogus"]]) {
    const c = parseCommandLine(argv);
    assert.ok(c.kind === "help" && c.verb?.name === "status", argv.join(" "));
  }
  const k = parseCommandLine(["help", "keys", "rotate"]);
  assert.ok(k.kind === "help" && k.verb?.name === "keys rotate");
});

Deno.test("args: bad command lines are usage errors naming the flag or argument", () => {
  const cases: [string[], RegExp, string | undefined][] = [
    [["status", "--bogus"], /^unknown flag: --bogus$/, "status"],
    [["status", "-o", "xml"], /--output must be one of table, wide, json, yaml, not "xml"/, "status"],
    [["graph", "-o"], /flag needs an argument: --output/, "graph"],
    [["showconf", "wgp1"], /showconf needs PLAN and NODE/, "showconf"],
    [["status", "a", "b"], /status takes at most 1 argument \(PLAN\), got 2: a b/, "status"],
    [["keys"], /"keys" needs a subcommand: rotate/, undefined],
    [["frobnicate"], /unknown command "frobnicate"/, undefined],
    [["--all"], /no command given/, undefined],
    [["status", "--wait"], /unknown flag: --wait/, "status"],
    [["keys", "rotate", "p", "--wait=yes"], /flag takes no value: --wait/, "keys rotate"],
  ];
  for (const [argv, message, verb] of cases) {
    assert.throws(() => parseCommandLine(argv), (e: unknown) => {
      assert.ok(e instanceof UsageError, argv.join(" "));
      assert.match(e.message, message, argv.join(" "));
      assert.equal(e.verb, verb, argv.join(" "));
      return true;
    });
  }
});

Deno.test("cli: a usage error exits 1 with kubectl's message and a pointer to the verb's help", async () => {
  const r = await cli(["graph", "-o", "png"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, `error: --output must be one of dot, svg, not "png"\nSee 'dn42op graph --help' for usage.\n`);
  const bad = await cli(["status", "-f", "/nonexistent/objects.yaml"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: .*nonexistent/);
  const at = await cli(["status", "-f", "/dev/null", "--at", "yesterday"]);
  assert.equal(at.code, 1);
  assert.match(at.stderr, /--at must be an RFC 3339 time/);
  const stale = await cli(["graph", "-f", "/dev/null", "--stale-after=-3"]);
  assert.match(stale.stderr, /--stale-after must be a positive number of seconds/);
  const dash = await cli(["graph", "-f", "/dev/null", "--stale-after", "-3"]);
  assert.match(dash.stderr, /flag --stale-after: give a value that starts with "-" as --stale-after=VALUE/);
});

Deno.test("cli: nothing found is said on stderr, exit 0; an unknown plan is an error", async () => {
  const empty = await cli(["status", "-f", "/dev/null", "-n", "net"]);
  assert.deepEqual(empty, { code: 0, stdout: "", stderr: "No WireGuardInterfaces found in namespace net.\n" });
  const missing = await cli(["status", "nope", "-f", new URL("../fixtures/cli/lab.yaml", import.meta.url).pathname]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `error: wireguardnetworkplans "nope" not found\n`);
});
