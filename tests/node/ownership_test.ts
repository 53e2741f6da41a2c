/** Ownership marks and the sweep's decision (pure; src/node/ownership.ts, src/node/sweep.ts with a double). */
import assert from "node:assert/strict";
import type { Link } from "../../src/netlink/mod.ts";
import {
  type AgentIdentity,
  classifyLink,
  legacyMark,
  MANAGED_GROUP,
  markedKey,
  markRelation,
  type OwnerFact,
  ownerMark,
  parseOwnerMark,
  sweepVerdict,
} from "../../src/node/ownership.ts";
import { judgeLinks } from "../../src/node/sweep.ts";
import { fakeOwners } from "../helpers/owners.ts";

const lax1: AgentIdentity = { kind: "wg", node: "lax1", namespace: "default" };
const lax2: AgentIdentity = { ...lax1, node: "lax2" };
const nl1: AgentIdentity = { ...lax1, kind: "nl" };
const otherInstall: AgentIdentity = { ...lax1, namespace: "tenant-b" };
const allNamespaces: AgentIdentity = { ...lax1, namespace: "" };
const longKey = `default/${"n".repeat(253)}`;
const bytes = (s: string) => new TextEncoder().encode(s).length;

Deno.test("ownerMark: readable with node and scope; hashed when too long or the node is not readable", () => {
  const cases: [AgentIdentity, string, string | RegExp][] = [
    [lax1, "default/wg1", "dn42op:wg:lax1:default:default/wg1"],
    [nl1, "default/veth", "dn42op:nl:lax1:default:default/veth"],
    [allNamespaces, "ns/x", "dn42op:wg:lax1:*:ns/x"],
    [{ ...lax1, node: "" }, "default/x", "dn42op:wg::default:default/x"],
    [lax1, longKey, /^dn42op:wg:#[0-9a-f]{16}:[0-9a-f]{64}$/],
    [{ ...lax1, node: "a:b" }, "default/x", /^dn42op:wg:#[0-9a-f]{16}:[0-9a-f]{64}$/],
    [{ ...lax1, node: "n".repeat(253) }, "default/x", /^dn42op:wg:#/],
  ];
  for (const [a, key, want] of cases) {
    const m = ownerMark(a, key);
    assert.ok(bytes(m) <= 255, m);
    if (typeof want === "string") assert.equal(m, want);
    else assert.match(m, want);
    assert.equal(markRelation(m, a), "ours", `${m} is ${a.node}'s`);
    assert.equal(markedKey(m, a, [key, "default/other"]), key, `${m} names ${key}`);
  }
});

Deno.test("parseOwnerMark: both formats, legacy ones included; anything else is no mark", () => {
  const cases: [string | null, ReturnType<typeof parseOwnerMark>][] = [
    ["dn42op:wg:lax1:default:default/wg1", {
      kind: "wg",
      form: "plain",
      node: "lax1",
      scope: "default",
      key: "default/wg1",
    }],
    [`dn42op:nl:#${"a".repeat(16)}:${"b".repeat(64)}`, {
      kind: "nl",
      form: "hashed",
      tag: "a".repeat(16),
      digest: "b".repeat(64),
    }],
    ["dn42op:wg:default/wg1", { kind: "wg", form: "legacy", key: "default/wg1" }],
    [`dn42op:nl:#${"c".repeat(64)}`, { kind: "nl", form: "legacy", key: null }],
    [null, null],
    ["", null],
    ["my own alias", null],
    ["dn42op:xx:default/a", null],
    ["dn42op:wg:lax1:default:noslash", null],
    [`dn42op:wg:#${"a".repeat(15)}:${"b".repeat(64)}`, null],
  ];
  for (const [alias, want] of cases) assert.deepEqual(parseOwnerMark(alias), want, String(alias));
});

Deno.test("markRelation: ours only for the same kind, node and watched namespace; legacy names no one", () => {
  const m = ownerMark(lax1, "default/wg1");
  const h = ownerMark(lax1, longKey);
  const cases: [string | null, AgentIdentity, string][] = [
    [m, lax1, "ours"],
    [m, lax2, "foreign"],
    [m, nl1, "foreign"],
    [m, otherInstall, "foreign"],
    [m, allNamespaces, "foreign"],
    [h, lax1, "ours"],
    [h, lax2, "foreign"],
    [h, otherInstall, "foreign"],
    [legacyMark("wg", "default/wg1"), lax1, "legacy"],
    [legacyMark("wg", longKey), lax2, "legacy"],
    [legacyMark("nl", "default/wg1"), lax1, "foreign"],
    ["hand-written", lax1, "none"],
    [null, lax1, "none"],
  ];
  for (const [alias, a, want] of cases) assert.equal(markRelation(alias, a), want, `${alias} for ${JSON.stringify(a)}`);
  assert.equal(markedKey(h, lax1, ["default/a"]), undefined, "a hashed mark names no one but its owner");
  assert.equal(markedKey(m, lax2, ["default/wg1"]), undefined, "another node's mark is never resolved");
});

Deno.test("classifyLink: own, legacy (to re-mark), another agent's or object's, unfinished, unmarked", () => {
  const key = "default/x";
  const cases: [{ alias: string | null; group: number } | null, string][] = [
    [null, "absent"],
    [{ alias: ownerMark(lax1, key), group: MANAGED_GROUP }, "owned"],
    [{ alias: legacyMark("wg", key), group: MANAGED_GROUP }, "legacy"],
    [{ alias: legacyMark("wg", longKey), group: MANAGED_GROUP }, "other-owner"],
    [{ alias: ownerMark(lax2, key), group: MANAGED_GROUP }, "other-owner"],
    [{ alias: ownerMark(otherInstall, key), group: MANAGED_GROUP }, "other-owner"],
    [{ alias: ownerMark(lax1, "default/y"), group: MANAGED_GROUP }, "other-owner"],
    [{ alias: legacyMark("nl", key), group: MANAGED_GROUP }, "other-owner"],
    [{ alias: null, group: MANAGED_GROUP }, "unfinished"],
    [{ alias: null, group: 0 }, "unmarked"],
    [{ alias: "someone's note", group: 0 }, "unmarked"],
  ];
  for (const [link, want] of cases) assert.equal(classifyLink(link, lax1, key), want, JSON.stringify(link));
  assert.equal(classifyLink({ alias: legacyMark("wg", longKey), group: 0 }, lax1, longKey), "legacy");
});

Deno.test("sweepVerdict: deletes only our mark with its owner proven gone, moved or renamed", () => {
  const ours = ownerMark(lax1, "default/x");
  const present = (node: string, wants: boolean): OwnerFact => ({ state: "present", node, wants });
  const cases: [string | null, OwnerFact | undefined, boolean, RegExp][] = [
    [ours, { state: "absent" }, true, /no longer exists/],
    [ours, present("lax2", true), true, /now belongs to node "lax2"/],
    [ours, present("lax1", false), true, /no longer wants/],
    [ours, present("lax1", true), false, /wants it/],
    [ours, { state: "unknown", why: "timeout" }, false, /cannot tell.*timeout/],
    [ours, undefined, false, /nothing known/],
    [ownerMark(lax2, "default/x"), { state: "absent" }, false, /another agent/],
    [ownerMark(otherInstall, "default/x"), { state: "absent" }, false, /another agent/],
    [legacyMark("wg", "default/x"), { state: "absent" }, false, /earlier format/],
    ["hand-written", { state: "absent" }, false, /not an ownership mark/],
  ];
  for (const [alias, fact, del, why] of cases) {
    const v = sweepVerdict(alias, lax1, "default/x", fact);
    assert.equal(v.delete, del, `${alias} ${JSON.stringify(fact)}: ${v.why}`);
    assert.match(v.why, why);
  }
});

const link = (name: string, alias: string | null): Link => ({ name, alias, group: MANAGED_GROUP } as Link);

Deno.test("judgeLinks: the cache answers first, a live GET for readable marks, one live LIST for hashed ones", async () => {
  const links = [
    link("wg-cached", ownerMark(lax1, "default/cached")),
    link("wg-renamed", ownerMark(lax1, "default/cached")),
    link("wg-gone", ownerMark(lax1, "default/gone")),
    link("wg-moved", ownerMark(lax1, "default/moved")),
    link("wg-fresh", ownerMark(lax1, "default/fresh")),
    link("wg-lax2", ownerMark(lax2, "default/gone")),
    link("wg-old", legacyMark("wg", "default/gone")),
    link("long1", ownerMark(lax1, longKey)),
    link("long2", ownerMark(lax1, `${longKey}x`)),
    link("veth", ownerMark(nl1, "default/gone")),
    link("eth0", null),
  ];
  const owners = fakeOwners({
    "default/cached": { node: "lax1", names: ["wg-cached"] },
    "default/moved": { node: "lax2", names: ["wg-moved"] },
    "default/fresh": { node: "lax1", names: ["wg-fresh"] }, // newer than the cache
    [longKey]: { node: "lax1", names: ["long1"] },
  }, { cached: ["default/cached"] });
  const judged = await judgeLinks(links, lax1, owners);
  const deleted = judged.filter((j) => j.verdict.delete).map((j) => j.link.name);
  assert.deepEqual(deleted, ["wg-renamed", "wg-gone", "wg-moved", "long2"]);
  assert.deepEqual(judged.map((j) => j.link.name), links.slice(0, 9).map((l) => l.name), "only wg marks judged");
  assert.deepEqual(owners.gets.sort(), ["default/fresh", "default/gone", "default/moved", longKey].sort());
  assert.equal(owners.lists, 1, "one live LIST for both hashed marks");

  const failing = fakeOwners({}, { failing: true });
  const kept = await judgeLinks(links, lax1, failing);
  assert.deepEqual(kept.filter((j) => j.verdict.delete), [], "an API failure deletes nothing");
});
