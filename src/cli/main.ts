/**
 * `dn42op` (also `kubectl dn42` when installed as kubectl-dn42): the operator's view of dn42op. Verbs, flags and help
 * come from spec.ts; each verb reads objects (API server or `-f` file), computes with the pure modules (model, status,
 * graph, showconf, rotate) and prints. Exit status 0 on success, 1 on any error (kubectl's convention), with
 * `error: …` on stderr; usage errors add where to find help.
 */
import type { WireGuardNetworkPlan } from "../api/wireguard_network_plan.ts";
import { isNotFound, KubeApiError, type KubeClient, type KubeObject } from "../kube/client.ts";
import { wireGuardKeyFromSecretData } from "../api/secret_ref.ts";
import { WireGuardKey } from "../wireguard/key.ts";
import { ANNOTATION_LINK } from "../plan/child.ts";
import { type FlagValues, helpText, parseCommandLine, UsageError } from "./args.ts";
import { complete, completionOutput, completionScript, type CompletionSource } from "./complete.ts";
import { connect, type Connection, contextNames } from "./connect.ts";
import { dotToSvg, renderDot } from "./graph.ts";
import { interfaceViews, topology } from "./model.ts";
import { pendingRotation, planChildren, rotateKeys, rotationTargets } from "./rotate.ts";
import { concatFiles, wgQuickFiles } from "./showconf.ts";
import { fetchObjects, listAll, type Objects, objectsFromText, PLANS, SECRETS } from "./source.ts";
import { renderStatus, type StatusFormat, statusRows } from "./status.ts";
import { SHELLS, type VerbSpec } from "./spec.ts";

/** Where a run writes; tests pass their own. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Highlight tables (a terminal without NO_COLOR). */
  colour: boolean;
  readFile(path: string): Promise<string>;
  now(): number;
}

const str = (f: FlagValues, name: string) => typeof f[name] === "string" ? f[name] as string : undefined;

/** How the program calls itself in help: `kubectl dn42` when installed as the kubectl plugin. */
export function programName(): string {
  const given = Deno.env.get("DN42OP_PROGRAM");
  if (given) return given;
  return /(^|\/)kubectl-dn42$/.test(Deno.execPath()) ? "kubectl dn42" : "dn42op";
}

