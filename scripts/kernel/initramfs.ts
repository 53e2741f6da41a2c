/**
 * The kernel tier's initramfs: the static busybox, init.sh as /init, the kernel's guest modules and their load order.
 * Cached next to the kernel as `initramfs-<release>-<hash>.cpio.gz`, the hash covering init.sh, the module list and
 * the busybox binary, so a change to any of them builds a new one.
 */
import type { Kernel } from "./fetch-kernel.ts";
import { run as sh } from "../../kit/proc.ts";
import { sha256Hex } from "./hash.ts";

const INIT = new URL("./init.sh", import.meta.url);
const BUSYBOX = "/bin/busybox"; // from busybox-static (statically linked: the initramfs has no libc)

/** The `modules.list` the init script reads: one `FILE ARGS` line per module, in load order. */
export function moduleList(kernel: Kernel): string {
  return kernel.modules.map((m) => `${m.file} ${m.args}`.trimEnd() + "\n").join("");
}

async function stage(dir: string, kernel: Kernel, init: Uint8Array, list: string): Promise<void> {
  for (const d of ["bin", "dev", "proc", "sys", "modules"]) await Deno.mkdir(`${dir}/${d}`);
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  await Deno.symlink("busybox", `${dir}/bin/sh`);
  await Deno.writeFile(`${dir}/init`, init, { mode: 0o755 });
  await Deno.chmod(`${dir}/init`, 0o755);
  await Deno.writeTextFile(`${dir}/modules.list`, list);
  for (const m of kernel.modules) await Deno.copyFile(`${kernel.moduleDir}/${m.file}`, `${dir}/modules/${m.file}`);
  await sh(["mknod", "-m", "600", `${dir}/dev/console`, "c", "5", "1"]); // init's stdio before devtmpfs is mounted
}

/** Returns the path of the initramfs for `kernel`, building it into `cacheDir` when it is not there yet. */
export async function buildInitramfs(kernel: Kernel, cacheDir: string): Promise<string> {
  const init = await Deno.readFile(INIT);
  const list = moduleList(kernel);
  const enc = new TextEncoder();
  const hash = await sha256Hex([init, enc.encode(kernel.release), enc.encode(list), await Deno.readFile(BUSYBOX)]);
  const path = `${cacheDir}/initramfs-${kernel.release}-${hash.slice(0, 16)}.cpio.gz`;
  if (await Deno.stat(path).catch(() => null)) return path;
  const dir = await Deno.makeTempDir({ prefix: "dn42op-kt-initramfs-" });
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await stage(dir, kernel, init, list);
    await sh([
      "bash",
      "-c",
      'set -o pipefail; find . -print0 | cpio --null -o -H newc --quiet | gzip -1 >"$1"',
      "_",
      tmp,
    ], {
      cwd: dir,
    });
    await Deno.rename(tmp, path);
    return path;
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(tmp).catch(() => {});
  }
}
