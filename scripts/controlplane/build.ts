/**
 * Builds the control-plane binaries (etcd, kube-apiserver, kube-controller-manager, kubectl) from the Go modules in
 * lab/controlplane/ into lab/controlplane/bin/.
 *
 * The build is skipped when bin/.stamp matches a hash of the go.mod/go.sum files, the Go version and the build flags.
 * Go's own caches (GOCACHE, GOMODCACHE; the defaults under $HOME unless set) are kept, so a rebuild after a stamp
 * change only relinks. During the long first build (20-60 minutes on 2 cores) progress is printed every 15 s.
 *
 * Usage: deno run -A scripts/controlplane/build.ts [--force]
 */
import { parseArgs } from "node:util";
import { goBinary } from "../setup.ts";

/** lab/controlplane/ of this repository. */
export const CONTROLPLANE_DIR = new URL("../../lab/controlplane/", import.meta.url).pathname;
/** Where the binaries land. */
export const BIN_DIR = `${CONTROLPLANE_DIR}bin/`;

/** Absolute paths of the built binaries. */
export const BINARIES = {
  etcd: `${BIN_DIR}etcd`,
  kubeApiserver: `${BIN_DIR}kube-apiserver`,
  kubeControllerManager: `${BIN_DIR}kube-controller-manager`,
  kubectl: `${BIN_DIR}kubectl`,
} as const;

/** One `go build` invocation: a module directory, its main packages and the -X flags that stamp versions. */
interface Target {
  module: "etcd" | "kube";
  packages: string[];
  /** `go build -o`: a file for one package, or BIN_DIR (named after the packages). */
  out: string;
  /** Builds the -X assignments from the version of the main module dependency. */
  versionFlags: (version: string, time: string) => string[];
  /** The dependency whose version is stamped. */
  versionOf: string;
}

const K8S_VERSION_PKGS = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"];

const TARGETS: Target[] = [
  {
    module: "etcd",
    packages: ["go.etcd.io/etcd/server/v3"],
    out: BINARIES.etcd, // the package would otherwise be named "server"
    versionOf: "go.etcd.io/etcd/server/v3",
    versionFlags: (v) => [`-X go.etcd.io/etcd/api/v3/version.GitSHA=${v}`],
  },
  {
    module: "kube",
    packages: [
      "k8s.io/kubernetes/cmd/kube-apiserver",
      "k8s.io/kubernetes/cmd/kube-controller-manager",
      "k8s.io/kubernetes/cmd/kubectl",
    ],
    out: BIN_DIR,
    versionOf: "k8s.io/kubernetes",
    versionFlags: (v, time) => {
      const [major, minor] = v.replace(/^v/, "").split(".");
      return K8S_VERSION_PKGS.flatMap((p) => [
        `-X ${p}.gitVersion=${v}`,
        `-X ${p}.gitMajor=${major}`,
        `-X ${p}.gitMinor=${minor}`,
        `-X ${p}.gitTreeState=clean`,
        `-X ${p}.buildDate=${time}`,
      ]);
    },
  },
];

/** Result of {@link buildControlPlane}. */
export interface BuildResult {
  /** False when the stamp matched and nothing was run. */
  built: boolean;
  seconds: number;
  binDir: string;
}

/** Options of {@link buildControlPlane}. */
export interface BuildOptions {
  /** Build even when the stamp matches. */
  force?: boolean;
  /** Progress sink (default: stderr). */
  log?: (line: string) => void;
}

/** Thrown when a Go command fails; carries the tail of its output. */
export class ControlPlaneBuildError extends Error {
  override name = "ControlPlaneBuildError";
}

function goEnv(): Record<string, string> {
  return {
    CGO_ENABLED: "0",
    GOTOOLCHAIN: Deno.env.get("GOTOOLCHAIN") ?? "local",
    GOFLAGS: "-mod=readonly -buildvcs=false",
  };
}

