/**
 * The mesh scenario's network (lab/mesh/model.ts says what is where), made only of network namespaces named
 * `<prefix>…`:
 *
 *   <prefix>inet   the "internet": bridges br-a (segment A) and br-b (segment B) with the router addresses, IPv4 and
 *                  IPv6 forwarding between them, a route to the NAT LAN's IPv6 prefix via the NAT router
 *   <prefix>nat    the NAT router: wan on segment B, bridge lan for the NAT nodes; iptables in this namespace only:
 *                  masquerade (random ports) of the LAN, n3's port range forwarded to n3 with its source port kept,
 *                  hairpin NAT so n4 reaches n3 through the public address
 *   <prefix><node> one per node: eth0 (veth into its segment's bridge) with its addresses and default routes
 *
 * Every node namespace gets /etc/netns/<ns>/hosts (n1's DNS name → its address; `ip netns exec` mounts it over
 * /etc/hosts, so the node agents started that way resolve it) and a resolv.conf naming only 127.0.0.1, so no name
 * lookup leaves the lab. `meshNetworkUp` is idempotent for a fresh prefix; `meshNetworkDown` removes everything,
 * including what is left after a failure.
 */
import { exec, run } from "../../kit/proc.ts";
import { hostsFile, type MeshNode, NAT_ROUTER, onSegment, type Segment, SEGMENTS } from "./model.ts";

/** Namespace names of a mesh. */
export interface MeshNetns {
  inet: string;
  nat: string;
  /** Node name → namespace. */
  nodes: Record<string, string>;
}

/** The namespace names for `prefix` and `nodes`. */
export function meshNetns(prefix: string, nodes: readonly { name: string }[]): MeshNetns {
  return {
    inet: `${prefix}inet`,
    nat: `${prefix}nat`,
    nodes: Object.fromEntries(nodes.map((n) => [n.name, `${prefix}${n.name}`])),
  };
}

/** The namespace and link that carry a node's underlay on the internet side (down = the node is cut off). */
export function uplinkOf(ns: MeshNetns, node: MeshNode): { netns: string; link: string } {
  return { netns: node.segment === "lan" ? ns.nat : ns.inet, link: `v-${node.name}` };
}

async function netnsExists(name: string): Promise<boolean> {
  return await Deno.stat(`/run/netns/${name}`).then(() => true, () => false);
}

async function addNetns(name: string): Promise<void> {
  if (!await netnsExists(name)) await run(["ip", "netns", "add", name]);
  await run(["ip", "-n", name, "link", "set", "lo", "up"]);
}

const ipn = (netns: string, ...args: string[]) => run(["ip", "-n", netns, ...args]);
const inNetns = (netns: string, ...cmd: string[]) => run(["ip", "netns", "exec", netns, ...cmd]);

