/**
 * The reference README's scenario (docs/reference.md#the-examples): which examples the lab applies, and the one thing the
 * README leaves to the user (links v1 and v2 inside agent1 for the bridge example). The lab applies the example
 * files unchanged; tests and benchmarks run the same scenario under their own names (Kubernetes namespace,
 * container names), for which {@link renderExample} rewrites exactly those fields.
 */
import { parseAllDocuments, stringify } from "yaml";
import { BINARIES } from "../scripts/controlplane/build.ts";
import { grantAlias } from "../src/node/adoption.ts";
import { exec, type ExecResult } from "../kit/proc.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The examples the lab applies, in order (repository-relative paths). */
export const LAB_EXAMPLES = [
  "example/wgp/wgp1.yaml",
  "example/wgi/lax1-wg1.yaml",
  "example/wgi/lax1-wg2.yaml",
  "example/nl/veth.yaml",
  "example/nl/vxlan.yaml",
  "example/nl/nl2-bridge.yaml",
  "example/nl/nl1-dummy.yaml",
] as const;

/** The examples' own names: the container names they place interfaces in. */
export type ExampleContainer = "agent1" | "agent2";

/** Names a scenario instance runs under. */
export interface ScenarioNames {
  /** Kubernetes namespace of every object (the examples use `default`). */
  namespace: string;
  /** Real container name for each of the examples' container names (a netns name with `placement: "netns"`). */
  containers: Record<ExampleContainer, string>;
  /**
   * How the examples' containers are found: by Docker container name (the default, as the examples say), or as
   * named network namespaces (`container.netns.name`) where there is no container runtime (the kernel lab's guest).
   */
  placement?: "docker" | "netns";
}

/** The lab's names: exactly the examples' own. */
export const LAB_NAMES: ScenarioNames = { namespace: "default", containers: { agent1: "agent1", agent2: "agent2" } };

/** Whether `names` are the examples' own (the files then apply unchanged). */
export function isExampleNames(names: ScenarioNames): boolean {
  return names.namespace === "default" && names.containers.agent1 === "agent1" &&
    names.containers.agent2 === "agent2" && (names.placement ?? "docker") === "docker";
}

type Node = Record<string, unknown>;
const isObject = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** Rewrites, anywhere in `v`, `container.docker.name` (or the whole `docker` block) and secret-reference namespaces. */
function rewrite(v: unknown, names: ScenarioNames): void {
  if (Array.isArray(v)) return v.forEach((x) => rewrite(x, names));
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (k === "docker" && isObject(x) && typeof x.name === "string" && x.name in names.containers) {
      const name = names.containers[x.name as ExampleContainer];
      if (names.placement === "netns") {
        delete v.docker;
        v.netns = { name };
      } else {
        x.name = name;
      }
    } else if (/SecretRef$|^privateKeyRef$/.test(k) && isObject(x) && x.namespace !== undefined) {
      x.namespace = names.namespace;
    } else {
      rewrite(x, names);
    }
  }
}

/**
 * An example's YAML under other names: every object's `metadata.namespace` (set also where the example leaves it
 * to kubectl's current namespace), secret references' namespaces and container names (or, for `placement:
 * "netns"`, `container.docker` replaced by `container.netns.name`). Nothing else changes.
 */
export function renderExample(yamlText: string, names: ScenarioNames): string {
  return parseAllDocuments(yamlText).map((doc) => doc.toJS() as Node | null).filter((o): o is Node => !!o).map(
    (obj) => {
      const metadata = (obj.metadata ??= {}) as Node;
      metadata.namespace = names.namespace;
      rewrite(obj.spec, names);
      return stringify(obj);
    },
  ).join("---\n");
}

/** Runs the control plane's kubectl with `kubeconfig`; `stdin` is fed when given. */
export function kubectl(kubeconfig: string, args: string[], stdin?: string): Promise<ExecResult> {
  return exec([BINARIES.kubectl, `--kubeconfig=${kubeconfig}`, ...args], { stdin });
}

