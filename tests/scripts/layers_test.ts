import assert from "node:assert/strict";
import { checkLayers, importsOf, violation } from "../../scripts/layers.ts";

Deno.test("layers: an import down a layer or within a directory passes; up, sideways or out of the product fails", () => {
  const table: [from: string, to: string, ok: boolean][] = [
    ["src/node/placement.ts", "src/netlink/netns.ts", true],
    ["src/node/placement.ts", "src/api/placement.ts", true],
    ["src/node/netlink/apply.ts", "src/node/ownership.ts", true],
    ["src/netlink/rtnl.ts", "ffi/libnl.ts", true],
    ["src/kube/manager.ts", "src/log/mod.ts", true],
    ["src/cmd/program.ts", "src/controllers/agent.ts", true],
    ["src/api/crd.ts", "src/kube/client.ts", true],
    ["src/netlink/link.ts", "src/wireguard/key.ts", false],
    ["src/kube/controller.ts", "src/api/constants.ts", false],
    ["src/node/monitor.ts", "src/plan/names.ts", false],
    ["src/controllers/agent.ts", "src/cmd/program.ts", false],
    ["src/log/mod.ts", "src/kube/redact.ts", false],
    ["src/kube/client.ts", "scripts/programs.ts", false],
    ["src/newthing/x.ts", "src/log/mod.ts", false],
    ["bench/heal/main.ts", "tests/helpers/netns.ts", false],
    ["lab/main.ts", "scripts/cluster.ts", true],
    ["tests/x_test.ts", "bench/stats.ts", true],
  ];
  for (const [from, to, ok] of table) {
    const v = violation({ from, to, line: 1 });
    assert.equal(v === null, ok, `${from} → ${to}: ${v}`);
  }
  assert.match(violation({ from: "src/node/a.ts", to: "src/plan/b.ts", line: 3 })!, /sibling src\/plan/);
  assert.match(
    violation({ from: "src/newthing/x.ts", to: "src/log/mod.ts", line: 1 })!,
    /src\/newthing\/ is in no layer/,
  );
});

Deno.test("layers: imports are found in static, type, re-export, side-effect and dynamic forms, not in comments", () => {
  const src = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b.ts";',
    'export { c } from "./c.ts";',
    'import "./d.ts";',
    'const e = await import("./e.ts");',
    '// import { f } from "./f.ts";',
    '/** import { g } from "./g.ts"; */',
    'import { h } from "npm:h";',
  ].join("\n");
  assert.deepEqual(importsOf(src).map((i) => `${i.line} ${i.spec}`), [
    "1 ./a.ts",
    "2 ../b.ts",
    "3 ./c.ts",
    "4 ./d.ts",
    "5 ./e.ts",
  ]);
});

Deno.test("layers: the repository has no upward import", async () => {
  const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
  assert.deepEqual(await checkLayers(root), []);
});
