/**
 * deploy/monitoring/: the Grafana dashboard and the PrometheusRule are well-formed, every PromQL expression parses
 * with Prometheus's own grammar (@prometheus-io/lezer-promql), and every metric they query is one our programs
 * export (names taken from the programs' metric registrations, not from a list kept here).
 */
import assert from "node:assert/strict";
import { parser } from "@prometheus-io/lezer-promql";
import { Registry } from "prom-client";
import { parse } from "yaml";
import { watchReadiness } from "../../src/controllers/readiness_metrics.ts";
import { PeerMetrics } from "../../src/controllers/wg/peer_metrics.ts";
import { ControllerMetrics } from "../../src/kube/metrics.ts";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { DEPLOY_DIR, type Obj, renderBase } from "../../kit/deploy.ts";

const DIR = `${DEPLOY_DIR}/monitoring`;

/** Every metric name our programs register (histograms also as _bucket/_sum/_count). */
function exportedNames(): Set<string> {
  const registry = new Registry();
  const metrics = new ControllerMetrics(registry, { processMetrics: false });
  metrics.watchInformers([]);
  new PeerMetrics(registry, "n");
  watchReadiness(registry, "K", { list: () => [] });
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    names.add(m.name);
    for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
  }
  return names;
}

/** The metric names an expression selects; throws when it does not parse. */
function selectedMetrics(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const errors: number[] = [];
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(n.from);
      if (n.name === "Identifier" && n.node.parent?.name === "VectorSelector") names.push(expr.slice(n.from, n.to));
    },
  });
  if (errors.length) throw new Error(`PromQL syntax error at offset ${errors[0]}: ${expr}`);
  return names;
}

function checkExpr(expr: string, known: Set<string>, where: string): void {
  let names: string[];
  try {
    names = selectedMetrics(expr);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  assert.ok(names.length > 0, `${where}: selects no metric`);
  for (const n of names) assert.ok(known.has(n), `${where}: metric ${n} is not exported by dn42op`);
}

Deno.test("monitoring: the PromQL check itself rejects bad syntax and finds the selected metrics", () => {
  assert.throws(() => selectedMetrics("sum(rate(x[5m])"), /syntax error/);
  assert.throws(() => selectedMetrics('x{a="b"} ==== 1'), /syntax error/);
  assert.deepEqual(selectedMetrics('count(a{n=~"$node"} > 1 and b) or vector(0)'), ["a", "b"]);
});

Deno.test("monitoring: dashboard.json is a Grafana dashboard whose queries parse and use exported metrics", async () => {
  const known = exportedNames();
  const d = JSON.parse(await Deno.readTextFile(`${DIR}/dashboard.json`));
  assert.equal(d.uid, "dn42op-tunnels");
  assert.ok(d.title && Array.isArray(d.panels) && d.panels.length >= 6);
  assert.deepEqual(d.templating.list.map((v: Obj) => v.name), ["datasource", "node"]);
  const ids = d.panels.map((p: Obj) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  const cells = new Set<string>();
  for (const p of d.panels) {
    assert.ok(p.title && p.type && p.gridPos, `panel ${p.id} has title, type and gridPos`);
    assert.equal(p.datasource.uid, "${datasource}", `panel ${p.id} uses the dashboard's data source variable`);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `panel ${p.id} overlaps another at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} fits the 24-column grid`);
    assert.ok(p.targets.length > 0);
    for (const t of p.targets) checkExpr(t.expr, known, `panel "${p.title}"`);
  }
  checkExpr(d.templating.list[1].query.query.replace(/^label_values\((\w+), \w+\)$/, "$1"), known, "variable node");
});

Deno.test("monitoring: prometheusrule.yaml alerts on stale keepalive tunnels and on objects not Ready for 5 min", async () => {
  const known = exportedNames();
  const rule = parse(await Deno.readTextFile(`${DIR}/prometheusrule.yaml`));
  assert.equal(rule.apiVersion, "monitoring.coreos.com/v1");
  assert.equal(rule.kind, "PrometheusRule");
  const rules: Obj[] = rule.spec.groups.flatMap((g: Obj) => g.rules);
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, "alert names are unique");
  for (const r of rules) {
    checkExpr(r.expr, known, `alert ${r.alert}`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, `alert ${r.alert}: for`);
    assert.ok(r.labels?.severity, `alert ${r.alert}: severity`);
    assert.ok(r.annotations?.summary && r.annotations?.description, `alert ${r.alert}: summary and description`);
  }
  const stale = rules.find((r) => r.alert === "WireGuardHandshakeStale");
  assert.match(stale.expr, /time\(\) - wireguard_latest_handshake_seconds > 180\)/);
  assert.match(stale.expr, /and dn42op_wireguard_persistent_keepalive_seconds > 0/);
  const notReady = rules.find((r) => r.alert === "Dn42opObjectNotReady");
  assert.equal(notReady.expr.trim(), "dn42op_object_ready == 0");
  assert.equal(notReady.for, "5m");
});

Deno.test({
  name: "monitoring: the kustomization renders the PodMonitor, the rule and the dashboard ConfigMap",
  ignore: !(await Deno.stat(BINARIES.kubectl).then(() => true, () => false)),
  fn: async () => {
    const objs = await renderBase(DIR);
    assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      "ConfigMap/dn42op-grafana-dashboard",
      "PodMonitor/dn42op",
      "PrometheusRule/dn42op",
    ]);
    for (const o of objs) assert.equal(o.metadata.namespace, "dn42op-system");
    const cm = objs.find((o) => o.kind === "ConfigMap");
    assert.equal(cm.metadata.labels.grafana_dashboard, "1");
    assert.equal(cm.data["dashboard.json"], await Deno.readTextFile(`${DIR}/dashboard.json`));
    const pm = objs.find((o) => o.kind === "PodMonitor");
    assert.equal(pm.spec.podMetricsEndpoints[0].port, "metrics");
    assert.equal(pm.spec.podMetricsEndpoints[0].honorLabels, true);
    // It selects exactly the workloads that publish a port "metrics" (the node agents listen on the node's loopback).
    const base = await renderBase();
    const selected = pm.spec.selector.matchExpressions[0].values;
    const published = base.filter((o) => o.kind === "DaemonSet" || o.kind === "Deployment")
      .filter((o) => o.spec.template.spec.containers[0].ports?.some((p: Obj) => p.name === "metrics"))
      .map((o) => o.spec.template.metadata.labels["app.kubernetes.io/name"]);
    assert.deepEqual(selected, published);
    assert.deepEqual(published, ["dn42op-wgplan-controller"]);
  },
});
