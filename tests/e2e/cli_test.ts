/**
 * End to end for the CLI, as an operator runs it (the real program through programCommand, against the real API
 * server), on a fresh lab instance (lab/instance.ts, names `dn42op-cli-<id>-…`; a running lab is never touched):
 * a plan "mesh" with lax1 (underlay, in container agent1), lax2 (NAT, in agent2) and lax3, a node outside the
 * cluster played by a fresh network namespace wired to agentx's underlay.
 * - status and graph show the live tunnel (peer, handshake, Ready) and the lab's topology picture is drawn;
 * - installed as cli:install does, `kubectl dn42` runs it and kubectl's plugin completion asks it;
 * - showconf's wg-quick file, applied with wg-quick (wg, ip and wireguard-go) in the outside namespace, joins the
 *   plan's mesh: it pings lax1 through the tunnel; without read access to the key Secret --with-private-key is
 *   refused and the rest is still printed;
 * - keys rotate gives lax2 a new key, the children follow (lax1's peer, lax2's device) and the tunnel works again;
 *   rotating the outside node's key and re-applying showconf's new file restores its tunnel too.
 */
import assert from "node:assert/strict";
import { exec } from "../../kit/proc.ts";
import { freshInstance, instanceDown, instanceUp, sweepInstances } from "../../lab/instance.ts";
import { writeTopologyPicture } from "../../lab/picture.ts";
import { inNetnsOf } from "../../lab/scenario.ts";
import { wrapperScripts } from "../../scripts/cli_install.ts";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { programCommand } from "../../scripts/programs.ts";
import { kubectl, mintIdentity, withNamespace } from "../../kit/cluster.ts";
import { ensureContainersProfile } from "../lab/podman_fixture.ts";
import { until } from "../../kit/wait.ts";

await ensureContainersProfile(); // before caps.ts probes for podman
const { skipUnless } = await import("../helpers/caps.ts");

const PREFIX = "dn42op-cli-";
const CONVERGE_MS = 240_000;

/** The plan of this test, in `namespace`, placed in the instance's containers. */
function meshPlan(namespace: string, agent1: string, agent2: string) {
  const p2p = (local: string, peer: string) => [{ family: "inet", local, peer, prefixlen: 32 }];
  return {
    apiVersion: "networking.dn42.io/v1alpha1",
    kind: "WireGuardNetworkPlan",
    metadata: { name: "mesh", namespace },
    spec: {
      defaultPortRange: { start: 51900, end: 51919 },
      nodes: [
        {
          nodeName: "lax1",
          underlay: { hostname: "192.168.65.3", portRange: { start: 52900, end: 52919 } },
          moveToContainer: true,
          container: { docker: { name: agent1 } },
        },
        { nodeName: "lax2", moveToContainer: true, container: { docker: { name: agent2 } } },
        { nodeName: "lax3" },
      ],
      links: [
        {
          fromNode: "lax1",
          toNodes: [
            { nodeName: "lax2", addresses: p2p("10.7.0.1", "10.7.0.2") },
            { nodeName: "lax3", addresses: p2p("10.7.1.1", "10.7.1.3") },
          ],
        },
        { fromNode: "lax2", toNodes: [{ nodeName: "lax1", addresses: p2p("10.7.0.2", "10.7.0.1") }] },
        { fromNode: "lax3", toNodes: [{ nodeName: "lax1", addresses: p2p("10.7.1.3", "10.7.1.1") }] },
      ],
    },
  };
}