function positiveInt(flag: string, text: string | undefined, verb: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number of seconds`, verb);
  return n;
}

function nowOf(f: FlagValues, io: Io, verb: string): number {
  const at = str(f, "at");
  if (at === undefined) return io.now();
  const t = Date.parse(at);
  if (Number.isNaN(t)) throw new UsageError(`--at must be an RFC 3339 time, not "${at}"`, verb);
  return t;
}

async function objectsFor(f: FlagValues, io: Io, conn: () => Connection): Promise<{ objs: Objects; ns?: string }> {
  const file = str(f, "filename");
  if (file !== undefined) {
    const text = file === "-" ? await new Response(Deno.stdin.readable).text() : await io.readFile(file);
    const ns = f["all-namespaces"] ? undefined : str(f, "namespace");
    return { objs: objectsFromText(text, ns), ns };
  }
  const c = conn();
  const ns = f["all-namespaces"] ? undefined : c.namespace;
  return { objs: await fetchObjects(c.client, ns), ns };
}

function planNamed(objs: Objects, name: string, ns: string | undefined): WireGuardNetworkPlan {
  const found = objs.plans.filter((p) => p.metadata.name === name);
  if (found.length === 0) {
    throw new Error(`wireguardnetworkplans "${name}" not found${ns ? ` in namespace ${ns}` : ""}`);
  }
  if (found.length > 1) throw new Error(`plan "${name}" exists in several namespaces: give -n`);
  return found[0];
}

async function status(verb: VerbSpec, args: string[], f: FlagValues, io: Io, conn: () => Connection) {
  const now = nowOf(f, io, verb.name);
  const staleAfter = positiveInt("stale-after", str(f, "stale-after"), verb.name);
  const { objs, ns } = await objectsFor(f, io, conn);
  let views = interfaceViews(objs.wgis, objs.plans);
  if (args[0]) {
    const plan = planNamed(objs, args[0], ns);
    views = views.filter((v) => v.plan === args[0] && v.namespace === plan.metadata.namespace);
  }
  const node = str(f, "node");
  if (node) views = views.filter((v) => v.node === node);
  const rows = statusRows(views, now, staleAfter);
  if (!rows.length && (f.output === "table" || f.output === "wide")) {
    io.stderr(`No WireGuardInterfaces found${ns ? ` in namespace ${ns}` : ""}.\n`);
    return;
  }
  const allNamespaces = !!f["all-namespaces"] || new Set(rows.map((r) => r.namespace)).size > 1;
  io.stdout(renderStatus(rows, f.output as StatusFormat, { allNamespaces, colour: io.colour }));
}

async function graph(verb: VerbSpec, args: string[], f: FlagValues, io: Io, conn: () => Connection) {
  const now = nowOf(f, io, verb.name);
  const staleAfter = positiveInt("stale-after", str(f, "stale-after"), verb.name);
  if (args[0] && f.all) throw new UsageError("give PLAN or --all, not both", verb.name);
  const { objs, ns } = await objectsFor(f, io, conn);
  let views = interfaceViews(objs.wgis, objs.plans);
  let plans = objs.plans;
  let title = ns ? `namespace ${ns}` : "all namespaces";
  if (args[0]) {
    const plan = planNamed(objs, args[0], ns);
    views = views.filter((v) => v.plan === args[0] && v.namespace === plan.metadata.namespace);
    plans = [plan];
    title = `plan ${plan.metadata.namespace}/${plan.metadata.name}`;
  }
  const dot = renderDot(topology(views, plans, now, staleAfter), title, now);
  io.stdout(f.output === "svg" ? await dotToSvg(dot) : dot);
}

async function getPlan(c: Connection, name: string): Promise<WireGuardNetworkPlan> {
  try {
    return await c.client.get<WireGuardNetworkPlan>(PLANS, c.namespace, name);
  } catch (e) {
    if (isNotFound(e)) throw new Error(`wireguardnetworkplans "${name}" not found in namespace ${c.namespace}`);
    throw e;
  }
}

async function privateKeyOf(client: KubeClient, ref: { namespace: string; name: string; key: string }) {
  let secret: KubeObject & { data?: Record<string, string> };
  try {
    secret = await client.get(SECRETS, ref.namespace, ref.name);
  } catch (e) {
    if (e instanceof KubeApiError && e.code === 403) {
      throw new Error(
        `--with-private-key: you may not read Secret ${ref.namespace}/${ref.name} (get secrets is forbidden); ` +
          "run without --with-private-key for the rest of the configuration",
      );
    }
    throw e;
  }
  const value = secret.data?.[ref.key];
  if (!value) throw new Error(`Secret ${ref.namespace}/${ref.name} has no key "${ref.key}"`);
  const field = `Secret ${ref.namespace}/${ref.name} key ${ref.key}`;
  return WireGuardKey.parse("private", wireGuardKeyFromSecretData(Uint8Array.fromBase64(value), field), field)
    .toBase64();
}

async function showconf(_verb: VerbSpec, args: string[], f: FlagValues, io: Io, conn: () => Connection) {
  const c = conn();
  const [planName, node] = args;
  const plan = await getPlan(c, planName);
  if (!(plan.spec.nodes ?? []).some((n) => n.nodeName === node)) {
    const known = (plan.spec.nodes ?? []).map((n) => n.nodeName).join(", ");
    throw new Error(`node ${node} is not declared in plan ${c.namespace}/${planName} (nodes: ${known})`);
  }
  const peer = str(f, "peer");
  const links = (await planChildren(c.client, plan))
    .filter((ch) => ch.spec.node === node)
    .map((child) => {
      let peerNode: string | undefined;
      try {
        peerNode = JSON.parse(child.metadata.annotations?.[ANNOTATION_LINK] ?? "").toNode;
      } catch { /* no link annotation */ }
      return { child, peerNode };
    })
    .filter((l) => !peer || l.peerNode === peer);
  if (!links.length) {
    throw new Error(
      `plan ${c.namespace}/${planName} has no interface for node ${node}${peer ? ` linked to ${peer}` : ""} ` +
        "(its links may be held: see the plan's conditions)",
    );
  }
  if (links.some((l) => l.child.status?.nodename)) {
    io.stderr(
      `warning: node ${node} runs a node agent (its interfaces report status); a second copy of this ` +
        "configuration elsewhere would fight it over the same keys and ports\n",
    );
  }
  const refSpec = links[0].child.spec.privateKeySecretRef;
  const keySecret = refSpec
    ? { namespace: refSpec.namespace || c.namespace, name: refSpec.name, key: refSpec.key ?? "privatekey" }
    : undefined;
  const privateKey = f["with-private-key"] && keySecret ? await privateKeyOf(c.client, keySecret) : undefined;
  const files = wgQuickFiles({
    plan: { namespace: c.namespace, name: planName },
    node,
    links,
    ...(privateKey ? { privateKey } : {}),
    ...(keySecret ? { keySecret } : {}),
  });
  const dir = str(f, "dir");
  if (!dir) return io.stdout(concatFiles(files));
  for (const file of files) {
    const path = `${dir.replace(/\/+$/, "")}/${file.fileName}`;
    await Deno.writeTextFile(path, file.content, { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    io.stdout(`wrote ${path}\n`);
  }
}

async function keysRotate(verb: VerbSpec, args: string[], f: FlagValues, io: Io, conn: () => Connection) {
  const timeout = positiveInt("timeout", str(f, "timeout"), verb.name);
  const c = conn();
  const plan = await getPlan(c, args[0]);
  const rotated = await rotateKeys(c.client, plan, rotationTargets(plan, args[1]));
  for (const r of rotated) {
    io.stdout(
      `wireguardnetworkplan/${plan.metadata.name}: node ${r.node}: new key, public key ${r.publicKey}` +
        `${r.oldPublicKey ? ` (was ${r.oldPublicKey})` : ""}\n`,
    );
  }
  if (!f.wait) return;
  const end = io.now() + timeout * 1000;
  let last = "";
  for (;;) {
    const current = await getPlan(c, args[0]);
    const pending = pendingRotation(current, await planChildren(c.client, current), rotated);
    if (!pending.length) return io.stdout(`wireguardnetworkplan/${plan.metadata.name}: every interface follows\n`);
    const text = pending.join(", ");
    if (text !== last) io.stderr(`waiting for: ${text}\n`);
    last = text;
    if (io.now() > end) throw new Error(`timed out after ${timeout} s waiting for: ${text}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function completionSource(f: FlagValues, conn: () => Connection): CompletionSource {
  let objs: Promise<Objects> | undefined;
  const objects = () =>
    objs ??= (() => {
      const c = conn();
      return fetchObjects(c.client, c.namespace);
    })();
  return {
    plans: async () => (await objects()).plans.map((p) => p.metadata.name ?? "").sort(),
    nodes: async (plan) => {
      const o = await objects();
      const nodes = plan
        ? (o.plans.find((p) => p.metadata.name === plan)?.spec.nodes ?? []).map((n) => n.nodeName)
        : [...o.plans.flatMap((p) => (p.spec.nodes ?? []).map((n) => n.nodeName)), ...o.wgis.map((w) => w.spec.node)];
      return [...new Set(nodes)].sort();
    },
    contexts: () => Promise.resolve(contextNames({ kubeconfig: str(f, "kubeconfig") })),
    namespaces: async () =>
      (await listAll(conn().client, { group: "", version: "v1", plural: "namespaces", namespaced: false }))
        .map((n) => n.metadata.name ?? "").sort(),
  };
}

/** Global flags found anywhere on a `__complete` line (for the connection its lookups use). */
function completionFlags(words: readonly string[]): FlagValues {
  const out: FlagValues = {};
  for (let i = 0; i < words.length - 1; i++) {
    const m = words[i].match(/^(?:--(kubeconfig|context|namespace)|-(n))(?:=(.*))?$/);
    if (!m) continue;
    out[m[1] ?? "namespace"] = m[3] ?? words[i + 1];
  }
  return out;
}

const RUN: Record<string, typeof status> = {
  status,
  graph,
  showconf,
  "keys rotate": keysRotate,
  completion: (_verb, args, _f, io) => {
    const shell = args[0] as typeof SHELLS[number];
    if (!SHELLS.includes(shell)) throw new UsageError(`completion supports ${SHELLS.join(" and ")}`, "completion");
    io.stdout(completionScript(shell, programName()));
    return Promise.resolve();
  },
};

/** Runs the CLI with `argv`; returns the exit status. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const program = programName();
  try {
    const cmd = parseCommandLine(argv);
    if (cmd.kind === "help") {
      io.stdout(helpText(program, cmd.verb));
      return 0;
    }
    if (cmd.kind === "complete") {
      const flags = completionFlags(cmd.words);
      const memo: { c?: Connection } = {};
      const conn = () => memo.c ??= connect(flags);
      io.stdout(completionOutput(await complete(cmd.words, completionSource(flags, conn))));
      return 0;
    }
    const f = cmd.flags;
    const memo: { c?: Connection } = {};
    const conn = () =>
      memo.c ??= connect({
        kubeconfig: str(f, "kubeconfig"),
        context: str(f, "context"),
        namespace: str(f, "namespace"),
      });
    try {
      await RUN[cmd.verb.name](cmd.verb, cmd.args, f, io, conn);
    } finally {
      memo.c?.client.close();
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      const where = e.verb ? `${program} ${e.verb} --help` : `${program} --help`;
      io.stderr(`error: ${e.message}\nSee '${where}' for usage.\n`);
      return 1;
    }
    io.stderr(`error: ${(e as Error).message ?? e}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const encoder = new TextEncoder();
  const code = await run(Deno.args, {
    stdout: (t) => Deno.stdout.writeSync(encoder.encode(t)),
    stderr: (t) => Deno.stderr.writeSync(encoder.encode(t)),
    colour: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"),
    readFile: (p) => Deno.readTextFile(p),
    now: () => Date.now(),
  });
  Deno.exit(code);
}
