/**
 * Fan-out of rtnetlink notifications to wireguard-go daemons, for bench:scale and bench:daemons.
 *
 * Every wireguard-go holds two rtnetlink multicast sockets in the namespace it started in: its TUN listener
 * (tun/tun_linux.go: RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, groups mask 0x111) and its route listener
 * (device/sticky_linux.go: RTMGRP_IPV4_ROUTE, 0x40). So every link, address or IPv4-route notification of that
 * namespace is delivered to, and wakes, every daemon there. This module counts those notifications with a socket of
 * our own netlink layer ({@link RtnlCounter}), reads the daemons' CPU time, context switches and socket queues from
 * /proc, and measures what one change costs the daemons ({@link fanOut}).
 */
import { Errno, NetlinkError } from "../../src/netlink/errors.ts";
import type { Message } from "../../src/netlink/message.ts";
import type { Netns } from "../../src/netlink/netns.ts";
import { addAddress, createLink, setLink } from "../../src/netlink/mod.ts";
import {
  decodeLink,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
} from "../../src/netlink/rtnl.ts";
import { NETLINK_ROUTE, NetlinkSocket } from "../../src/netlink/socket.ts";

/** rtnetlink multicast group of IPv4 route changes (linux/rtnetlink.h), and its message types. */
const RTNLGRP_IPV4_ROUTE = 7;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
/** Group masks (/proc/net/netlink "Groups") of wireguard-go's TUN listener and route listener. */
const WGGO_GROUP_MASKS = new Set([0x111, 0x40]);

/** What a notification is about. */
export type NotificationKind = "link" | "address" | "route";

/** One notification as {@link RtnlCounter} saw it. */
export interface Notification {
  kind: NotificationKind;
  message: Message;
}

/** Notifications counted so far, by kind. */
export type NotificationCounts = Record<NotificationKind, number>;

function kindOf(type: number): NotificationKind | null {
  if (type === RTM_NEWLINK || type === RTM_DELLINK) return "link";
  if (type === RTM_NEWADDR || type === RTM_DELADDR) return "address";
  if (type === RTM_NEWROUTE || type === RTM_DELROUTE) return "route";
  return null;
}

/**
 * Counts the notifications of the groups wireguard-go listens to (LINK, IPV4_IFADDR, IPV6_IFADDR, IPV4_ROUTE) in one
 * namespace, in kernel order; `onNotification` sees each one. Changes made after {@link start} returns are counted.
 */
export class RtnlCounter {
  readonly counts: NotificationCounts = { link: 0, address: 0, route: 0 };
  /** How often the kernel dropped notifications for our socket (ENOBUFS): counts are then too low. */
  overruns = 0;
  readonly #ns: Netns;
  readonly #sock: NetlinkSocket;
  readonly #onNotification?: (n: Notification) => void;
  #stopping = false;
  readonly #done: Promise<void>;

  private constructor(ns: Netns, onNotification?: (n: Notification) => void) {
    this.#ns = ns;
    this.#onNotification = onNotification;
    const groups = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE];
    this.#sock = ns.open(() => NetlinkSocket.open(NETLINK_ROUTE, { groups, rcvbuf: 32 << 20 }));
    this.#done = this.#run();
  }

  /** Subscribes in `ns` (synchronously). */
  static start(ns: Netns, onNotification?: (n: Notification) => void): RtnlCounter {
    return new RtnlCounter(ns, onNotification);
  }

  /** All notifications counted. */
  get total(): number {
    return this.counts.link + this.counts.address + this.counts.route;
  }

  /** Reads everything queued now, so that {@link counts} holds every notification sent before this call. */
  drain(): void {
    for (;;) {
      let ms: Message[] | null;
      try {
        ms = this.#sock.receiveNow("count rtnetlink notifications");
      } catch (e) {
        if (e instanceof NetlinkError && e.errno === Errno.ENOBUFS) {
          this.overruns++;
          continue;
        }
        throw e;
      }
      if (!ms) return;
      for (const message of ms) {
        const kind = kindOf(message.type);
        if (!kind) continue;
        this.counts[kind]++;
        this.#onNotification?.({ kind, message });
      }
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.drain();
      await this.#sock.waitReadable(100);
    }
  }

  /** Counts what is still queued and closes the socket. */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.#done;
    this.#stopping = true;
    await this.#done;
    this.drain();
    this.#ns.release(this.#sock);
  }
}

/** Clock ticks per second of /proc/PID/stat times. */
const TICK = Number(
  new TextDecoder().decode((await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output()).stdout),
);

/** utime+stime of a process in ms (all threads, including what its exec chain spent before); 0 once it is gone. */
export function cpuMs(pid: number): number {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return 0;
  }
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
}

/**
 * CPU time (ns on the CPU, from each thread's schedstat: exact, where /proc/PID/stat counts 10 ms ticks) and context
 * switches (voluntary + involuntary) of the live threads of a process; zeros once it is gone.
 */
function threadTotals(pid: number): { ns: number; ctxsw: number } {
  const r = { ns: 0, ctxsw: 0 };
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      const dir = `/proc/${pid}/task/${t.name}`;
      r.ns += Number(Deno.readTextFileSync(`${dir}/schedstat`).split(" ")[0]);
      const s = Deno.readTextFileSync(`${dir}/status`);
      for (const m of s.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) r.ctxsw += Number(m[1]);
    }
  } catch { /* exited meanwhile */ }
  return r;
}

/** Total CPU ms and context switches of `pids` (their live threads), and when they were read. */
export interface Sample {
  cpuMs: number;
  ctxsw: number;
  at: number;
}

/** Reads {@link Sample} of `pids` now. */
export function sample(pids: number[]): Sample {
  let ns = 0, cs = 0;
  for (const p of pids) {
    const t = threadTotals(p);
    ns += t.ns;
    cs += t.ctxsw;
  }
  return { cpuMs: ns / 1e6, ctxsw: cs, at: performance.now() };
}