/** Runs the dn42op program. */
async function dn42op(args: string[], kubeconfig: string, namespace: string) {
  const cmd = programCommand("dn42op", [...args, `--kubeconfig=${kubeconfig}`, "-n", namespace]);
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function ok(args: string[], kubeconfig: string, namespace: string): Promise<string> {
  const r = await dn42op(args, kubeconfig, namespace);
  assert.equal(r.code, 0, `dn42op ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const pings = (r: { code: number }) => r.code === 0;

Deno.test({
  name: "e2e cli: status and graph of a live plan; showconf joins an outside node; keys rotate and the children follow",
  ignore: skipUnless("root", "wireguard-go", "cluster", "podman", "graphviz"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const swept = await sweepInstances(PREFIX);
    if (swept.length) console.log(`swept stale leftovers: ${swept.join(", ")}`);
    await withNamespace(async (k) => {
      const o = freshInstance(PREFIX, k.namespace, k.kubeconfigPath, k.server);
      const ns = k.namespace;
      const kc = k.kubeconfigPath;
      const outside = `${o.topology.agentxNetns.replace(/-ax$/, "")}-out`;
      const ifname = `dn42cli${crypto.getRandomValues(new Uint8Array(3)).toHex()}`;
      const confDir = await Deno.makeTempDir({ prefix: PREFIX });
      const conf = `${confDir}/${ifname}.conf`;
      const outsideExec = (...cmd: string[]) => exec(["ip", "netns", "exec", outside, ...cmd]);
      try {
        const inst = await instanceUp(o);
        // The outside node: its own namespace on a veth to agentx, routed to the underlay 192.168.65.0/24.
        await exec(["ip", "netns", "add", outside]);
        await exec([
          "ip",
          "-n",
          outside,
          "link",
          "add",
          "eth0",
          "type",
          "veth",
          "peer",
          "name",
          "cliout",
          "netns",
          o.topology.agentxNetns,
        ]);
        await exec(["ip", "-n", o.topology.agentxNetns, "addr", "add", "192.168.66.1/24", "dev", "cliout"]);
        await exec(["ip", "-n", o.topology.agentxNetns, "link", "set", "cliout", "up"]);
        for (
          const args of [["addr", "add", "192.168.66.2/24", "dev", "eth0"], ["link", "set", "eth0", "up"], [
            "link",
            "set",
            "lo",
            "up",
          ], ["route", "add", "192.168.65.0/24", "via", "192.168.66.1"]]
        ) {
          const r = await exec(["ip", "-n", outside, ...args]);
          assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
        }
        const { agent1, agent2 } = o.names.containers;
        await kubectl(["apply", "-f", "-"], { stdin: JSON.stringify(meshPlan(ns, agent1, agent2)) });
        const ping = async (container: "agent1" | "agent2", to: string) =>
          pings(await inNetnsOf(await inst.pid(container), ["ping", "-c", "1", "-W", "2", to]));

        await t.step("status and graph show the live tunnel lax1–lax2; the topology picture is drawn", async () => {
          await until("lax1 → lax2 through the tunnel", () => ping("agent1", "10.7.0.2"), CONVERGE_MS, 1000);
          const rows = await until(
            "status shows the handshake on both ends",
            async () => {
              const s = JSON.parse(await ok(["status", "mesh", "-o", "json"], kc, ns));
              const live = s.items.filter((r: { peer?: { freshness: string }; ready: string }) =>
                r.ready === "True" && r.peer?.freshness === "fresh"
              );
              return live.length === 2 && s.items;
            },
            120_000,
            2000,
          );
          const names = rows.map((r: { node: string; peer?: { name?: string } }) => `${r.node}→${r.peer?.name}`);
          assert.deepEqual(names.sort(), ["lax1→lax2", "lax1→lax3", "lax2→lax1", "lax3→lax1"]);
          const table = await ok(["status", "--node", "lax2"], kc, ns);
          assert.match(table, /^NAME\s+NODE\s+INTERFACE\s+PEER\s+ENDPOINT\s+HANDSHAKE\s+RX\s+TX\s+READY\s+REASON\n/);
          assert.match(
            table,
            /wg-lax2-lax1-0\s+lax2\s+wg-lax2-lax1-0\s+lax1\s+192\.168\.65\.3:52900\s+\d+[sm]\S*\s+\S+ \S+\s+\S+ \S+\s+True\s*$/m,
          );
          const dot = await ok(["graph", "mesh"], kc, ns);
          assert.match(dot, new RegExp(`"lax1/${agent1}" -- "lax2/${agent2}" \\[color="#2e7d32"`), dot);
          assert.match(dot, /"lax3" \[label="lax3\\nNAT\\nno agent reports"/);
          // lax1–lax3 has no handshake yet (lax3 joins below): draw at once instead of waiting for it.
          const svg = await Deno.readTextFile(await writeTopologyPicture(kc, ns, o.topology.stateDir, 0));
          assert.equal(svg.match(/<g id="edge\d+" class="edge">/g)?.length, 2);
          assert.match(svg, /stroke="#2e7d32"/, "the live tunnel is drawn green");
        });

        await t.step("as a kubectl plugin: kubectl dn42 runs the CLI, kubectl completes its arguments", async () => {
          const bin = await Deno.makeTempDir({ prefix: PREFIX });
          try {
            for (const [name, text] of Object.entries(wrapperScripts(programCommand("dn42op")))) {
              await Deno.writeTextFile(`${bin}/${name}`, text, { mode: 0o755 });
            }
            const env = { PATH: `${bin}:${Deno.env.get("PATH")}`, KUBECONFIG: kc, NO_COLOR: "1" };
            const plugin = await exec([BINARIES.kubectl, "dn42", "status", "mesh", "-n", ns], { env });
            assert.equal(plugin.code, 0, plugin.stderr);
            assert.match(plugin.stdout, /^wg-lax1-lax2-0\s+lax1\s+wg-lax1-lax2-0\s+lax2\s/m);
            const help = await exec([BINARIES.kubectl, "dn42", "--help"], { env });
            assert.match(help.stdout, /^ {2}kubectl dn42 COMMAND \[ARGS\] \[flags\]$/m);
            const completion = await exec([BINARIES.kubectl, "__complete", "dn42", "showconf", "-n", ns, ""], { env });
            assert.match(completion.stdout, /^mesh\n/m, completion.stdout + completion.stderr);
          } finally {
            await Deno.remove(bin, { recursive: true });
          }
        });

        await t.step(
          "showconf without read access to the key Secret: the key is refused, the rest printed",
          async () => {
            const viewer = await mintIdentity(`viewer-${crypto.randomUUID().slice(0, 6)}`);
            await kubectl([
              "-n",
              ns,
              "create",
              "role",
              "wg-viewer",
              "--verb=get,list",
              "--resource=wireguardnetworkplans.networking.dn42.io,wireguardinterfaces.networking.dn42.io",
            ]);
            await kubectl([
              "-n",
              ns,
              "create",
              "rolebinding",
              "wg-viewer",
              "--role=wg-viewer",
              `--user=${viewer.user}`,
            ]);
            const refused = await dn42op(["showconf", "mesh", "lax3", "--with-private-key"], viewer.kubeconfigPath, ns);
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, /--with-private-key: you may not read Secret \S+\/mesh-wgplan-keys/);
            assert.doesNotMatch(refused.stdout, /PrivateKey =/);
            const plain = await ok(["showconf", "mesh", "lax3"], viewer.kubeconfigPath, ns);
            assert.match(plain, /^# PrivateKey: data\["lax3"\] of Secret \S+\/mesh-wgplan-keys/m);
            assert.match(plain, /^Endpoint = 192\.168\.65\.3:52901$/m);
          },
        );

        const joinOutside = async () => {
          await Deno.writeTextFile(conf, await ok(["showconf", "mesh", "lax3", "--with-private-key"], kc, ns), {
            mode: 0o600,
          });
          const up = await outsideExec("wg-quick", "up", conf);
          assert.equal(up.code, 0, up.stderr);
          await until(
            "lax3 (outside) → lax1 through the tunnel",
            async () => pings(await outsideExec("ping", "-c", "1", "-W", "2", "10.7.1.1")),
            120_000,
            1000,
          );
        };

        await t.step("showconf's wg-quick file joins the outside node lax3 to the mesh: it pings lax1", async () => {
          await joinOutside();
          assert.ok(await ping("agent1", "10.7.1.3"), "lax1 → lax3 too");
        });

        await t.step(
          "keys rotate lax2: a new key, lax1's peer and lax2's device follow, the tunnel works again",
          async () => {
            const before = await ok(["status", "mesh", "-o", "json", "--node", "lax1"], kc, ns);
            const out = await ok(["keys", "rotate", "mesh", "lax2", "--wait", "--timeout", "240"], kc, ns);
            const key = out.match(/node lax2: new key, public key (\S+) \(was (\S+)\)/);
            assert.ok(key, out);
            assert.notEqual(key[1], key[2]);
            assert.ok(before.includes(key[2]), "the old key was lax1's peer");
            assert.match(out, /every interface follows/);
            const plan = JSON.parse((await kubectl(["-n", ns, "get", "wgp", "mesh", "-o", "json"])).stdout);
            assert.equal(plan.status.nodes.find((n: { nodeName: string }) => n.nodeName === "lax2").publicKey, key[1]);
            await until("lax1 → lax2 with the new key", () => ping("agent1", "10.7.0.2"), 120_000, 1000);
            const refused = await dn42op(["keys", "rotate", "mesh", "lax9"], kc, ns);
            assert.equal(refused.code, 1);
            assert.match(refused.stderr, /node lax9 is not declared in plan/);
          },
        );

        await t.step(
          "keys rotate lax3 (outside): its old configuration stops working, showconf's new one joins",
          async () => {
            await ok(["keys", "rotate", "mesh", "lax3", "--wait", "--timeout", "240"], kc, ns);
            await until(
              "the old key no longer reaches lax1",
              async () => !pings(await outsideExec("ping", "-c", "1", "-W", "1", "10.7.1.1")),
              240_000,
              2000,
            );
            await outsideExec("wg-quick", "down", conf);
            await joinOutside();
          },
        );
      } finally {
        await outsideExec("wg-quick", "down", conf);
        const pids = await exec(["ip", "netns", "pids", outside]);
        for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
          try {
            Deno.kill(Number(pid), "SIGKILL");
          } catch { /* gone */ }
        }
        await exec(["ip", "netns", "del", outside]);
        await Deno.remove(confDir, { recursive: true });
        await instanceDown(o);
      }
    }, { prefix: PREFIX });
  },
});
