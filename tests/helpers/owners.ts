/**
 * A test double of the orphan sweep's owner source (src/node/sweep.ts): the API's objects as a table (key → node and
 * wanted link names), `cached` the keys the agent's node-filtered cache holds, and a switch that makes the API fail.
 * It records which keys were looked up live. The real source (src/controllers/owners.ts) is exercised by the
 * controller and e2e tests against the real API server.
 */
import type { OwnerFact } from "../../src/node/ownership.ts";
import type { OwnerSource } from "../../src/node/sweep.ts";

/** One object of the table. */
export interface FakeOwner {
  node: string;
  names: string[];
}

/** The double; `gets` lists the keys asked for live, `lists` counts live LISTs. */
export interface FakeOwners extends OwnerSource {
  gets: string[];
  lists: number;
}

export function fakeOwners(
  api: Record<string, FakeOwner>,
  o: { cached?: string[]; failing?: boolean } = {},
): FakeOwners {
  const fact = (key: string, linkName: string): OwnerFact => {
    const obj = api[key];
    return obj ? { state: "present", node: obj.node, wants: obj.names.includes(linkName) } : { state: "absent" };
  };
  const self: FakeOwners = {
    gets: [],
    lists: 0,
    cachedKeys: () => o.cached ?? [],
    fact(key, linkName) {
      if (o.cached?.includes(key)) return Promise.resolve(fact(key, linkName));
      self.gets.push(key);
      return Promise.resolve(o.failing ? { state: "unknown", why: "API unreachable" } : fact(key, linkName));
    },
    liveKeys() {
      self.lists++;
      return o.failing ? Promise.reject(new Error("API unreachable")) : Promise.resolve(Object.keys(api));
    },
  };
  return self;
}
