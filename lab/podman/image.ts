/**
 * Builds the lab image without a registry: a rootfs holding the static busybox and a symlink per applet,
 * imported with `podman import` (about 2 MB). Cached: nothing happens when the image exists.
 */

import { exec, run } from "../../kit/proc.ts";
import { LAB_IMAGE, type Podman } from "./podman.ts";

/** Where busybox-static installs its binary. */
export const BUSYBOX = "/bin/busybox";

/** Returns true if `path` is a statically linked ELF (the rootfs has no libc). */
async function isStatic(path: string): Promise<boolean> {
  const r = await exec(["ldd", path]);
  return /not a dynamic executable|statically linked/.test(r.stdout + r.stderr);
}

/**
 * Makes sure {@link LAB_IMAGE} (or `image`) exists in podman's store. Returns true if it was built now,
 * false if it was already there. Throws naming the missing piece when busybox is absent or not static.
 */
export async function ensureBusyboxImage(podman: Podman, image = LAB_IMAGE): Promise<boolean> {
  const exists = await exec(["podman", "image", "exists", image], { env: await podman.env() });
  if (exists.code === 0) return false;
  try {
    await Deno.stat(BUSYBOX);
  } catch {
    throw new Error(`lab image: ${BUSYBOX} is missing (package busybox-static: deno task setup containers)`);
  }
  if (!await isStatic(BUSYBOX)) throw new Error(`lab image: ${BUSYBOX} is not statically linked (need busybox-static)`);
  const dir = await Deno.makeTempDir({ prefix: "dn42op-lab-rootfs-" });
  try {
    const root = `${dir}/root`;
    for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "run"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.copyFile(BUSYBOX, `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    const applets = (await run([BUSYBOX, "--list"])).split("\n").map((s) => s.trim()).filter((s) =>
      s && s !== "busybox"
    );
    for (const a of applets) await Deno.symlink("busybox", `${root}/bin/${a}`);
    await Deno.writeTextFile(`${root}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\n");
    await run(["tar", "-C", root, "-cf", `${dir}/rootfs.tar`, "."]);
    await podman.run(
      "import",
      "--change",
      'CMD ["/bin/sh"]',
      "--change",
      "ENV PATH=/bin",
      "--message",
      "dn42op lab busybox",
      `${dir}/rootfs.tar`,
      image,
    );
    return true;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
