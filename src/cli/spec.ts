/**
 * The verbs and flags of the `dn42op` CLI (also `kubectl dn42`), in one table that parsing, `--help` and shell
 * completion are all made from. Flag names and meanings follow kubectl's (`--kubeconfig`, `--context`,
 * `-n/--namespace`, `-A/--all-namespaces`, `-o/--output`).
 */

/** One flag: GNU style (`--name value`, `--name=value`, `-x value`; booleans take no value). */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder of the value in help ("string" when absent). */
  arg?: string;
  usage: string;
  /** Allowed values (checked when parsing, offered by completion). */
  choices?: readonly string[];
  /** What completion offers for the value. */
  complete?: "plan" | "node" | "context" | "namespace" | "file" | "dir";
  default?: string;
}

/** A positional argument of a verb. */
export interface ArgSpec {
  name: string;
  required: boolean;
  complete?: "plan" | "node" | "shell";
}

/** One verb (`keys rotate` is the verb "keys rotate"). */
export interface VerbSpec {
  name: string;
  summary: string;
  description: string;
  args: readonly ArgSpec[];
  flags: Readonly<Record<string, FlagSpec>>;
  examples: readonly string[];
}

/** Flags every verb accepts. */
export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  kubeconfig: {
    type: "string",
    arg: "path",
    complete: "file",
    usage: "Path to the kubeconfig file (default: $KUBECONFIG, a colon-separated list merged as kubectl does, " +
      "else ~/.kube/config, else the pod's service account).",
  },
  context: { type: "string", arg: "name", complete: "context", usage: "The kubeconfig context to use." },
  namespace: {
    type: "string",
    short: "n",
    arg: "name",
    complete: "namespace",
    usage: "Namespace of the objects (default: the context's namespace, else default).",
  },
  help: { type: "boolean", short: "h", usage: "Help for this command." },
};

const ALL_NAMESPACES: FlagSpec = { type: "boolean", short: "A", usage: "Objects of all namespaces." };
const FROM_FILE: FlagSpec = {
  type: "string",
  short: "f",
  arg: "file",
  complete: "file",
  usage: "Read the objects from a file (a kubectl List or multi-document YAML/JSON, '-' for stdin) instead of " +
    "the API server, e.g. `kubectl get wgp,wgi -A -o yaml`.",
};
const AT: FlagSpec = {
  type: "string",
  arg: "time",
  usage: "Compute handshake ages as of this RFC 3339 time instead of now (for saved objects).",
};
const STALE_AFTER: FlagSpec = {
  type: "string",
  arg: "seconds",
  default: "300",
  usage: "A handshake older than this is stale. Status counters are published at most once a minute " +
    "(-wg-status-stats-interval) and a live tunnel re-handshakes every 2 minutes, so less than 180 misreports.",
};