async function goOutput(go: string, args: string[], cwd: string): Promise<string> {
  const r = await new Deno.Command(go, { args, cwd, env: goEnv(), stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!r.success) {
    throw new ControlPlaneBuildError(`go ${args.join(" ")} (in ${cwd}) failed:\n${dec.decode(r.stderr).slice(-4000)}`);
  }
  return dec.decode(r.stdout);
}

async function sha256Hex(data: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hash of everything that determines the binaries: module files, Go version, targets. */
async function stampOf(go: string): Promise<string> {
  const parts = [await goOutput(go, ["env", "GOVERSION"], CONTROLPLANE_DIR), JSON.stringify(goEnv())];
  for (const t of TARGETS) {
    // the output path relative to the bin directory: checkouts of one repository at other paths share a build
    parts.push(t.module, t.packages.join(","), t.out.slice(BIN_DIR.length), t.versionFlags("V", "T").join(" "));
    for (const f of ["go.mod", "go.sum"]) parts.push(await Deno.readTextFile(`${CONTROLPLANE_DIR}${t.module}/${f}`));
  }
  return await sha256Hex(parts.join("\n\0"));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs one target's `go build -v`, reporting compiled/total packages periodically. */
async function buildTarget(go: string, t: Target, log: (l: string) => void): Promise<void> {
  const cwd = `${CONTROLPLANE_DIR}${t.module}`;
  const total = (await goOutput(go, ["list", "-deps", ...t.packages], cwd)).trim().split("\n").length;
  const mod = JSON.parse(await goOutput(go, ["list", "-m", "-json", t.versionOf], cwd));
  const ldflags = ["-s", "-w", ...t.versionFlags(mod.Version, mod.Time ?? "1970-01-01T00:00:00Z")].join(" ");
  const args = ["build", "-v", "-trimpath", `-ldflags=${ldflags}`, "-o", t.out, ...t.packages];
  const child = new Deno.Command(go, { args, cwd, env: goEnv(), stdout: "null", stderr: "piped" }).spawn();
  const started = Date.now();
  let compiled = 0;
  const tail: string[] = [];
  const timer = setInterval(() => {
    log(
      `build ${t.module}: still building… ${compiled}/${total} packages, ${Math.round((Date.now() - started) / 1e3)} s`,
    );
  }, 15_000);
  try {
    for await (const line of child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())) {
      compiled++;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
    const status = await child.status;
    if (!status.success) {
      throw new ControlPlaneBuildError(`go build of ${t.module} failed (exit ${status.code}):\n${tail.join("\n")}`);
    }
  } finally {
    clearInterval(timer);
  }
  log(`build ${t.module}: done, ${compiled} packages compiled in ${Math.round((Date.now() - started) / 1e3)} s`);
}

function lineSplitter(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl) {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) if (l) ctl.enqueue(l);
    },
    flush(ctl) {
      if (buf) ctl.enqueue(buf);
    },
  });
}

/**
 * Builds the binaries unless the stamp says they are current. Throws {@link ControlPlaneBuildError} with Go's output
 * when Go is missing or a build fails.
 */
export async function buildControlPlane(opts: BuildOptions = {}): Promise<BuildResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const started = performance.now();
  let go: string;
  try {
    go = await goBinary();
  } catch (e) {
    throw new ControlPlaneBuildError((e as Error).message);
  }
  const stamp = await stampOf(go);
  const stampFile = `${BIN_DIR}.stamp`;
  const current = await Deno.readTextFile(stampFile).catch(() => "");
  const present = (await Promise.all(Object.values(BINARIES).map(exists))).every(Boolean);
  if (!opts.force && present && current.trim() === stamp) {
    return { built: false, seconds: (performance.now() - started) / 1e3, binDir: BIN_DIR };
  }
  await Deno.mkdir(BIN_DIR, { recursive: true });
  await Deno.remove(stampFile).catch(() => {});
  log(
    `build: compiling the control plane from lab/controlplane (the first build takes 20-60 min on 2 cores; later ones reuse Go's cache)`,
  );
  for (const t of TARGETS) await buildTarget(go, t, log);
  await Deno.writeTextFile(stampFile, `${stamp}\n`);
  return { built: true, seconds: (performance.now() - started) / 1e3, binDir: BIN_DIR };
}

/**
 * Why this machine cannot provide the control plane (no Go toolchain to build it and no built binaries), or null
 * when it can. Tests skip cluster tests only for this reason; a failing build is a failure, not a skip.
 */
export async function controlPlaneUnavailable(): Promise<string | null> {
  if ((await Promise.all(Object.values(BINARIES).map(exists))).every(Boolean)) return null;
  try {
    await goBinary();
    return null;
  } catch (e) {
    return `cannot build the control plane: ${(e as Error).message}`;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { force: { type: "boolean", default: false } } });
  try {
    const r = await buildControlPlane({ force: values.force });
    console.error(
      r.built ? `build: done in ${r.seconds.toFixed(1)} s` : `build: up to date (${r.seconds.toFixed(1)} s)`,
    );
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
