/**
 * Installs what the project needs on a bare machine of this kind, idempotently: Debian packages per profile,
 * and a Go toolchain check. Fast when everything is present (one dpkg-query call).
 *
 * Usage: deno run -A scripts/setup.ts [profile...]   (default: base)
 */
import { exec } from "../kit/proc.ts";

/** Debian packages by profile; a capability that needs more adds a profile here. */
export const PROFILES: Record<string, string[]> = {
  base: [
    "libnl-3-200",
    "libnl-route-3-200",
    "iproute2",
    "iputils-ping",
    "wireguard-go",
    "wireguard-tools",
    "openssl",
    "util-linux",
  ],
  /**
   * The real-kernel test tier (deno task test:kernel): QEMU TCG, a static busybox for the initramfs, cpio, depmod;
   * socat carries each guest connection to the host's API server (the kernel lab, lab/kernel/).
   */
  kernel: ["qemu-system-x86", "busybox-static", "cpio", "kmod", "gzip", "socat"],
  /** The mesh lab's NAT router (iptables inside its namespace) and the NAT drill's `conntrack -F`. */
  mesh: ["iptables", "conntrack"],
  /** Graphviz's dot: `dn42op graph -o svg` and the lab's topology picture. */
  graph: ["graphviz"],
  /** Headless Chromium: the test that opens the CLI's SVG and takes a screenshot. */
  browser: ["chromium", "fonts-dejavu-core"],
  /** Podman with its Docker-compatible API for the lab and container tests (docs/testbed.md). */
  containers: [
    "podman",
    "crun",
    "runc",
    "catatonit",
    "conmon",
    "uidmap",
    "netavark",
    "aardvark-dns",
    "iptables",
    "busybox-static",
  ],
  /** `deno task image`: the image's Debian base made from Debian's packages (deploy/image/packages.txt). */
  image: ["mmdebstrap"],
};

/** Returns the packages of the list that dpkg does not report as installed. */
export async function missingPackages(pkgs: string[]): Promise<string[]> {
  const r = await exec(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", ...pkgs]);
  const installed = new Set(
    r.stdout.split("\n").filter((l) => l.endsWith(" installed")).map((l) => l.split(" ")[0].split(":")[0]),
  );
  return pkgs.filter((p) => !installed.has(p));
}

/** Installs the packages of the given profiles that are missing. Throws with apt's output on failure. */
export async function ensureProfiles(profiles: string[]): Promise<void> {
  const wanted = [
    ...new Set(profiles.flatMap((p) => {
      const list = PROFILES[p];
      if (!list) throw new Error(`setup: unknown profile ${p}`);
      return list;
    })),
  ];
  const missing = await missingPackages(wanted);
  if (missing.length === 0) return;
  console.error(`setup: installing ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const lock = ["-o", "DPkg::Lock::Timeout=600"];
  const upd = await exec(["apt-get", ...lock, "update", "-qq"], { env });
  if (upd.code !== 0) throw new Error(`setup: apt-get update failed:\n${upd.stdout}${upd.stderr}`);
  const inst = await exec(["apt-get", ...lock, "install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  if (inst.code !== 0) throw new Error(`setup: apt-get install failed:\n${inst.stdout}${inst.stderr}`);
}

/** Returns the path of a Go toolchain ≥ 1.24, or throws saying what is missing. */
export async function goBinary(): Promise<string> {
  for (const candidate of ["/usr/local/go/bin/go", "go"]) {
    try {
      const r = await exec([candidate, "env", "GOVERSION"]);
      const m = /^go1\.(\d+)/.exec(r.stdout.trim());
      if (r.code === 0 && m && Number(m[1]) >= 24) return candidate;
    } catch { /* not found */ }
  }
  throw new Error("setup: a Go toolchain >= 1.24 is required (expected at /usr/local/go/bin/go)");
}

if (import.meta.main) {
  const profiles = Deno.args.length ? Deno.args : ["base"];
  try {
    await ensureProfiles(profiles);
    console.error(`setup: ${profiles.join(", ")} ready`);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