/** The verbs, in help order. */
export const VERBS: readonly VerbSpec[] = [
  {
    name: "status",
    summary: "Tunnels per node and interface: peer, endpoint, latest handshake, traffic, readiness",
    description: "Shows every WireGuardInterface (of PLAN, when given) with one row per peer: the peer's node, its " +
      "endpoint, the age of the latest handshake, bytes received and sent, and the interface's Ready condition " +
      "with its reason. On a terminal, stale handshakes and interfaces that are not Ready are highlighted " +
      "(set NO_COLOR to turn that off); piped output is plain. Reads only the API (the nodes publish these " +
      "figures in status).",
    args: [{ name: "PLAN", required: false, complete: "plan" }],
    flags: {
      "all-namespaces": ALL_NAMESPACES,
      node: { type: "string", arg: "name", complete: "node", usage: "Only interfaces of this node." },
      output: {
        type: "string",
        short: "o",
        arg: "format",
        choices: ["table", "wide", "json", "yaml"],
        default: "table",
        usage: "Output format: table, wide (adds plan, port, addresses, keepalive, public key), json or yaml.",
      },
      filename: FROM_FILE,
      at: AT,
      "stale-after": STALE_AFTER,
    },
    examples: [
      "dn42op status",
      "dn42op status wgp1 --node lax1",
      "kubectl dn42 status -A -o wide",
    ],
  },
  {
    name: "graph",
    summary: "The topology as a Graphviz graph (DOT or SVG)",
    description: "Draws the nodes (NAT nodes dashed, nodes without a reporting agent grey) and one edge per tunnel, " +
      "coloured by its state: green up (both ends Ready, recent handshake), orange stale handshake, red not Ready, " +
      "grey not reported yet. Each end of an edge is labelled with that side's addresses. Without PLAN (or with " +
      "--all) every plan and standalone interface of the namespace is drawn. SVG needs Graphviz's dot " +
      "(Debian package graphviz). The output is deterministic: equal objects give equal bytes.",
    args: [{ name: "PLAN", required: false, complete: "plan" }],
    flags: {
      all: { type: "boolean", usage: "Every plan and interface of the namespace (the default without PLAN)." },
      "all-namespaces": ALL_NAMESPACES,
      output: {
        type: "string",
        short: "o",
        arg: "format",
        choices: ["dot", "svg"],
        default: "dot",
        usage: "Output format: dot (Graphviz source) or svg (rendered with dot).",
      },
      filename: FROM_FILE,
      at: AT,
      "stale-after": STALE_AFTER,
    },
    examples: [
      "dn42op graph wgp1 | dot -Tpng > wgp1.png",
      "dn42op graph --all -o svg > topology.svg",
    ],
  },
  {
    name: "showconf",
    summary: "wg-quick configuration for a plan's node outside the cluster",
    description: "Prints the wg-quick configuration of NODE, a node of PLAN that runs no node agent (a laptop, a " +
      "router): one file per link, as wg-quick needs one interface per file. Addresses with a peer address are " +
      "added by PostUp (wg-quick's Address cannot express them) and Table = off keeps wg-quick from routing the " +
      "peers' allowed IPs (0.0.0.0/0), as the node agents do. The private key is printed only with " +
      "--with-private-key and only when you may read the plan's key Secret; otherwise a comment says where it is.",
    args: [{ name: "PLAN", required: true, complete: "plan" }, { name: "NODE", required: true, complete: "node" }],
    flags: {
      "with-private-key": { type: "boolean", usage: "Include the private key (needs get on the key Secret)." },
      peer: { type: "string", arg: "node", complete: "node", usage: "Only the link to this node." },
      dir: {
        type: "string",
        arg: "dir",
        complete: "dir",
        usage: "Write one <interface>.conf per link into this directory (mode 0600) instead of printing.",
      },
    },
    examples: [
      "dn42op showconf wgp1 lax3 --peer lax1 > /etc/wireguard/wg-lax3-lax1-0.conf",
      "dn42op showconf wgp1 lax3 --with-private-key --dir /etc/wireguard && wg-quick up wg-lax3-lax1-0",
    ],
  },
  {
    name: "keys rotate",
    summary: "Generate a new key for plan-managed node keys; the children follow",
    description: "Replaces the generated private key of NODE (of every node whose key the plan generates, without " +
      "NODE) in the plan's key Secret. The plan controller then gives the peers the new public key and the node " +
      "agents load the new private key, each within its resync period. Keys given inline or by privateKeyRef " +
      "are the user's: rotate those where they are kept.",
    args: [{ name: "PLAN", required: true, complete: "plan" }, { name: "NODE", required: false, complete: "node" }],
    flags: {
      wait: {
        type: "boolean",
        usage: "Wait until the plan publishes the new public keys and every interface of the rotated nodes uses them.",
      },
      timeout: { type: "string", arg: "seconds", default: "300", usage: "How long --wait waits." },
    },
    examples: ["dn42op keys rotate wgp1 lax2 --wait", "dn42op keys rotate wgp1"],
  },
  {
    name: "completion",
    summary: "Shell completion script (bash or zsh)",
    description: "Prints a completion script. bash: `source <(dn42op completion bash)`; zsh: " +
      "`source <(dn42op completion zsh)`. It completes verbs, flags, flag values, plan and node names (the last " +
      "asked from the API server through `dn42op __complete`, which is also kubectl's plugin completion protocol).",
    args: [{ name: "SHELL", required: true, complete: "shell" }],
    flags: {},
    examples: ["source <(dn42op completion bash)", 'dn42op completion zsh > "${fpath[1]}/_dn42op"'],
  },
];

/** The verb spec by name. */
export function verbNamed(name: string): VerbSpec | undefined {
  return VERBS.find((v) => v.name === name);
}

/** Shells `completion` supports. */
export const SHELLS = ["bash", "zsh"] as const;
