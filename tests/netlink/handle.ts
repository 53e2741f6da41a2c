/** Test helper: a {@link Netns} handle on a fresh throwaway namespace (`dn42op-nl-…`), closed afterwards. */
import { type TestNetns, withNetns } from "../../kit/netns.ts";
import { Netns } from "../../src/netlink/netns.ts";

/**
 * Runs `fn` with a handle on a new namespace `t`, plus `extra` more namespaces; removes all of them afterwards.
 * `tag` is the namespaces' sub-prefix (`dn42op-<tag>-…`).
 */
export function withHandle(
  fn: (ns: Netns, t: TestNetns, ...more: TestNetns[]) => Promise<void>,
  extra = 0,
  tag = "nl",
): Promise<void> {
  return withNetns(async (t, ...more) => {
    const ns = Netns.byName(t.name);
    try {
      await fn(ns, t, ...more);
    } finally {
      ns.close();
    }
  }, { tag, count: 1 + extra });
}
