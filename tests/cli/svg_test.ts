/**
 * `dn42op graph -o svg` through Graphviz's dot: well-formed, one SVG group per vertex and tunnel, byte-identical on
 * every run; and opened in Debian's headless Chromium, whose screenshot (a temporary PNG, never kept) shows the
 * state colours of the tunnels and the vertices' fill: the picture renders.
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { XMLValidator } from "fast-xml-parser";
import { STATE_COLOURS } from "../../src/cli/graph.ts";
import { skipUnless } from "../helpers/caps.ts";
import { AT, cli, FIXTURES } from "./support.ts";

async function svgOf(fixture: string, ...extra: string[]): Promise<string> {
  const r = await cli(["graph", "-o", "svg", "-f", `${FIXTURES}${fixture}`, "--at", AT, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

Deno.test({
  name: "graph -o svg: well-formed SVG with every vertex and tunnel, identical on every run",
  ignore: skipUnless("graphviz"),
  fn: async () => {
    const svg = await svgOf("lab.yaml");
    assert.equal(XMLValidator.validate(svg), true);
    assert.equal(svg.match(/<g id="node\d+" class="node">/g)?.length, 3, "agent1, agent2 of lax1, agent2 of lax2");
    assert.equal(svg.match(/<g id="edge\d+" class="edge">/g)?.length, 2, "wgp1's tunnel and wg1–wg2");
    assert.equal(svg.match(/<g id="clust\d+" class="cluster">/g)?.length, 2, "nodes lax1 and lax2");
    assert.ok(svg.includes(`stroke="${STATE_COLOURS.up}"`));
    assert.equal(await svgOf("lab.yaml"), svg);
  },
});

type Rgb = [number, number, number];
const rgb = (hex: string): Rgb => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb;

/** Pixels of a decoded RGB(A) image within `tolerance` of each colour. */
function countColours(png: ReturnType<typeof decode>, colours: Record<string, Rgb>, tolerance = 12) {
  const out: Record<string, number> = Object.fromEntries(Object.keys(colours).map((k) => [k, 0]));
  const step = png.channels;
  for (let i = 0; i < png.data.length; i += step) {
    for (const [name, [r, g, b]] of Object.entries(colours)) {
      const d = Math.abs(png.data[i] - r) + Math.abs(png.data[i + 1] - g) + Math.abs(png.data[i + 2] - b);
      if (d <= tolerance) out[name]++;
    }
  }
  return out;
}

async function screenshot(svg: string, width: number, height: number): Promise<ReturnType<typeof decode>> {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-cli-chromium-" });
  try {
    await Deno.writeTextFile(`${dir}/graph.svg`, svg);
    const out = await new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${dir}/profile`,
        `--window-size=${width},${height}`,
        `--screenshot=${dir}/graph.png`,
        `file://${dir}/graph.svg`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const png = await Deno.readFile(`${dir}/graph.png`).catch(() => {
      throw new Error(`chromium made no screenshot (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`);
    });
    if (Deno.env.get("DN42OP_KEEP_SCREENSHOT")) await Deno.writeFile(Deno.env.get("DN42OP_KEEP_SCREENSHOT")!, png);
    return decode(png);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "graph -o svg renders in headless Chromium: the screenshot shows vertices and tunnels in their colours",
  ignore: skipUnless("graphviz", "chromium"),
  fn: async () => {
    const lab = await screenshot(await svgOf("lab.yaml"), 800, 450);
    assert.equal(lab.width, 800);
    assert.equal(lab.height, 450);
    const seen = countColours(lab, { up: rgb(STATE_COLOURS.up), fill: rgb("#e3f2fd"), down: rgb(STATE_COLOURS.down) });
    assert.ok(seen.up > 100, `green tunnels drawn (${seen.up} px)`);
    assert.ok(seen.fill > 1000, `vertex boxes filled (${seen.fill} px)`);
    assert.equal(seen.down, 0, "nothing is red in the healthy lab");

    const states = await screenshot(await svgOf("states.yaml", "-n", "net"), 900, 500);
    const s = countColours(states, {
      stale: rgb(STATE_COLOURS.stale),
      down: rgb(STATE_COLOURS.down),
      unreported: rgb("#eeeeee"),
    });
    assert.ok(s.stale > 100, `stale tunnels orange (${s.stale} px)`);
    assert.ok(s.down > 50, `the tunnel that is not Ready red (${s.down} px)`);
    assert.ok(s.unreported > 500, `the laptop without an agent grey (${s.unreported} px)`);
  },
});

Deno.test({
  name: "docs/lab-topology.svg (the README's picture) is what the CLI draws of the lab's objects",
  ignore: skipUnless("graphviz"),
  fn: async () => {
    const committed = await Deno.readTextFile(new URL("../../docs/lab-topology.svg", import.meta.url));
    const drawn = await svgOf("lab.yaml", "-n", "default");
    assert.equal(
      committed,
      drawn,
      "regenerate: deno task dn42op graph -f tests/fixtures/cli/lab.yaml -n default --at 2026-01-15T10:01:00Z " +
        "-o svg > docs/lab-topology.svg",
    );
  },
});