/**
 * Bytes queued on, and notifications dropped by, wireguard-go's rtnetlink sockets in the namespace of process `pid`
 * (every daemon of that namespace: /proc/PID/net/netlink lists all sockets of the process's namespace).
 */
export function daemonSockets(pid: number): { sockets: number; queued: number; drops: number } {
  const r = { sockets: 0, queued: 0, drops: 0 };
  for (const line of Deno.readTextFileSync(`/proc/${pid}/net/netlink`).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/); // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    if (f.length < 10 || f[1] !== "0" || !WGGO_GROUP_MASKS.has(parseInt(f[3], 16))) continue;
    r.sockets++;
    r.queued += Number(f[4]);
    r.drops += Number(f[8]);
  }
  return r;
}

/** Options of {@link fanOut}. */
export interface FanOutOptions {
  /** "link": an MTU change of a veth (setLink); "address": one IPv4 /32 added to it (addAddress). */
  kind: "link" | "address";
  events: number;
  /** Changes per burst; after each burst the daemons' sockets are drained before the next. */
  burst: number;
  /** The daemons' total idle CPU ms and context switches per second, subtracted over the phase. */
  idle: { cpuMsPerS: number; ctxswPerS: number };
  /** First octets of the addresses (kind "address"), distinct per call on one link. */
  addressBase?: string;
}

/** What {@link fanOut} measured; per event = per change made, per daemon = divided by the number of daemons. */
export interface FanOutResult {
  /** Daemon CPU µs per change per daemon, idle-corrected. */
  us: number;
  /** Daemon context switches per change per daemon, idle-corrected. */
  ctxsw: number;
  /** rtnetlink notifications (of wireguard-go's groups) per change. */
  notifications: number;
  /** Notifications the daemons' sockets dropped during the phase (their receive queues overflowed). */
  drops: number;
  /** Phase wall time in s (bursts + draining). */
  wall_s: number;
}

/**
 * Makes `events` changes on the veth `dev` in `ns` (where the daemons `pids` hold their netlink sockets) in bursts,
 * waits after each burst until every daemon socket of the namespace is drained, then settles 200 ms, and reports
 * what the daemons spent per change per daemon, minus their idle rate over the phase.
 */
export async function fanOut(ns: Netns, dev: string, pids: number[], o: FanOutOptions): Promise<FanOutResult> {
  const counter = RtnlCounter.start(ns);
  const probe = pids[0];
  const drops0 = daemonSockets(probe).drops;
  const s0 = sample(pids);
  try {
    for (let i = 0; i < o.events;) {
      for (const end = Math.min(o.events, i + o.burst); i < end; i++) {
        if (o.kind === "link") await setLink(ns, dev, { mtu: 1400 + (i % 50) });
        else await addAddress(ns, dev, { local: `${o.addressBase ?? "10.250"}.${i >> 8}.${i & 255}/32` });
      }
      const deadline = performance.now() + 60_000;
      while (daemonSockets(probe).queued > 0) {
        if (performance.now() > deadline) throw new Error(`fan-out ${o.kind}: daemon sockets not drained in 60 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    await counter.stop();
  }
  const s1 = sample(pids);
  const s = (s1.at - s0.at) / 1000;
  const per = o.events * pids.length;
  return {
    us: ((s1.cpuMs - s0.cpuMs - o.idle.cpuMsPerS * s) * 1000) / per,
    ctxsw: (s1.ctxsw - s0.ctxsw - o.idle.ctxswPerS * s) / per,
    notifications: counter.total / o.events,
    drops: daemonSockets(probe).drops - drops0,
    wall_s: s,
  };
}

/** Creates the veth pair `name`/`name`p (down) in `ns` for {@link fanOut}; it goes with the namespace. */
export async function fanOutVeth(ns: Netns, name: string): Promise<void> {
  await createLink(ns, { kind: "veth", name, peer: { name: `${name}p` } });
}

/** Names of the rtnetlink message types {@link WakeupTally} counts. */
const TYPE_NAMES: Record<number, string> = {
  [RTM_NEWLINK]: "newlink",
  [RTM_DELLINK]: "dellink",
  [RTM_NEWADDR]: "newaddr",
  [RTM_DELADDR]: "deladdr",
  [RTM_NEWROUTE]: "newroute",
  [RTM_DELROUTE]: "delroute",
};

/**
 * The notifications of a namespace where wireguard-go daemons are being started, and how many daemon wake-ups they
 * cause: each notification is delivered to every daemon alive at that moment. A daemon opens its sockets right
 * after it creates its TUN, so the daemons alive at a notification are the TUNs named `devicePrefix`… created
 * before it in this namespace (a TUN moved away keeps its daemon, and its sockets, here).
 */
export class WakeupTally {
  /** TUNs (daemons) seen created. */
  daemons = 0;
  /** Σ over notifications of the daemons alive at it. */
  wakeups = 0;
  /** Notifications by message type (newlink, dellink, newaddr, …). */
  readonly byType: Record<string, number> = {};
  readonly counter: RtnlCounter;
  readonly #seen = new Set<string>();

  constructor(ns: Netns, devicePrefix: string) {
    this.counter = RtnlCounter.start(ns, ({ message }) => {
      const type = TYPE_NAMES[message.type];
      this.byType[type] = (this.byType[type] ?? 0) + 1;
      this.wakeups += this.daemons;
      if (message.type !== RTM_NEWLINK) return;
      const name = decodeLink(message).name;
      if (name.startsWith(devicePrefix) && !this.#seen.has(name)) {
        this.#seen.add(name);
        this.daemons++;
      }
    });
  }
}
