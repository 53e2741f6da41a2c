/** Where the kernel tier and the kernel lab find the repository and keep their downloads and caches. */

/** Root of this repository. */
export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** The kernel and initramfs cache: `dir` if given, else $DN42OP_KERNEL_CACHE, else /var/cache/dn42op/kernel-tier. */
export function kernelCacheDir(dir?: string): string {
  return dir ?? Deno.env.get("DN42OP_KERNEL_CACHE") ?? "/var/cache/dn42op/kernel-tier";
}
