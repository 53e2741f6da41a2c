/**
 * What gets installed is what was pinned: every Deno command runs with a frozen lockfile (deno.json), the image's
 * install step too, and `./denow` refuses a Deno tarball whose SHA-512 is not the pinned one.
 */
import assert from "node:assert/strict";
import { ROOT } from "../../scripts/programs.ts";

Deno.test("supply chain: deno.json freezes the lockfile for every command; the image installs with --frozen", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.deepEqual(config.lock, { path: "./deno.lock", frozen: true });
  const dockerfile = await Deno.readTextFile(`${ROOT}deploy/Dockerfile`);
  assert.match(dockerfile, /deno install --frozen\b/);
  assert.doesNotMatch(dockerfile, /--frozen=false|--no-lock/);
});

/**
 * The pinned tarball, from npm's content-addressed cache (where installing ./denow put it), handed to the copies of
 * ./denow with DENOW_TARBALL: the suite's network namespace has no route to the registry. Null when not cached.
 */
async function cachedTarball(): Promise<string | null> {
  const pin = /x86_64\)\s*pkg="[^"]+"\s*sha512="([0-9a-f]{128})"/.exec(await Deno.readTextFile(`${ROOT}denow`))?.[1];
  const home = Deno.env.get("HOME") ?? "/root";
  const path = pin && `${home}/.npm/_cacache/content-v2/sha512/${pin.slice(0, 2)}/${pin.slice(2, 4)}/${pin.slice(4)}`;
  return path && await Deno.stat(path).then(() => path, () => null) || null;
}
const tarball = Deno.build.arch === "x86_64" ? await cachedTarball() : null;

/** Runs a copy of ./denow in a fresh directory (so its .tools/ is empty); returns exit code and output. */
async function denowCopy(edit: (text: string) => string) {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-ten-denow-" });
  try {
    await Deno.writeTextFile(`${dir}/denow`, edit(await Deno.readTextFile(`${ROOT}denow`)), { mode: 0o755 });
    const out = await new Deno.Command(`${dir}/denow`, {
      args: ["--version"],
      env: { DENOW_TARBALL: tarball! },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const installed = [...Deno.readDirSync(`${dir}/.tools/deno-2.9.6/node_modules/@deno`)].map((e) => e.name);
    const leftovers = [...Deno.readDirSync(`${dir}/.tools/deno-2.9.6`)].map((e) => e.name).filter((n) =>
      n !== "node_modules"
    );
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), installed, leftovers };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "supply chain: ./denow installs the pinned tarball, and nothing at all when its SHA-512 differs",
  ignore: tarball === null,
  fn: async () => {
    const good = await denowCopy((t) => t);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^deno 2\.9\.6 /);
    assert.equal(good.installed.length, 1);
    assert.deepEqual(good.leftovers, [], "no temporary directory is left behind");
    // The same script with one digit of the pinned digest changed stands for a tampered or substituted tarball.
    const bad = await denowCopy((t) => t.replace(/sha512="([0-9a-f])/g, (_, d) => `sha512="${d === "0" ? "1" : "0"}`));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /has SHA-512 [0-9a-f]{128}, pinned is [0-9a-f]{128}; not installing/);
    assert.deepEqual(bad.installed, [], "nothing unpacked");
    assert.deepEqual(bad.leftovers, []);
  },
});