/**
 * One `kubectl apply` of `files` in order: the files themselves for the examples' own names (so the lab applies the
 * reference manifests unchanged, as its README does), otherwise their rendered text. Throws with kubectl's message.
 */
export async function applyExamples(kubeconfig: string, files: readonly string[], names: ScenarioNames): Promise<void> {
  const r = isExampleNames(names)
    ? await kubectl(kubeconfig, ["apply", ...files.flatMap((f) => ["-f", `${ROOT}${f}`])])
    : await kubectl(kubeconfig, ["apply", "-f", "-"], await renderExamples(files, names));
  if (r.code !== 0) throw new Error(`kubectl apply -f ${files.join(" -f ")}: ${r.stderr.trim()}`);
}

/** `kubectl delete` of examples (missing objects are fine); with `wait`, returns once the objects are gone. */
export async function deleteExamples(
  kubeconfig: string,
  files: readonly string[],
  names: ScenarioNames,
  wait = true,
): Promise<void> {
  const text = await renderExamples(files, names);
  const r = await kubectl(kubeconfig, ["delete", "--ignore-not-found", `--wait=${wait}`, "-f", "-"], text);
  if (r.code !== 0) throw new Error(`kubectl delete -f ${files.join(" -f ")}: ${r.stderr.trim()}`);
}

async function renderExamples(files: readonly string[], names: ScenarioNames): Promise<string> {
  const texts = await Promise.all(files.map((f) => Deno.readTextFile(`${ROOT}${f}`)));
  return texts.map((t) => renderExample(t, names)).join("---\n");
}

/** Runs a command in the network namespace of the process `pid` (a container's init). */
export function inNetnsOf(pid: number, cmd: string[]): Promise<ExecResult> {
  return exec(["nsenter", "-t", String(pid), "-n", ...cmd]);
}

/** The bridge example's object (example/nl/nl2-bridge.yaml), whose slaves the lab makes. */
export const BRIDGE_EXAMPLE_OBJECT = "lax1-nl2-bridge";

/** The bridge example's slaves, made by the lab in agent1. */
export const BRIDGE_SLAVES = ["v1", "v2"] as const;

/** The alias with which the lab, as the node's administrator, grants the slaves to the bridge example's object. */
export function bridgeSlaveGrant(namespace: string): string {
  return grantAlias(`${namespace}/${BRIDGE_EXAMPLE_OBJECT}`);
}

/** Runs a command in agent1's network namespace (a container's, or a named one in the kernel lab's guest). */
type InAgent1 = (cmd: string[]) => Promise<{ code: number; stderr: string }>;

/**
 * The bridge example's precondition (docs/reference.md#the-examples: links v1 and v2 must already exist in agent1,
 * and no example creates them): a veth pair v1/v2 inside agent1, made there directly (idempotent).
 * The lab made them, not dn42op, so the agent would refuse to enslave them; as the node's administrator the lab marks
 * them for the bridge example's object with the grant alias (src/node/adoption.ts), so the example applies unchanged.
 */
export async function ensureBridgeSlaves(inAgent1: InAgent1, namespace: string): Promise<void> {
  const must = async (what: string, cmd: string[]) => {
    const r = await inAgent1(cmd);
    if (r.code !== 0) throw new Error(`${what} in agent1: ${r.stderr.trim()}`);
  };
  if ((await inAgent1(["ip", "link", "show", "dev", "v1"])).code !== 0) {
    await inAgent1(["ip", "link", "del", "dev", "v2"]); // a v2 left without its v1
    await must("ip link add v1", ["ip", "link", "add", "v1", "type", "veth", "peer", "name", "v2"]);
  }
  const grant = bridgeSlaveGrant(namespace);
  for (const v of BRIDGE_SLAVES) await must(`grant ${v}`, ["ip", "link", "set", v, "alias", grant]);
}
