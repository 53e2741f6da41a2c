import assert from "node:assert/strict";
import { skipUnless } from "../helpers/caps.ts";
import { withHandle } from "./handle.ts";
import { addAddress } from "../../src/netlink/addr.ts";
import { type NetlinkEvent, NetlinkMonitor, watchedSockets } from "../../src/netlink/events.ts";
import { Netns } from "../../src/netlink/netns.ts";
import { withNetns } from "../../kit/netns.ts";
import { createLink, deleteLink, setLink } from "../../src/netlink/link.ts";
import { until } from "../../kit/wait.ts";

const root = skipUnless("root");

/** Waits until `events` holds one matching `pred`; a timeout lists the events that did arrive. */
function seen(events: NetlinkEvent[], pred: (e: NetlinkEvent) => boolean, what: string): Promise<NetlinkEvent> {
  const got = () => Promise.reject(new Error(`got ${JSON.stringify(events.map(brief))}`));
  return until(`event ${what}`, () => events.find(pred) ?? got(), 5000, 5);
}

function brief(e: NetlinkEvent): string {
  if (e.type === "link") return `${e.action}link ${e.link.name}`;
  if (e.type === "address") return `${e.action}addr ${e.address.local}`;
  return "resync";
}

Deno.test({
  name: "monitor delivers link and address events of its namespace only, in order, and stops cleanly",
  ignore: root,
  fn: () =>
    withHandle(async (ns, _t, other) => {
      const events: NetlinkEvent[] = [];
      const mon = NetlinkMonitor.start(ns, (e) => events.push(e));
      try {
        await other.ip("link", "add", "nlother0", "type", "veth", "peer", "name", "nlother1");
        await createLink(ns, { kind: "veth", name: "nle0", peer: { name: "nle1" } });
        await setLink(ns, "nle0", { mtu: 1300, up: true });
        await addAddress(ns, "nle0", { local: "10.98.0.1/24" });
        await addAddress(ns, "nle0", { local: "fd97::1/64", nodad: true });
        // The kernel announces an IPv6 address from its addrconf work queue, after the request returns: a link deleted
        // before that work runs (a busy machine) takes the address along unannounced, with only its deladdr.
        await seen(
          events,
          (e) => e.type === "address" && e.action === "new" && e.address.local === "fd97::1",
          "fd97::1",
        );
        await deleteLink(ns, "nle0");
        await seen(events, (e) => e.type === "link" && e.action === "del" && e.link.name === "nle1", "del nle1");
        assert.ok(events.some((e) => e.type === "link" && e.link.name === "nle0" && e.link.mtu === 1300 && e.link.up));
        const seq = events.map(brief).filter((s) => !s.includes("fe80")); // ignore the kernel's link-local address
        const idx = (s: string) => seq.indexOf(s);
        assert.ok(idx("newlink nle0") >= 0 && idx("newaddr 10.98.0.1") > idx("newlink nle0"), seq.join(","));
        assert.ok(idx("newaddr fd97::1") > idx("newaddr 10.98.0.1"), seq.join(","));
        assert.ok(idx("deladdr 10.98.0.1") > idx("newaddr fd97::1"), seq.join(","));
        assert.ok(seq.lastIndexOf("dellink nle0") > idx("deladdr 10.98.0.1"), seq.join(","));
        assert.ok(!seq.some((s) => s.includes("nlother")), "events of other namespaces are not seen");
        assert.ok(!seq.includes("resync"));
      } finally {
        await mon.stop();
      }
      await mon.done;
    }, 1),
});

Deno.test({
  name: "ENOBUFS becomes a resync event and the monitor keeps delivering afterwards",
  ignore: root,
  fn: () =>
    withHandle(async (ns, t) => {
      const events: NetlinkEvent[] = [];
      const mon = NetlinkMonitor.start(ns, (e) => events.push(e), { rcvbuf: 4096 });
      try {
        // Block the main thread (sync spawn) while the kernel floods the small buffer: nobody drains it.
        const batch = Array.from({ length: 60 }, (_, i) => `link add nlf${i} type veth peer name nlg${i}`).join("\n");
        const f = Deno.makeTempFileSync({ prefix: "dn42op-nl-" });
        try {
          Deno.writeTextFileSync(f, batch + "\n");
          const r = new Deno.Command("ip", { args: ["-n", t.name, "-batch", f] }).outputSync();
          assert.ok(r.success);
        } finally {
          Deno.removeSync(f);
        }
        await seen(events, (e) => e.type === "resync", "resync");
        await createLink(ns, { kind: "bridge", name: "nlafter" });
        await seen(events, (e) => e.type === "link" && e.link.name === "nlafter", "event after resync");
      } finally {
        await mon.stop();
      }
    }),
});

