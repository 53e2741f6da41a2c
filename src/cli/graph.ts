/**
 * `dn42op graph`: the topology as Graphviz DOT (pure and deterministic: vertices and edges sorted, no timestamps),
 * and SVG through Graphviz's `dot`. A node with one network namespace in use is one vertex; a node whose tunnels live
 * in containers is a cluster with one vertex per namespace. Edges are coloured by state and labelled with the
 * handshake age, each end with that side's addresses.
 */
import { humanDuration, shortKey } from "./format.ts";
import type { Edge, LinkState, Topology, Vertex } from "./model.ts";

/** Edge colours by state (also the legend). */
export const STATE_COLOURS: Record<LinkState, string> = {
  up: "#2e7d32",
  stale: "#ef6c00",
  down: "#c62828",
  unknown: "#9e9e9e",
};

const LEGEND = "green: up   orange: stale handshake   red: not Ready   grey: not reported";

/** A DOT string literal. */
export function quote(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function attrs(a: Record<string, string | undefined>): string {
  const parts = Object.entries(a).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${quote(v!)}`);
  return parts.length ? ` [${parts.join(", ")}]` : "";
}

function vertexAttrs(v: Vertex, inCluster: boolean): Record<string, string | undefined> {
  if (v.external) {
    return {
      label: [`peer ${shortKey(v.external.publicKey)}`, v.external.endpoint].filter(Boolean).join("\n"),
      shape: "ellipse",
      style: "dashed",
      tooltip: `external peer ${v.external.publicKey}`,
    };
  }
  const lines = [inCluster ? (v.placement || "host") : v.node];
  if (!inCluster && v.nat) lines.push("NAT");
  if (!inCluster && v.underlay) lines.push(v.underlay);
  if (!v.reported) lines.push("no agent reports");
  const style = ["rounded", "filled", ...(v.nat && !inCluster ? ["dashed"] : [])].join(",");
  return {
    label: lines.join("\n"),
    style,
    fillcolor: v.reported ? "#e3f2fd" : "#eeeeee",
    fontcolor: v.reported ? undefined : "#757575",
  };
}

/** The local address parts of an end's addresses (`10.4.0.1 peer 10.4.0.2/32` shows as 10.4.0.1). */
function endLabel(addresses: readonly string[] | undefined): string | undefined {
  if (!addresses?.length) return undefined;
  return addresses.map((a) => a.includes(" peer ") ? a.slice(0, a.indexOf(" peer ")) : a).join("\n");
}

function edgeLabel(e: Edge, nowMs: number): string {
  if (e.state === "unknown") return "";
  if (!e.handshakeMs) return "no handshake";
  return `${humanDuration((nowMs - e.handshakeMs) / 1000)} ago`;
}

function edgeTooltip(e: Edge): string {
  const end = (x: Edge["a"]) => x.iface ? `${x.iface.id} (${x.iface.interfaceName})` : x.vertex;
  return `${end(e.a)} — ${end(e.b)}: ${e.state}`;
}

/** The DOT text of `t`; `title` names what is drawn (e.g. "default/wgp1"). */
export function renderDot(t: Topology, title: string, nowMs: number): string {
  const out = [
    "graph dn42op {",
    `  graph${
      attrs({
        label: `${title}\n${LEGEND}`,
        labelloc: "b",
        fontname: "Helvetica",
        fontsize: "10",
        rankdir: "LR",
        nodesep: "0.6",
        ranksep: "1.2",
      })
    };`,
    `  node${attrs({ shape: "box", fontname: "Helvetica", fontsize: "11", color: "#546e7a" })};`,
    `  edge${
      attrs({
        fontname: "Helvetica",
        fontsize: "9",
        labelfontsize: "9",
        labeldistance: "2.5",
        labelangle: "30",
        penwidth: "2",
      })
    };`,
  ];
  const byNode = new Map<string, Vertex[]>();
  for (const v of t.vertices) if (!v.external) byNode.set(v.node, [...(byNode.get(v.node) ?? []), v]);
  for (const [node, vs] of byNode) {
    if (vs.length === 1 && vs[0].placement === "") {
      out.push(`  ${quote(vs[0].id)}${attrs(vertexAttrs(vs[0], false))};`);
      continue;
    }
    const nat = vs.some((v) => v.nat);
    const underlay = vs.find((v) => v.underlay)?.underlay;
    const label = [`node ${node}`, nat ? "NAT" : undefined, underlay].filter(Boolean).join("\n");
    out.push(`  subgraph ${quote(`cluster_${node}`)} {`);
    out.push(
      `    graph${attrs({ label, labelloc: "t", style: nat ? "rounded,dashed" : "rounded", color: "#90a4ae" })};`,
    );
    for (const v of vs) out.push(`    ${quote(v.id)}${attrs(vertexAttrs(v, true))};`);
    out.push("  }");
  }
  for (const v of t.vertices) if (v.external) out.push(`  ${quote(v.id)}${attrs(vertexAttrs(v, false))};`);
  for (const e of t.edges) {
    out.push(`  ${quote(e.a.vertex)} -- ${quote(e.b.vertex)}${
      attrs({
        color: STATE_COLOURS[e.state],
        style: e.state === "unknown" ? "dashed" : undefined,
        label: edgeLabel(e, nowMs),
        taillabel: endLabel(e.a.iface?.addresses),
        headlabel: endLabel(e.b.iface?.addresses),
        tooltip: edgeTooltip(e),
      })
    };`);
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** Renders DOT to SVG with Graphviz's `dot` (`dotBinary`); a clear error when it is missing or fails. */
export async function dotToSvg(dot: string, dotBinary = "dot"): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(dotBinary, { args: ["-Tsvg"], stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        "-o svg needs Graphviz's dot, which is not installed (Debian: apt-get install graphviz, or " +
          "./denow task setup graph); -o dot prints the graph's source",
      );
    }
    throw e;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(dot));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`dot -Tsvg failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  return text;
}
