/**
 * Throwaway network namespaces for tests and benchmarks. Every test that changes links runs inside one:
 * the helper creates it (named with the project prefix), brings its loopback up, and removes it afterwards,
 * also when the test throws. Namespaces are created with iproute2 so that a bug in our own netns code cannot
 * be what protects the machine.
 */
import { run as sh } from "./proc.ts";
import { until } from "./wait.ts";

/** Prefix of every network namespace the project creates. */
export const NETNS_PREFIX = "dn42op-";

/** A throwaway namespace created by {@link withNetns}. */
export interface TestNetns {
  /** Namespace name, e.g. `dn42op-t-3f9a1c`. */
  name: string;
  /** Bind-mount path, usable by our netns module: `/run/netns/<name>`. */
  path: string;
  /** Runs a command inside the namespace (`ip netns exec`), returning stdout; throws with stderr on failure. */
  run(...cmd: string[]): Promise<string>;
  /** Runs `ip -n <name> <args...>` and returns stdout. */
  ip(...args: string[]): Promise<string>;
}

function randomSuffix(): string {
  return crypto.getRandomValues(new Uint8Array(4)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");
}

/** Creates a namespace `dn42op-<tag>-<random>`; the caller must {@link deleteNetns} it. */
export async function createNetns(tag = "t"): Promise<TestNetns> {
  const name = `${NETNS_PREFIX}${tag}-${randomSuffix()}`;
  await sh(["ip", "netns", "add", name]);
  const ns: TestNetns = {
    name,
    path: `/run/netns/${name}`,
    run: (...cmd) => sh(["ip", "netns", "exec", name, ...cmd]),
    ip: (...args) => sh(["ip", "-n", name, ...args]),
  };
  try {
    await ns.ip("link", "set", "lo", "up");
  } catch (e) {
    await deleteNetns(ns);
    throw e;
  }
  return ns;
}

/** Removes a namespace made by {@link createNetns}; kills processes still inside it first (by PID). */
export async function deleteNetns(ns: TestNetns): Promise<void> {
  try {
    const pids = (await sh(["ip", "netns", "pids", ns.name])).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
  } catch { /* namespace may already be gone */ }
  try {
    await sh(["ip", "netns", "del", ns.name]);
  } catch (e) {
    if (!String(e).includes("No such file")) throw e;
  }
}

/** Runs `fn` with `count` fresh namespaces and always removes them afterwards. */
export async function withNetns<T>(
  fn: (...ns: TestNetns[]) => T | Promise<T>,
  opts: { count?: number; tag?: string } = {},
): Promise<T> {
  const made: TestNetns[] = [];
  try {
    for (let i = 0; i < (opts.count ?? 1); i++) made.push(await createNetns(opts.tag));
    return await fn(...made);
  } finally {
    for (const ns of made.reverse()) await deleteNetns(ns);
  }
}

/**
 * Waits until no IPv6 address of `dev` is tentative (duplicate address detection is over, so the address answers);
 * `ip` runs ip(8) where the link is, e.g. `(...a) => ns.ip(...a)`.
 */
export async function dadOver(ip: (...args: string[]) => Promise<string>, dev: string, ms = 30_000): Promise<void> {
  await until(`${dev}: duplicate address detection over`, async () => {
    return !/tentative/.test(await ip("-6", "addr", "show", "dev", dev).catch(() => "tentative"));
  }, ms);
}