Deno.test({
  name: "a stopped monitor lets the process exit (no pending poll keeps it alive)",
  ignore: root,
  fn: async () => {
    const code = `
      import { Netns } from "${new URL("../../src/netlink/netns.ts", import.meta.url)}";
      import { NetlinkMonitor } from "${new URL("../../src/netlink/events.ts", import.meta.url)}";
      const ns = Netns.host();
      const mon = NetlinkMonitor.start(ns, () => {}, { groups: ["link"] });
      setTimeout(async () => { await mon.stop(); ns.close(); console.log("stopped"); }, 50);
    `;
    const p = new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "piped" }).spawn();
    const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
    const out = await p.output();
    clearTimeout(timer);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "stopped", new TextDecoder().decode(out.stderr));
    assert.equal(out.code, 0, "exited by itself");
  },
});

Deno.test({
  name: "a throwing handler stops the monitor and rejects done without crashing the process",
  ignore: root,
  fn: () =>
    withHandle(async (ns) => {
      const mon = NetlinkMonitor.start(ns, () => {
        throw new Error("handler bug");
      });
      await createLink(ns, { kind: "bridge", name: "nlboom" });
      await assert.rejects(mon.done, /handler bug/);
      await mon.stop();
    }),
});

/** Threads of this process. */
function threads(): number {
  return [...Deno.readDirSync("/proc/self/task")].length;
}

Deno.test({
  name: "monitors of many namespaces share one poll: each gets its own events, no thread per namespace",
  ignore: root,
  fn: () =>
    withNetns(async (...nss) => {
      const handles = nss.map((t) => Netns.byName(t.name));
      const events = handles.map(() => [] as NetlinkEvent[]);
      const before = threads();
      const mons = handles.map((ns, i) => NetlinkMonitor.start(ns, (e) => events[i].push(e)));
      try {
        assert.equal(watchedSockets(), nss.length);
        await Promise.all(nss.map((t, i) => t.ip("link", "add", `sp${i}a`, "type", "veth", "peer", "name", `sp${i}b`)));
        // Both ends: the kernel announces the veth's peer (b) before the link itself (a), so b alone proves nothing of a.
        await Promise.all(
          events.flatMap((ev, i) =>
            [`sp${i}a`, `sp${i}b`].map((n) => seen(ev, (e) => e.type === "link" && e.link.name === n, n))
          ),
        );
        for (const [i, ev] of events.entries()) {
          const names = new Set(ev.flatMap((e) => e.type === "link" ? [e.link.name] : []));
          assert.deepEqual([...names].sort(), [`sp${i}a`, `sp${i}b`], "only its own namespace's links");
        }
        // A poll thread per monitor would add one blocked thread each; the shared poll adds at most a few.
        assert.ok(threads() - before < nss.length / 2, `threads ${before} → ${threads()} for ${nss.length} monitors`);
        await mons[0].stop();
        assert.equal(watchedSockets(), nss.length - 1, "a stopped monitor leaves the poll at once");
        await nss[1].ip("link", "add", "late0", "type", "veth", "peer", "name", "late1");
        await seen(events[1], (e) => e.type === "link" && e.link.name === "late1", "late1 after another stopped");
      } finally {
        for (const m of mons) await m.stop();
        for (const h of handles) h.close();
      }
      assert.equal(watchedSockets(), 0);
    }, { count: 16, tag: "ten" }),
});

Deno.test({
  name: "monitor sync: resolves after every event queued before it was handed over; rejects once stopped",
  ignore: root,
  fn: () =>
    withHandle(async (ns) => {
      const events: NetlinkEvent[] = [];
      const mon = NetlinkMonitor.start(ns, (e) => events.push(e));
      try {
        for (let i = 0; i < 20; i++) {
          const name = `nls${i}`;
          await createLink(ns, { kind: "veth", name, peer: { name: `${name}p` } });
          await setLink(ns, name, { mtu: 1280 + i, up: true });
          // No waiting for the events: the barrier alone must order them (20 rounds, each with new events queued).
          await mon.sync();
          assert.ok(
            events.some((e) => e.type === "link" && e.link.name === name && e.link.mtu === 1280 + i),
            `round ${i}: the MTU change of ${name} was delivered before sync resolved`,
          );
        }
      } finally {
        await mon.stop();
      }
      await assert.rejects(mon.sync(), /monitor stopped/);
      await mon.done;
    }, 1),
});
