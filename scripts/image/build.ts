/**
 * `deno task image`: builds deploy/Dockerfile with podman on this machine, with no container registry:
 *
 * - BASE: Debian's packages of deploy/image/packages.txt (no recommends, docs and locales left out) made into a
 *   root filesystem by mmdebstrap from the machine's own apt sources, imported as `localhost/dn42op-base:<hash>`.
 *   Cached: the tag is a hash of everything that goes into it, so it is rebuilt only when that changes.
 * - DENO_IMAGE: the pinned Deno binary this script runs with (./denow installs it from the npm package), imported as
 *   `localhost/dn42op-deno:<version>`; it must be the Dockerfile's DENO_VERSION.
 * - PROGRAMS: `compiled` when DENORT_BIN names Deno's runtime binary (mounted into the build), else `deno-run`.
 *
 * The npm packages are fetched before the build, on this machine, by `deno install --frozen` (the lockfile frozen)
 * into a DENO_DIR of the build's own (`.out/image/deno-dir`, from a copy of deno.json and deno.lock), whose npm cache is mounted into the build's
 * `deno install --frozen`; the build itself runs with `--network=none` and `--pull=never`: nothing is fetched in
 * it and no registry is asked for anything (so it also works in a test's network namespace once the cache is
 * filled). It uses the lab's private podman configuration (lab/podman/config.ts), so the image is where the lab
 * runs it. Prints the image's size.
 *
 *   deno task image [--tag localhost/dn42op:latest]
 */
import { parseArgs } from "node:util";
import { exec } from "../../kit/proc.ts";
import { Podman } from "../../lab/podman/podman.ts";
import { ensureProfiles } from "../setup.ts";
import { ROOT } from "../programs.ts";
import type { InstallMode } from "./install.ts";

/** The image the manifests name (`image: dn42op:latest`; podman resolves the short name to localhost/). */
export const IMAGE = "localhost/dn42op:latest";

/** The Debian release of the base (deploy/Dockerfile's default base is this release's slim image). */
export const SUITE = "bookworm";

/** The package list shared with deploy/Dockerfile. */
export const PACKAGES_FILE = `${ROOT}deploy/image/packages.txt`;

/** Files left out of the base: documentation, manual pages, translations (copyright notices are kept). */
const DPKG_EXCLUDES = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-exclude=/usr/share/info/*",
];

/** The packages named in a packages.txt text (comments and blank lines skipped). */
export function parsePackages(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

/** The apt sources file mmdebstrap reads: the machine's own Debian sources (deb822 first). */
export async function debianSources(): Promise<string> {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    if (await Deno.stat(f).then((s) => s.isFile && s.size > 0, () => false)) return f;
  }
  throw new Error("image: no Debian apt sources (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)");
}

/** mmdebstrap's hooks that set up merged /usr as Debian's images have it (else apt picks usrmerge, and perl). */
const MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr";

/**
 * mmdebstrap's command line for the base: the Essential packages plus `packages` (no recommends: mmdebstrap's
 * default), merged /usr, without documentation, written as a tarball to `out`.
 */
export function mmdebstrapCommand(packages: string[], out: string, sources: string): string[] {
  return [
    "mmdebstrap",
    "--variant=essential",
    "--mode=root",
    `--hook-dir=${MERGED_USR_HOOKS}`,
    `--include=${packages.join(",")}`,
    ...DPKG_EXCLUDES.map((o) => `--dpkgopt=${o}`),
    SUITE,
    out,
    sources,
  ];
}

