/**
 * Debian's own kernel for the kernel tier: resolves the package behind `linux-image-amd64` (the ABI name rotates),
 * fetches it with `apt-get download` (never from anywhere else), extracts it, runs depmod and keeps only what the
 * guest boots with — vmlinuz and the modules it loads, in load order — in a cache directory keyed by package,
 * version and module list. A cached kernel costs one apt-cache call.
 */
import { run as sh } from "../../kit/proc.ts";
import { sha256Hex } from "./hash.ts";

/**
 * Modules the guest loads at boot, with their dependencies: the link kinds the tests use (src/netlink/linkspec.ts
 * LINK_KINDS, plus tun), 9p over virtio, entropy, and the kernel lab's channels to the host (a NIC on QEMU's user-mode
 * network, virtio-serial ports). The guest cannot load modules later (its /usr/lib/modules is the
 * host's), so a test needing another kind fails with "Unknown device type" until the module is added here.
 */
export const GUEST_MODULES = [
  "wireguard",
  "dummy",
  "veth",
  "vxlan",
  "bridge",
  "macvlan",
  "8021q",
  "tun",
  "9p",
  "9pnet_virtio",
  "virtio_pci",
  "virtio_rng",
  "virtio_net",
  "virtio_console",
];

/** One module to insmod: the file name under the kernel's `modules/` directory and its parameters. */
export interface ModuleLoad {
  file: string;
  args: string;
}

/** A kernel ready to boot, as stored in the cache. */
export interface Kernel {
  /** Debian package, e.g. `linux-image-6.1.0-56-amd64`. */
  package: string;
  /** Package version, e.g. `6.1.192-2`. */
  packageVersion: string;
  /** Kernel release (`uname -r`), e.g. `6.1.0-56-amd64`. */
  release: string;
  /** Absolute path of the kernel image. */
  vmlinuz: string;
  /** Directory holding the module files. */
  moduleDir: string;
  /** Modules in load order. */
  modules: ModuleLoad[];
}

const APT = ["-o", "DPkg::Lock::Timeout=600", "-o", "APT::Sandbox::User=root"];

/**
 * The concrete image package and version `linux-image-amd64` depends on, from `apt-cache show --no-all-versions
 * linux-image-amd64` (`Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)`), or null when apt lists none.
 */
export function parseImageDepends(aptCacheShow: string): { pkg: string; version: string } | null {
  const m = /^Depends:.*?\b(linux-image-[^\s,]+) \(= ([^)\s]+)\)/m.exec(aptCacheShow);
  return m ? { pkg: m[1], version: m[2] } : null;
}

/**
 * Load order from `modprobe --show-depends` for several modules: each `insmod PATH ARGS...` line in order, a module
 * listed twice kept at its first place. Lines for built-in modules (`builtin NAME`) need nothing and are dropped.
 */
export function parseShowDepends(text: string): { path: string; args: string }[] {
  const seen = new Set<string>();
  const order: { path: string; args: string }[] = [];
  for (const line of text.split("\n")) {
    const m = /^insmod (\S+)\s*(.*)$/.exec(line.trim());
    if (!m || seen.has(m[1])) continue;
    seen.add(m[1]);
    order.push({ path: m[1], args: m[2].trim() });
  }
  return order;
}

/** One apt-cache call (apt here keeps no pkgcache.bin, so each call re-reads the lists: about 1.5 s). */
async function resolvePackage(): Promise<{ pkg: string; version: string }> {
  const lookup = async () =>
    parseImageDepends(await sh(["apt-cache", "show", "--no-all-versions", "linux-image-amd64"]).catch(() => ""));
  let found = await lookup();
  if (!found) {
    await sh(["apt-get", ...APT, "update", "-qq"]);
    found = await lookup();
  }
  if (!found) throw new Error("kernel tier: apt does not know linux-image-amd64 (no Debian main in the apt sources?)");
  return found;
}

async function download(pkg: string, dir: string): Promise<string> {
  try {
    await sh(["apt-get", ...APT, "download", pkg], { cwd: dir });
  } catch {
    // Stale lists point at a version the mirror dropped: refresh once and retry.
    await sh(["apt-get", ...APT, "update", "-qq"]);
    await sh(["apt-get", ...APT, "download", pkg], { cwd: dir });
  }
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".deb")) return `${dir}/${e.name}`;
  throw new Error(`kernel tier: apt-get download ${pkg} left no .deb`);
}

async function onlyEntry(dir: string): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  if (names.length !== 1) throw new Error(`kernel tier: expected one entry in ${dir}, found ${names.join(", ")}`);
  return names[0];
}

async function extractKernel(deb: string, dest: string, work: string, pkg: string, version: string): Promise<Kernel> {
  const tree = `${work}/tree`;
  await sh(["dpkg-deb", "-x", deb, tree]);
  const release = await onlyEntry(`${tree}/lib/modules`);
  await sh(["depmod", "-b", tree, release]);
  const deps = parseShowDepends(
    await sh(["modprobe", "-d", tree, "-S", release, "--show-depends", "-a", ...GUEST_MODULES]),
  );
  const moduleDir = `${dest}/modules`;
  await Deno.mkdir(moduleDir, { recursive: true });
  const modules: ModuleLoad[] = [];
  for (const { path, args } of deps) {
    const file = path.slice(path.lastIndexOf("/") + 1);
    // busybox insmod hands the file to init_module() as is: compressed modules (Debian >= trixie) would need unpacking.
    if (!file.endsWith(".ko")) throw new Error(`kernel tier: compressed module ${file} is not supported yet`);
    if (modules.some((m) => m.file === file)) throw new Error(`kernel tier: two modules named ${file}`);
    await Deno.copyFile(path, `${moduleDir}/${file}`);
    modules.push({ file, args });
  }
  const vmlinuz = `${dest}/vmlinuz`;
  await Deno.copyFile(`${tree}/boot/vmlinuz-${release}`, vmlinuz);
  return { package: pkg, packageVersion: version, release, vmlinuz, moduleDir, modules };
}

/**
 * Returns the cached kernel for the current `linux-image-amd64`, fetching and preparing it first when missing.
 * `cacheDir` holds one directory per package version; it is written atomically (temp dir, then rename).
 */
export async function fetchKernel(cacheDir: string): Promise<Kernel> {
  const { pkg, version } = await resolvePackage();
  const modulesHash = (await sha256Hex([new TextEncoder().encode(GUEST_MODULES.join(" "))])).slice(0, 8);
  const dest = `${cacheDir}/${pkg}_${version}_${modulesHash}`;
  try {
    return JSON.parse(await Deno.readTextFile(`${dest}/kernel.json`)) as Kernel;
  } catch { /* not cached yet */ }
  await Deno.mkdir(cacheDir, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "dn42op-kt-kernel-" });
  const staging = await Deno.makeTempDir({ dir: cacheDir, prefix: ".staging-" });
  try {
    const deb = await download(pkg, work);
    const k = await extractKernel(deb, staging, work, pkg, version);
    const kernel = { ...k, vmlinuz: `${dest}/vmlinuz`, moduleDir: `${dest}/modules` };
    await Deno.writeTextFile(`${staging}/kernel.json`, JSON.stringify(kernel, null, 2));
    await Deno.chmod(staging, 0o755);
    await Deno.rename(staging, dest).catch(async (e) => {
      if (!(await Deno.stat(`${dest}/kernel.json`).catch(() => null))) throw e; // else: a concurrent run won
    });
    return kernel;
  } finally {
    await Deno.remove(work, { recursive: true });
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}
