/**
 * Proves the kernel tier: the kernel has the link kinds the host lacks, kernel WireGuard carries traffic between two
 * namespaces, and Deno FFI reaches the WireGuard generic-netlink family. Skipped on hosts without those kernel
 * features; `deno task test:kernel` runs it under a real Debian kernel.
 */
import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { type TestNetns, withNetns } from "../../kit/netns.ts";

async function cmd(args: string[], stdin = ""): Promise<string> {
  const p = new Deno.Command(args[0], { args: args.slice(1), stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await p.output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${args.join(" ")}: exit ${out.code}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout).trim();
}

Deno.test({
  name: "kernel tier: the kernel creates wireguard and dummy links",
  ignore: skipUnless("root", "wireguard-kernel", "dummy-kernel"),
  fn: () =>
    withNetns(async (ns) => {
      await ns.ip("link", "add", "wg0", "type", "wireguard");
      await ns.ip("link", "add", "d0", "type", "dummy");
      const kinds = JSON.parse(await ns.ip("-d", "-j", "link", "show")) as {
        ifname: string;
        linkinfo?: { info_kind: string };
      }[];
      const kindOf = new Map(kinds.map((l) => [l.ifname, l.linkinfo?.info_kind]));
      assert.equal(kindOf.get("wg0"), "wireguard");
      assert.equal(kindOf.get("d0"), "dummy");
    }, { tag: "kt" }),
});

interface Peer {
  ns: TestNetns;
  underlay: string;
  tunnel: string;
  publicKey: string;
}

async function wgUp(ns: TestNetns, keyDir: string, underlay: string, tunnel: string): Promise<Peer> {
  const privateKey = await cmd(["wg", "genkey"]);
  const publicKey = await cmd(["wg", "pubkey"], privateKey + "\n");
  const keyFile = `${keyDir}/${ns.name}.key`;
  await Deno.writeTextFile(keyFile, privateKey + "\n", { mode: 0o600 });
  await ns.ip("link", "add", "wg0", "type", "wireguard");
  await ns.run("wg", "set", "wg0", "private-key", keyFile, "listen-port", "51820");
  await ns.ip("address", "add", `${tunnel}/24`, "dev", "wg0");
  await ns.ip("link", "set", "wg0", "up");
  return { ns, underlay, tunnel, publicKey };
}

async function addPeer(self: Peer, other: Peer) {
  await self.ns.run(
    "wg",
    "set",
    "wg0",
    "peer",
    other.publicKey,
    "endpoint",
    `${other.underlay}:51820`,
    "allowed-ips",
    `${other.tunnel}/32`,
  );
}

Deno.test({
  name: "kernel tier: a kernel WireGuard tunnel between two namespaces joined by a veth carries pings",
  ignore: skipUnless("root", "wireguard-kernel"),
  fn: () =>
    withNetns(async (a, b) => {
      await a.ip("link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b.name);
      await a.ip("address", "add", "10.99.0.1/24", "dev", "va");
      await b.ip("address", "add", "10.99.0.2/24", "dev", "vb");
      await a.ip("link", "set", "va", "up");
      await b.ip("link", "set", "vb", "up");
      const keyDir = await Deno.makeTempDir({ prefix: "dn42op-kt-keys-" });
      try {
        const pa = await wgUp(a, keyDir, "10.99.0.1", "10.100.0.1");
        const pb = await wgUp(b, keyDir, "10.99.0.2", "10.100.0.2");
        await addPeer(pa, pb);
        await addPeer(pb, pa);
      } finally {
        await Deno.remove(keyDir, { recursive: true });
      }
      const ping = await a.run("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.100.0.2");
      assert.match(ping, /3 packets transmitted, 3 received/);
      // The pings went through the tunnel: a handshake happened and the peer counted received bytes.
      const [, rx] = (await b.run("wg", "show", "wg0", "transfer")).split("\t").map(Number);
      assert.ok(rx > 0, `peer b received ${rx} bytes over wg0`);
      const [, handshake] = (await a.run("wg", "show", "wg0", "latest-handshakes")).split("\t").map(Number);
      assert.ok(handshake > 0, "a handshake completed");
    }, { count: 2, tag: "kt" }),
});

// Minimal generic-netlink probe (CTRL_CMD_GETFAMILY) through libc via FFI; the real codec lives in src/wireguard.
const NETLINK_GENERIC = 16, AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000;
const GENL_ID_CTRL = 0x10, NLMSG_ERROR = 2, NLM_F_REQUEST = 1, CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1, CTRL_ATTR_FAMILY_NAME = 2;

/** Resolves a generic-netlink family name to its id, or returns the negative errno the kernel answered. */
function resolveGenlFamily(name: string): number {
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fd = libc.symbols.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  try {
    assert.ok(fd >= 0, "socket(AF_NETLINK, NETLINK_GENERIC)");
    const nameBytes = new TextEncoder().encode(name + "\0");
    const attrLen = 4 + nameBytes.length;
    const msg = new Uint8Array(16 + 4 + ((attrLen + 3) & ~3));
    const v = new DataView(msg.buffer);
    v.setUint32(0, msg.length, true);
    v.setUint16(4, GENL_ID_CTRL, true);
    v.setUint16(6, NLM_F_REQUEST, true);
    v.setUint32(8, 1, true); // seq
    msg[16] = CTRL_CMD_GETFAMILY;
    msg[17] = 1; // genl version
    v.setUint16(20, attrLen, true);
    v.setUint16(22, CTRL_ATTR_FAMILY_NAME, true);
    msg.set(nameBytes, 24);
    assert.equal(Number(libc.symbols.send(fd, msg, BigInt(msg.length), 0)), msg.length);
    const buf = new Uint8Array(8192);
    const n = Number(libc.symbols.recv(fd, buf, BigInt(buf.length), 0));
    assert.ok(n >= 20, `recv returned ${n}`);
    const r = new DataView(buf.buffer, 0, n);
    if (r.getUint16(4, true) === NLMSG_ERROR) return r.getInt32(16, true);
    for (let off = 20; off + 4 <= n;) {
      const len = r.getUint16(off, true);
      if (len < 4) break;
      if ((r.getUint16(off + 2, true) & 0x3fff) === CTRL_ATTR_FAMILY_ID) return r.getUint16(off + 4, true);
      off += (len + 3) & ~3;
    }
    throw new Error("CTRL_CMD_GETFAMILY reply without CTRL_ATTR_FAMILY_ID");
  } finally {
    libc.symbols.close(fd);
    libc.close();
  }
}

Deno.test({
  name: "kernel tier: Deno FFI resolves the wireguard generic-netlink family",
  ignore: skipUnless("wireguard-kernel"),
  fn: () => {
    const id = resolveGenlFamily("wireguard");
    assert.ok(id > GENL_ID_CTRL, `wireguard family id ${id} (dynamic ids follow the controller's 0x10)`);
    assert.equal(resolveGenlFamily("dn42op-nofam"), -2, "an unknown family answers ENOENT");
  },
});
