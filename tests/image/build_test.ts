/** scripts/image: the package list, mmdebstrap's command, the base's cache tag, the launchers. */
import assert from "node:assert/strict";
import {
  baseTag,
  dockerfileDenoVersion,
  mmdebstrapCommand,
  PACKAGES_FILE,
  parsePackages,
  sourceHash,
} from "../../scripts/image/build.ts";
import { LAUNCHER_FLAGS, launcherScript } from "../../scripts/image/install.ts";
import { PROGRAM_NAMES, PROGRAMS, ROOT } from "../../scripts/programs.ts";

Deno.test("the package list: comments and blanks skipped; what the programs load is in it", async () => {
  assert.deepEqual(parsePackages("# c\n\nlibnl-3-200\n  wireguard-go  \n"), ["libnl-3-200", "wireguard-go"]);
  const pkgs = parsePackages(await Deno.readTextFile(PACKAGES_FILE));
  for (const p of ["libnl-3-200", "libnl-route-3-200", "wireguard-go", "util-linux"]) assert.ok(pkgs.includes(p), p);
});

Deno.test("mmdebstrap: no recommends beyond its default, docs excluded, merged /usr, the machine's sources", () => {
  const cmd = mmdebstrapCommand(["a", "b"], "/tmp/x.tar", "/etc/apt/sources.list.d/debian.sources");
  assert.equal(cmd[0], "mmdebstrap");
  assert.ok(cmd.includes("--variant=essential"));
  assert.ok(cmd.includes("--include=a,b"));
  assert.ok(cmd.some((a) => a.includes("path-exclude=/usr/share/doc/*")));
  assert.ok(cmd.some((a) => a.startsWith("--hook-dir=") && a.endsWith("merged-usr")));
  assert.ok(!cmd.some((a) => /recommends/i.test(a) && !/false/.test(a)));
  assert.deepEqual(cmd.slice(-3), ["bookworm", "/tmp/x.tar", "/etc/apt/sources.list.d/debian.sources"]);
});

Deno.test("the base's tag changes with its packages and sources, and only then", async () => {
  const a = await baseTag(["x", "y"], "deb mirror bookworm main");
  assert.match(a, /^localhost\/dn42op-base:bookworm-[0-9a-f]{12}$/);
  assert.equal(await baseTag(["x", "y"], "deb mirror bookworm main"), a);
  assert.notEqual(await baseTag(["x", "z"], "deb mirror bookworm main"), a);
  assert.notEqual(await baseTag(["x", "y"], "deb other bookworm main"), a);
});

Deno.test("deploy/Dockerfile pins the Deno that ./denow runs", async () => {
  assert.equal(dockerfileDenoVersion("FROM x\nARG DENO_VERSION=1.2.3\n"), "1.2.3");
  assert.equal(dockerfileDenoVersion(await Deno.readTextFile(`${ROOT}deploy/Dockerfile`)), Deno.version.deno);
});

Deno.test("launchers: exec the pinned Deno with the program's permissions, cached only, the lockfile frozen", () => {
  for (const name of PROGRAM_NAMES) {
    const s = launcherScript(name, "/opt/dn42op/");
    const exec = s.split("\n").find((l) => l.startsWith("exec "))!;
    assert.ok(s.startsWith("#!/bin/sh\n"));
    assert.match(s, /export DENO_DIR=\/opt\/dn42op\/\.deno DENO_NO_UPDATE_CHECK=1/);
    for (const f of [...PROGRAMS[name].permissions, ...LAUNCHER_FLAGS]) {
      assert.ok(exec.includes(` ${f} `), `${name}: ${f}`);
    }
    assert.ok(exec.startsWith("exec /usr/local/bin/deno run --no-prompt --config=/opt/dn42op/deno.json"));
    assert.ok(exec.endsWith(` /opt/dn42op/${PROGRAMS[name].entry} "$@"`));
  }
});

Deno.test("the image's source hash follows what the Dockerfile copies, and nothing else", async () => {
  const root = await Deno.makeTempDir({ prefix: "dn42op-img-src-" });
  try {
    for (const d of ["deploy/image", "ffi", "src/a", "lab", "scripts/image"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    for (
      const f of [
        "deploy/Dockerfile",
        "deploy/image/packages.txt",
        "deno.json",
        "deno.lock",
        "ffi/x.ts",
        "src/a/y.ts",
        "lab/exec.ts",
        "scripts/programs.ts",
        "scripts/compile.ts",
        "scripts/image/install.ts",
      ]
    ) {
      await Deno.writeTextFile(`${root}/${f}`, f);
    }
    const a = await sourceHash(`${root}/`);
    assert.equal(await sourceHash(`${root}/`), a);
    await Deno.writeTextFile(`${root}/README.md`, "not copied");
    assert.equal(await sourceHash(`${root}/`), a, "a file the Dockerfile does not copy");
    await Deno.writeTextFile(`${root}/src/a/y.ts`, "changed");
    assert.notEqual(await sourceHash(`${root}/`), a, "a source file");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