async function router(netns: string): Promise<void> {
  await inNetns(netns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
}

/** A bridge holding the router addresses of `seg`. */
async function bridge(netns: string, name: string, seg: Segment): Promise<void> {
  await ipn(netns, "link", "add", name, "type", "bridge");
  await ipn(netns, "addr", "add", onSegment(seg, SEGMENTS[seg].gw4), "dev", name);
  await ipn(netns, "addr", "add", onSegment(seg, SEGMENTS[seg].gw6), "dev", name, "nodad");
  await ipn(netns, "link", "set", name, "up");
}

/** A veth from `outer` (named `outerName`, enslaved to `master`) to `inner` (named eth0/wan). */
async function plug(outer: string, outerName: string, master: string, inner: string, innerName: string) {
  await ipn(outer, "link", "add", outerName, "type", "veth", "peer", "name", innerName, "netns", inner);
  await ipn(outer, "link", "set", outerName, "master", master, "up");
  await ipn(inner, "link", "set", innerName, "up");
}

async function addressAndRoutes(netns: string, dev: string, v4: string, v6: string, seg: Segment) {
  await ipn(netns, "addr", "add", onSegment(seg, v4), "dev", dev);
  await ipn(netns, "addr", "add", onSegment(seg, v6), "dev", dev, "nodad");
  await ipn(netns, "route", "add", "default", "via", SEGMENTS[seg].gw4);
  await ipn(netns, "-6", "route", "add", "default", "via", SEGMENTS[seg].gw6);
}

/** The NAT router's rules (iptables inside `nat` only). */
function natRules(forwardTo: MeshNode | undefined): string[][] {
  const lan = SEGMENTS.lan.net4;
  const rules: string[][] = [];
  if (forwardTo?.portRange) {
    const ports = `${forwardTo.portRange.start}:${forwardTo.portRange.end}`;
    rules.push(
      ["-t", "nat", "-A", "PREROUTING", "-d", NAT_ROUTER.v4, "-p", "udp", "--dport", ports, "-j", "DNAT"]
        .concat(["--to-destination", forwardTo.v4]),
      ["-t", "nat", "-A", "POSTROUTING", "-o", "lan", "-s", lan, "-d", lan, "-m", "conntrack", "--ctstate", "DNAT"]
        .concat(["-j", "MASQUERADE"]),
      ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-s", forwardTo.v4, "-p", "udp", "--sport", ports]
        .concat(["-j", "SNAT", "--to-source", NAT_ROUTER.v4]),
    );
  }
  rules.push(["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-s", lan, "-j", "MASQUERADE", "--random-fully"]);
  return rules;
}

/** Writes /etc/netns/<ns>/{hosts,resolv.conf} for a node namespace. */
async function nameFiles(netns: string, nodes: MeshNode[]): Promise<void> {
  const dir = `/etc/netns/${netns}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/hosts`, hostsFile(nodes));
  await Deno.writeTextFile(
    `${dir}/resolv.conf`,
    "# the mesh lab: names resolve from hosts only\nnameserver 127.0.0.1\n",
  );
}

/** Adds one node to a network that is up (used for the initial nodes and by the add-a-node drill). */
export async function addMeshNode(ns: MeshNetns, node: MeshNode, all: MeshNode[]): Promise<void> {
  const netns = ns.nodes[node.name];
  await addNetns(netns);
  await nameFiles(netns, all);
  const up = uplinkOf(ns, node);
  await plug(up.netns, up.link, node.segment === "lan" ? "lan" : `br-${node.segment}`, netns, "eth0");
  await addressAndRoutes(netns, "eth0", node.v4, node.v6, node.segment);
}

/** Builds the whole network for `nodes`. Throws (after removing what it made) on failure. */
export async function meshNetworkUp(ns: MeshNetns, nodes: MeshNode[]): Promise<void> {
  try {
    await addNetns(ns.inet);
    await router(ns.inet);
    await bridge(ns.inet, "br-a", "a");
    await bridge(ns.inet, "br-b", "b");
    await addNetns(ns.nat);
    await router(ns.nat);
    await plug(ns.inet, "v-nat", "br-b", ns.nat, "wan");
    await addressAndRoutes(ns.nat, "wan", NAT_ROUTER.v4, NAT_ROUTER.v6, "b");
    await bridge(ns.nat, "lan", "lan");
    await ipn(ns.inet, "-6", "route", "add", SEGMENTS.lan.net6, "via", NAT_ROUTER.v6);
    for (const r of natRules(nodes.find((n) => n.role === "nat-forward"))) {
      await inNetns(ns.nat, "iptables", "-w", ...r);
    }
    for (const node of nodes) await addMeshNode(ns, node, nodes);
  } catch (e) {
    await meshNetworkDown(ns);
    throw e;
  }
}

/** Kills every process still inside `netns` (by PID) and deletes it with its /etc/netns files. Idempotent. */
export async function removeNetns(netns: string): Promise<void> {
  const inside = await exec(["ip", "netns", "pids", netns]);
  for (const pid of inside.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  if (await netnsExists(netns)) await run(["ip", "netns", "del", netns]);
  await Deno.remove(`/etc/netns/${netns}`, { recursive: true }).catch(() => {});
}

/** Removes the mesh's namespaces (nodes first), killing what still runs inside. Idempotent. */
export async function meshNetworkDown(ns: MeshNetns): Promise<void> {
  for (const netns of [...Object.values(ns.nodes), ns.nat, ns.inet]) await removeNetns(netns);
}

/** Every namespace whose name starts with `prefix` (for sweeping what a killed run left). */
export async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const r = await exec(["ip", "netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(prefix));
}
