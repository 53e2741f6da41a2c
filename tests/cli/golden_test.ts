/**
 * The CLI's outputs on fixed objects (tests/fixtures/cli/, read with -f, evaluated --at a fixed time) against golden
 * files: status in every format, with and without colour, graph as DOT, and the help texts.
 */
import assert from "node:assert/strict";
import { AT, cli, FIXTURES, golden } from "./support.ts";

const LAB = `${FIXTURES}lab.yaml`;
const STATES = `${FIXTURES}states.yaml`;

const CASES: [string, string[]][] = [
  ["status-lab.txt", ["status", "-f", LAB]],
  ["status-lab-wide.txt", ["status", "-f", LAB, "-o", "wide"]],
  ["status-lab-plan-node.txt", ["status", "wgp1", "--node", "lax2", "-f", LAB]],
  ["status-states.txt", ["status", "-f", STATES, "-A"]],
  ["status-states-net.json", ["status", "-f", STATES, "-n", "net", "-o", "json"]],
  ["status-states-mesh.yaml", ["status", "mesh", "-f", STATES, "-n", "net", "-o", "yaml"]],
  ["graph-lab.dot", ["graph", "-f", LAB]],
  ["graph-lab-wgp1.dot", ["graph", "wgp1", "-f", LAB]],
  ["graph-states.dot", ["graph", "--all", "-f", STATES, "-n", "net"]],
  ["help.txt", ["--help"]],
  ["help-status.txt", ["status", "--help"]],
  ["help-showconf.txt", ["help", "showconf"]],
  ["help-keys-rotate.txt", ["keys", "rotate", "-h"]],
];

for (const [name, argv] of CASES) {
  Deno.test(`cli golden: dn42op ${argv.join(" ").replaceAll(FIXTURES, "")} → golden/${name}`, async () => {
    const r = await cli([...argv, ...(argv.includes("-f") ? ["--at", AT] : [])]);
    assert.equal(r.stderr, "");
    assert.equal(r.code, 0);
    await golden(name, r.stdout);
  });
}

Deno.test("cli golden: on a terminal, stale handshakes and rows that are not Ready are coloured", async () => {
  const r = await cli(["status", "-f", STATES, "-n", "net", "--at", AT], { colour: true });
  assert.equal(r.code, 0);
  await golden("status-states-colour.txt", r.stdout);
  const plain = await cli(["status", "-f", STATES, "-n", "net", "--at", AT]);
  // deno-lint-ignore no-control-regex
  assert.equal(r.stdout.replace(/\x1b\[[0-9;]*m/g, ""), plain.stdout, "colour changes nothing but the colour");
  const transit = r.stdout.split("\n").find((l) => l.includes("transit0"))!;
  // deno-lint-ignore no-control-regex
  assert.match(transit, /\x1b\[31mFalse\s*\x1b\[0m/, "a row that is not Ready is red");
  const stale = r.stdout.split("\n").find((l) => l.startsWith("wg-edge1-hub-0"))!;
  // deno-lint-ignore no-control-regex
  assert.match(stale, /\x1b\[31m11m\s*\x1b\[0m/, "a stale handshake is red");
});

Deno.test("cli golden: equal objects give equal bytes (graph and status are deterministic)", async () => {
  const a = await cli(["graph", "-f", STATES, "--at", AT]);
  const b = await cli(["graph", "-f", STATES, "--at", AT]);
  assert.equal(a.stdout, b.stdout);
  // The order of the input objects does not matter either.
  const text = await Deno.readTextFile(STATES);
  const reversed = text.split(/^---$/m).reverse().join("---\n");
  const tmp = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(tmp, reversed);
    assert.equal((await cli(["graph", "-f", tmp, "--at", AT])).stdout, a.stdout);
    assert.equal(
      (await cli(["status", "-f", tmp, "--at", AT, "-A"])).stdout,
      (await cli(["status", "-f", STATES, "--at", AT, "-A"])).stdout,
    );
  } finally {
    await Deno.remove(tmp);
  }
});
