/**
 * `dn42op showconf` (pure part): wg-quick configurations for a plan's node that runs outside the cluster, one file
 * per link (wg-quick configures one interface per file; each link is its own interface with its own port), made
 * from the WireGuardInterfaces the plan generated for that node — the same specs a node agent would apply.
 *
 * - `Table = off`: plan peers allow 0.0.0.0/0 and ::/0 (routing is left to the addresses and the user's routing
 *   daemon); wg-quick would otherwise install default routes through the tunnel, which the node agents never do.
 * - Addresses with a peer address (`10.4.0.1 peer 10.4.0.2/32`) go into `PostUp = ip address add … dev %i`: wg-quick's
 *   `Address` takes plain prefixes only. Plain addresses stay in `Address`.
 * - The private key is written only when given; otherwise a comment says which Secret holds it.
 */
import type { WireGuardAddress } from "../api/common.ts";
import type { WireGuardInterface } from "../api/wireguard_interface.ts";

/** One wg-quick file. */
export interface WgQuickFile {
  /** Interface name (wg-quick takes it from the file name). */
  interfaceName: string;
  fileName: string;
  content: string;
}

/** What the files are made from. */
export interface ShowconfInput {
  plan: { namespace: string; name: string };
  node: string;
  /** The plan's children on `node`, with the peer node of each (from the link annotation). */
  links: { child: WireGuardInterface; peerNode?: string }[];
  /** The private key (base64), only when it may and should be printed. */
  privateKey?: string;
  /** Where the key is kept, for the comment when it is not printed. */
  keySecret?: { namespace: string; name: string; key: string };
}

function plainAddress(a: WireGuardAddress): string {
  return `${a.local}/${a.prefixlen}`;
}

function interfaceSection(child: WireGuardInterface, input: ShowconfInput): string[] {
  const spec = child.spec;
  const lines = ["[Interface]"];
  if (input.privateKey) {
    lines.push(`PrivateKey = ${input.privateKey}`);
  } else {
    const s = input.keySecret;
    lines.push(
      s
        ? `# PrivateKey: data["${s.key}"] of Secret ${s.namespace}/${s.name} (rerun with --with-private-key)`
        : "# PrivateKey: not shown (rerun with --with-private-key)",
    );
  }
  if (spec.listenPort) lines.push(`ListenPort = ${spec.listenPort}`);
  if (spec.mtu) lines.push(`MTU = ${spec.mtu}`);
  lines.push("Table = off");
  const addresses = spec.addresses ?? [];
  const plain = addresses.filter((a) => !a.peer).map(plainAddress);
  if (plain.length) lines.push(`Address = ${plain.join(", ")}`);
  for (const a of addresses.filter((a) => a.peer)) {
    lines.push(`PostUp = ip address add ${a.local} peer ${a.peer}/${a.prefixlen} dev %i`);
  }
  return lines;
}

function peerSections(child: WireGuardInterface, peerNode: string | undefined): string[] {
  return (child.spec.peers ?? []).flatMap((p) => [
    "",
    "[Peer]",
    ...(peerNode ? [`# ${peerNode}`] : []),
    `PublicKey = ${p.publicKey}`,
    ...(p.allowedIPs?.length ? [`AllowedIPs = ${p.allowedIPs.join(", ")}`] : []),
    ...(p.endpoint ? [`Endpoint = ${p.endpoint}`] : []),
    ...(p.persistentKeepalive ? [`PersistentKeepalive = ${p.persistentKeepalive}`] : []),
  ]);
}

/** The wg-quick files of a node, sorted by interface name. */
export function wgQuickFiles(input: ShowconfInput): WgQuickFile[] {
  const { namespace, name } = input.plan;
  return [...input.links]
    .sort((a, b) => a.child.spec.interfaceName < b.child.spec.interfaceName ? -1 : 1)
    .map(({ child, peerNode }) => {
      const iface = child.spec.interfaceName;
      const content = [
        `# node ${input.node} of plan ${namespace}/${name}${peerNode ? `, link to ${peerNode}` : ""} ` +
        `(WireGuardInterface ${child.metadata.namespace}/${child.metadata.name}), made by dn42op showconf.`,
        `# Save as ${iface}.conf (wg-quick names the interface after the file) and run: wg-quick up ./${iface}.conf`,
        ...interfaceSection(child, input),
        ...peerSections(child, peerNode),
      ].join("\n") + "\n";
      return { interfaceName: iface, fileName: `${iface}.conf`, content };
    });
}

/** Several files on one stream: each preceded by a `# ==> NAME <==` line (as `head` prints several files). */
export function concatFiles(files: readonly WgQuickFile[]): string {
  if (files.length === 1) return files[0].content;
  return files.map((f) => `# ==> ${f.fileName} <==\n${f.content}`).join("\n");
}