/** The base's tag: a hash of its mmdebstrap command and the apt sources' text, so any change makes a new base. */
export async function baseTag(packages: string[], sourcesText: string): Promise<string> {
  const key = JSON.stringify([mmdebstrapCommand(packages, "-", "-"), sourcesText]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hex = [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `localhost/dn42op-base:${SUITE}-${hex}`;
}

/** The Dockerfile's `ARG DENO_VERSION=…`. */
export function dockerfileDenoVersion(dockerfile: string): string | undefined {
  return /^ARG DENO_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
}

async function imageExists(podman: Podman, tag: string): Promise<boolean> {
  return (await exec(["podman", "image", "exists", tag], { env: await podman.env() })).code === 0;
}

/** Imports a tarball of `dir`'s contents as `tag`. */
async function importDir(podman: Podman, dir: string, tag: string, message: string): Promise<void> {
  const tar = `${dir}.tar`;
  const t = await exec(["tar", "-C", dir, "-cf", tar, "."]);
  if (t.code !== 0) throw new Error(`image: tar of ${dir}: ${t.stderr.trim()}`);
  await podman.run("import", "--message", message, tar, tag);
}

/** Makes the base unless it exists; returns its tag and whether it was built now. */
async function ensureBase(podman: Podman, work: string): Promise<{ tag: string; built: boolean }> {
  const sources = await debianSources();
  const packages = parsePackages(await Deno.readTextFile(PACKAGES_FILE));
  const tag = await baseTag(packages, await Deno.readTextFile(sources));
  if (await imageExists(podman, tag)) return { tag, built: false };
  console.error(`image: making the base ${tag} with mmdebstrap (${packages.join(" ")}); a few minutes, cached after`);
  const tar = `${work}/base.tar`;
  const r = await exec(mmdebstrapCommand(packages, tar, sources));
  if (r.code !== 0) throw new Error(`image: mmdebstrap failed: ${r.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  await podman.run(
    "import",
    "--change",
    "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    tar,
    tag,
  );
  return { tag, built: true };
}

/** Makes the image holding the pinned Deno at /deno unless it exists; returns its tag. */
async function ensureDenoImage(podman: Podman, work: string): Promise<string> {
  const want = dockerfileDenoVersion(await Deno.readTextFile(`${ROOT}deploy/Dockerfile`));
  if (want !== Deno.version.deno) {
    throw new Error(`image: deploy/Dockerfile pins Deno ${want}, this is Deno ${Deno.version.deno} (run ./denow)`);
  }
  const tag = `localhost/dn42op-deno:${want}`;
  if (await imageExists(podman, tag)) return tag;
  await Deno.mkdir(`${work}/deno`);
  await Deno.copyFile(Deno.execPath(), `${work}/deno/deno`);
  await Deno.chmod(`${work}/deno/deno`, 0o755);
  await importDir(podman, `${work}/deno`, tag, `deno ${want} from the npm package`);
  return tag;
}

async function imageId(podman: Podman, tag: string): Promise<string | undefined> {
  const r = await exec(["podman", "image", "inspect", "--format", "{{.Id}}", tag], { env: await podman.env() });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Size of an image in bytes. */
export async function imageSize(podman: Podman, tag: string): Promise<number> {
  return Number((await podman.run("image", "inspect", "--format", "{{.Size}}", tag)).trim());
}

/** The build's own DENO_DIR (its npm cache is what the build installs from). */
export const BUILD_DENO_DIR = `${ROOT}.out/image/deno-dir`;

/**
 * `deno install --frozen` of the repository's dependencies into {@link BUILD_DENO_DIR} (a no-op when they are there,
 * which needs no network); returns its npm cache directory. Throws with Deno's error (e.g. the lockfile does not match).
 */
async function fillNpmCache(): Promise<string> {
  // In a directory of its own: in the repository, an installed node_modules/ would let Deno skip the cache.
  const project = `${ROOT}.out/image/deps`;
  await Deno.mkdir(project, { recursive: true });
  for (const f of ["deno.json", "deno.lock"]) await Deno.copyFile(`${ROOT}${f}`, `${project}/${f}`);
  const r = await exec(
    ["sh", "-c", 'cd "$1" && exec "$2" install --frozen --quiet', "sh", project, Deno.execPath()],
    { env: { DENO_DIR: BUILD_DENO_DIR, NO_COLOR: "1" } },
  );
  if (r.code !== 0) throw new Error(`image: deno install --frozen failed: ${r.stderr.trim().split("\n").slice(-4)}`);
  return `${BUILD_DENO_DIR}/npm`;
}

/**
 * Everything of a build that needs the network, done ahead: the Debian base (mmdebstrap) and the npm cache. The
 * test command calls it in its prepare phase, because its suite runs in a network namespace without network.
 */
export async function prepareImageInputs(podman = new Podman()): Promise<void> {
  await ensureProfiles(["containers", "image"]);
  const work = await Deno.makeTempDir({ prefix: "dn42op-image-" });
  try {
    await ensureBase(podman, work);
    await fillNpmCache();
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** What {@link buildImage} did. */
export interface BuildResult {
  tag: string;
  mode: InstallMode;
  bytes: number;
  baseTag: string;
  baseBytes: number;
  baseBuilt: boolean;
  seconds: number;
}

/** Builds deploy/Dockerfile into `tag` as described above. Throws naming the failed step. */
export async function buildImage(tag = IMAGE, podman = new Podman()): Promise<BuildResult> {
  const t0 = performance.now();
  await ensureProfiles(["containers", "image"]);
  const work = await Deno.makeTempDir({ prefix: "dn42op-image-" });
  try {
    const base = await ensureBase(podman, work);
    const deno = await ensureDenoImage(podman, work);
    const denort = Deno.env.get("DENORT_BIN") || undefined;
    const mode: InstallMode = denort ? "compiled" : "deno-run";
    const npm = await fillNpmCache();
    const old = await imageId(podman, tag);
    const log = `${work}/build.log`;
    const cmd = [
      "podman",
      "build",
      "--pull=never",
      "--network=none",
      "--file",
      `${ROOT}deploy/Dockerfile`,
      "--build-arg",
      `BASE=${base.tag}`,
      "--build-arg",
      `DENO_IMAGE=${deno}`,
      "--build-arg",
      `PROGRAMS=${mode}`,
      ...(denort ? ["--volume", `${denort}:/denort:ro`, "--build-arg", "DENORT_BIN=/denort"] : []),
      "--volume",
      `${npm}:/opt/dn42op/.deno/npm`,
      "--label",
      `${SOURCE_LABEL}=${await sourceHash()}`,
      "--tag",
      tag,
      ROOT,
    ];
    const r = await exec(cmd, { env: await podman.env() });
    await Deno.writeTextFile(log, r.stdout + r.stderr);
    if (r.code !== 0) {
      const tail = (r.stdout + r.stderr).trim().split("\n").slice(-15).join("\n");
      throw new Error(`image: podman build failed (exit ${r.code}):\n${tail}`);
    }
    const id = await imageId(podman, tag);
    // The previous build, now untagged, is removed (nothing else in the store is touched; in use is fine).
    if (old && old !== id) await exec(["podman", "rmi", old], { env: await podman.env() });
    return {
      tag,
      mode,
      bytes: await imageSize(podman, tag),
      baseTag: base.tag,
      baseBytes: await imageSize(podman, base.tag),
      baseBuilt: base.built,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** What deploy/Dockerfile copies from the repository (with the Dockerfile): the image's sources. */
export const IMAGE_INPUTS = [
  "deploy/Dockerfile",
  "deploy/image/packages.txt",
  "deno.json",
  "deno.lock",
  "ffi",
  "src",
  "kit/proc.ts",
  "kit/wait.ts",
  "scripts/programs.ts",
  "scripts/compile.ts",
  "scripts/image/install.ts",
];

/** Label holding {@link sourceHash} of what an image was built from. */
export const SOURCE_LABEL = "io.dn42op.source";

async function* files(path: string): AsyncGenerator<string> {
  if ((await Deno.stat(path)).isDirectory) {
    const entries = (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
    for (const e of entries) yield* files(`${path}/${e}`);
  } else yield path;
}

/** SHA-256 (hex, 16 digits) over the paths and contents of {@link IMAGE_INPUTS} under `root`. */
export async function sourceHash(root = ROOT): Promise<string> {
  const h: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const input of IMAGE_INPUTS) {
    for await (const f of files(`${root}${input}`)) {
      h.push(enc.encode(`${f.slice(root.length)}\0`), await Deno.readFile(f));
    }
  }
  const all = new Uint8Array(h.reduce((n, b) => n + b.length, 0));
  h.reduce((off, b) => (all.set(b, off), off + b.length), 0);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...d.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Makes sure `tag` holds an image of the current sources (builds it when missing or built from other sources, as
 * its {@link SOURCE_LABEL} says); for tests and the lab.
 */
export async function ensureImage(tag = IMAGE, podman = new Podman()): Promise<void> {
  const r = await exec(
    ["podman", "image", "inspect", "--format", `{{index .Labels "${SOURCE_LABEL}"}}`, tag],
    { env: await podman.env() },
  );
  if (r.code !== 0 || r.stdout.trim() !== await sourceHash()) await buildImage(tag, podman);
}

const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { tag: { type: "string", default: IMAGE } } });
  try {
    const b = await buildImage(values.tag);
    console.log(
      `image: ${b.tag} ${MB(b.bytes)} (${b.mode}; base ${b.baseTag} ${MB(b.baseBytes)}${
        b.baseBuilt ? ", made now" : ", cached"
      }) built in ${b.seconds.toFixed(1)} s`,
    );
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
