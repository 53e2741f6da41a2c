/**
 * wireguard-tools' `wg` for one device as seen from namespace `ns`. `wg` looks for userspace devices only in the
 * fixed /var/run/wireguard; a wireguard-go started by src/wireguard/wggo.ts has its socket there only inside its own
 * mount namespace, so for a device whose daemon has a PID file in `stateDir` the command runs in that mount
 * namespace (`nsenter --mount`); a kernel device is reached from `ns` directly.
 */
import type { TestNetns } from "../../kit/netns.ts";

/** Runs `wg <sub> <dev> <rest…>` and returns its output (throws on failure). */
export async function wg(
  ns: TestNetns,
  stateDir: string,
  sub: string,
  dev: string,
  ...rest: string[]
): Promise<string> {
  const pid = Number((await Deno.readTextFile(`${stateDir}/${dev}.pid`).catch(() => "")).trim());
  const mnt = Number.isInteger(pid) && pid > 1 ? ["nsenter", `--mount=/proc/${pid}/ns/mnt`, "--"] : [];
  return await ns.run(...mnt, "wg", sub, dev, ...rest);
}
