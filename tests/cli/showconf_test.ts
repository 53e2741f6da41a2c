/** showconf's wg-quick files on fixed objects (golden), and what wg-quick itself makes of them (`wg-quick strip`). */
import assert from "node:assert/strict";
import { concatFiles, wgQuickFiles } from "../../src/cli/showconf.ts";
import { objectsFromText } from "../../src/cli/source.ts";
import { FIXTURES, golden } from "./support.ts";

async function childrenOf(file: string, node: string) {
  const { wgis } = objectsFromText(await Deno.readTextFile(`${FIXTURES}${file}`));
  return wgis.filter((w) => w.spec.node === node).map((child) => ({
    child,
    peerNode: JSON.parse(child.metadata.annotations?.["networkplan.networking.dn42.io/link"] ?? "{}").toNode,
  }));
}

const KEY = "UGZUF9xlk4GM36ve2jKavWqBVHBTHZ7CN2Jx9jXNT3M=";

Deno.test("showconf golden: the laptop outside the cluster (NAT, keepalive, plain and peer addresses), no key", async () => {
  const files = wgQuickFiles({
    plan: { namespace: "net", name: "mesh" },
    node: "laptop",
    links: await childrenOf("states.yaml", "laptop"),
    keySecret: { namespace: "net", name: "mesh-wgplan-keys", key: "laptop" },
  });
  assert.deepEqual(files.map((f) => f.fileName), ["wg-laptop-hub-0.conf"]);
  await golden("showconf-laptop.conf", concatFiles(files));
});

Deno.test("showconf golden: a hub with two links is two files; the key only when given", async () => {
  const files = wgQuickFiles({
    plan: { namespace: "net", name: "mesh" },
    node: "hub",
    links: (await childrenOf("states.yaml", "hub")).filter((l) => l.peerNode),
    privateKey: KEY,
  });
  assert.deepEqual(files.map((f) => f.fileName), ["wg-hub-edge1-0.conf", "wg-hub-laptop-1.conf"]);
  for (const f of files) assert.match(f.content, new RegExp(`^PrivateKey = ${KEY.replace(/[+/]/g, "\\$&")}$`, "m"));
  await golden("showconf-hub.conf", concatFiles(files));
});

Deno.test("showconf: wg-quick accepts the file and keeps exactly our WireGuard settings (wg-quick strip)", async () => {
  const [file] = wgQuickFiles({
    plan: { namespace: "default", name: "wgp1" },
    node: "lax2",
    links: await childrenOf("lab.yaml", "lax2"),
    privateKey: KEY,
  });
  const dir = await Deno.makeTempDir({ prefix: "dn42op-cli-" });
  try {
    const path = `${dir}/${file.fileName}`;
    await Deno.writeTextFile(path, file.content, { mode: 0o600 });
    const out = await new Deno.Command("wg-quick", { args: ["strip", path], stdout: "piped", stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    // strip drops wg-quick's own keys (MTU, Table, Address, PostUp) and keeps comments: compare the settings.
    const settings = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(settings, [
      "[Interface]",
      `PrivateKey = ${KEY}`,
      "ListenPort = 51800",
      "[Peer]",
      "PublicKey = SRvXKLMEqN5K95PC58VhHRwL0ML+5ko53iVUSvZPgRw=",
      "AllowedIPs = 0.0.0.0/0, ::/0",
      "Endpoint = 192.168.65.3:52820",
      "PersistentKeepalive = 25",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
