import assert from "node:assert/strict";
import { libraryCandidates } from "../../ffi/load.ts";

function firstExisting(soname: string): string {
  const p = libraryCandidates(soname).find((c) => {
    try {
      return Deno.statSync(c).isFile;
    } catch {
      return false;
    }
  });
  assert.ok(p, `${soname} not found in ${libraryCandidates(soname).join(", ")}`);
  return p;
}

Deno.test("libraries load by absolute path under a path-scoped --allow-ffi (as in deno compile)", async () => {
  const libs = ["libc.so.6", "libnl-3.so.200", "libnl-route-3.so.200"].map(firstExisting);
  const code = `
    import { Netns } from "${new URL("../../src/netlink/netns.ts", import.meta.url)}";
    import { libnlSocket } from "${new URL("../../src/netlink/libnl/socket.ts", import.meta.url)}";
    const ns = Netns.host();
    const f = await ns.families.get("nlctrl");
    libnlSocket(ns);
    ns.close();
    console.log(f.id);
  `;
  const file = await Deno.makeTempFile({ prefix: "dn42op-nl-", suffix: ".ts" });
  let out: Deno.CommandOutput;
  try {
    await Deno.writeTextFile(file, code);
    out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", `--allow-ffi=${libs.join(",")}`, "--no-prompt", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } finally {
    await Deno.remove(file);
  }
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "16");
});
