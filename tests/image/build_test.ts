/** scripts/image: the package list, mmdebstrap's command, the base's cache tag, the launchers. */
import assert from "node:assert/strict";
import {
  baseTag,
  dockerfileDenoVersion,
  IMAGE_INPUTS,
  mmdebstrapCommand,
  PACKAGES_FILE,
  parsePackages,
  sourceHash,
} from "../../scripts/image/build.ts";
import { IMAGE_PROGRAMS, LAUNCHER_FLAGS, launcherScript } from "../../scripts/image/install.ts";
import { importsOf } from "../../scripts/layers.ts";
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

/** The sources of deploy/Dockerfile's COPY lines from the build context (not `--from` a stage). */
function dockerfileCopies(dockerfile: string): string[] {
  return dockerfile.split("\n").filter((l) => /^COPY (?!--from)/.test(l))
    .flatMap((l) => l.split(/\s+/).slice(1, -1)).map((s) => s.replace(/\/$/, ""));
}

Deno.test("the image's inputs are what deploy/Dockerfile copies, and every one exists", async () => {
  const copies = dockerfileCopies(await Deno.readTextFile(`${ROOT}deploy/Dockerfile`));
  assert.deepEqual([...IMAGE_INPUTS].sort(), ["deploy/Dockerfile", ...copies].sort());
  for (const f of IMAGE_INPUTS) await Deno.stat(`${ROOT}${f}`); // throws naming a moved or deleted file
});

Deno.test("the image's source hash follows what the Dockerfile copies, and nothing else", async () => {
  const root = await Deno.makeTempDir({ prefix: "dn42op-img-src-" });
  try {
    for (const f of IMAGE_INPUTS) {
      // A directory input gets one file inside it.
      const path = f.includes(".") || f === "deploy/Dockerfile" ? f : `${f}/a/y.ts`;
      await Deno.mkdir(`${root}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, path);
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

Deno.test("the image's inputs hold every module its programs and its build step import", async () => {
  const inInputs = (f: string) => IMAGE_INPUTS.some((i) => f === i || f.startsWith(`${i}/`));
  const seen = new Set<string>();
  const todo = [...IMAGE_PROGRAMS.map((n) => PROGRAMS[n].entry), "scripts/image/install.ts"];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    for (const { spec } of importsOf(await Deno.readTextFile(`${ROOT}${f}`))) {
      todo.push(new URL(spec, `file:///${f}`).pathname.slice(1));
    }
  }
  assert.ok(seen.size > 50, `${seen.size} modules reached`);
  assert.deepEqual([...seen].filter((f) => !inInputs(f)).sort(), [], "imported but not copied into the image");
});
