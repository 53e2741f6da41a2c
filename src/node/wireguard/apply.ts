/**
 * Executor: brings one WireGuard link to its desired state on this node, through src/netlink and src/wireguard.
 *
 * Placement (docs/design.md): a link that belongs in another namespace is created in the agent's host
 * namespace (where the underlay is, so the WireGuard UDP socket lives there), configured with the full device
 * configuration, and moved; then MTU, addresses and admin state are applied in the target namespace, and every
 * later WireGuard change goes through a client opened in the target namespace. With wireguard-go the daemon is
 * started in the host namespace (its socket stays there), its TUN is moved, and it is configured over its UAPI
 * socket. A link created in the host but not yet moved (a crash in between) is picked up by its ownership mark.
 *
 * Ownership (src/node/ownership.ts): only links carrying this agent's mark for the object (or the object's mark of
 * the earlier format, which is re-marked) are changed or deleted; an unmarked WireGuard link with the wanted name is
 * adopted only when it already matches the spec exactly, anything else is a {@link LinkConflictError}. The orphan
 * sweep deletes only what src/node/sweep.ts judges this agent's and no longer wanted.
 *
 * A TUN link of ours that no wireguard-go of this agent serves (its daemon runs elsewhere: started by an earlier
 * version with the shared socket directory, see src/wireguard/wggo.ts) cannot be configured: it is replaced, and
 * the old daemon exits when its TUN is deleted.
 */
import {
  addAddress,
  createLink,
  deleteAddress,
  deleteLink,
  getLink,
  type Link,
  listAddresses,
  listLinks,
  type Netns,
  setLink,
} from "../../netlink/mod.ts";
import type { LinkAddress } from "../../api/addresses.ts";
import { type BackendChoice, describeUpdate, openWireGuard, type WireGuardClient } from "../../wireguard/client.ts";
import { diffDevice } from "../../wireguard/diff.ts";
import { DeviceNotFoundError } from "../../wireguard/errors.ts";
import { publicKeyOf, type WireGuardKey } from "../../wireguard/key.ts";
import type { DeviceConfig, DeviceState } from "../../wireguard/model.ts";
import type { Endpoint } from "../../wireguard/addr.ts";
import {
  DEFAULT_STATE_DIR,
  findWireGuardGo,
  stopWireGuardGo,
  trimLogs,
  type WireGuardGoOptions,
} from "../../wireguard/wggo.ts";
import { type AgentIdentity, classifyLink, MANAGED_GROUP, ownerMark, type Ownership } from "../ownership.ts";
import { judgeLinks, type OwnerSource } from "../sweep.ts";
import { type Adoption, mayChange, notOursMessage } from "../adoption.ts";
import { type WgDesired, withHeldPeers, withLearnedEndpoints } from "./desired.ts";
import { kickFirstHandshakes } from "./kick.ts";
import { describeLinkOp, type LinkOp, planLink } from "./diff.ts";
import { type AppliedEndpoints, keepRoamed, specEndpoints } from "./roaming.ts";
import type { WgObserved } from "./status.ts";
import { logger } from "../../log/mod.ts";
import { trace } from "../../log/trace.ts";

const log = logger("node", "wireguard");

/**
 * The wireguard-go state directory of an agent when none is configured: `<base>/<namespace>/<node>` (`_all` for all
 * namespaces), so that agents sharing a host — two nodes' wg-controllers, installs watching other namespaces — never
 * see each other's daemons (src/wireguard/wggo.ts keeps each directory's UAPI sockets apart too).
 */
export function agentStateDir(agent: Omit<AgentIdentity, "kind">, base = DEFAULT_STATE_DIR): string {
  const segment = (s: string) => /^\.{0,2}$/.test(s) ? `_${s.replaceAll(".", "%2E")}` : encodeURIComponent(s);
  return `${base}/${agent.namespace === "" ? "_all" : segment(agent.namespace)}/${segment(agent.node)}`;
}

/** A link with the wanted name exists and is not ours (another object's, or foreign and different). */
export class LinkConflictError extends Error {
  override name = "LinkConflictError";
  readonly reason = "LinkConflict";
}

/** Options of {@link WgNode}. */
export interface WgNodeOptions {
  /** The agent whose marks this node writes and honours (`-nodename`, `-namespace`). */
  agent: Omit<AgentIdentity, "kind">;
  /** WireGuard backend: automatic (kernel if the genl family exists, else wireguard-go), or forced. */
  backend?: BackendChoice;
  /** wireguard-go settings (state directory, binary). */
  wireguardGo?: Omit<WireGuardGoOptions, "netnsPath">;
}

/** Outcome of {@link WgNode.ensure}. */
export interface EnsureResult {
  /** What was done (or, in dry-run, would be done), in order; empty when nothing had to change. */
  actions: string[];
  created: boolean;
  adopted: boolean;
  /** The link as observed afterwards (absent only in dry-run before creation). */
  observed?: WgObserved;
  /** True when a fresh observation matches the desired state. */
  converged: boolean;
}

function addressSpec(a: LinkAddress) {
  return a.peer === undefined ? { local: `${a.local}/${a.prefixlen}` } : {
    local: a.local,
    peer: `${a.peer}/${a.prefixlen}`,
  };
}

/** WireGuard links of one node agent; `host` is the agent's own namespace (the underlay). */
export class WgNode {
  readonly #clients = new Map<Netns, WireGuardClient>();
  readonly #opts: WgNodeOptions;
  readonly #agent: AgentIdentity;
  /** Per device name, the public key derived from its private key (wireguard-go does not report it). */
  readonly #publicKeys = new Map<string, { privateKey: WireGuardKey; publicKey: WireGuardKey }>();
  /** Per object, the spec endpoints in place after its last pass (src/node/wireguard/roaming.ts). */
  readonly #endpoints = new Map<string, AppliedEndpoints>();
  /**
   * Per object, its TUN link (namespace id/ifindex) last seen served by a wireguard-go of ours. A TUN lives only as
   * long as the daemon holding it open, so the same link needs no second look at every poll.
   */
  readonly #served = new Map<string, string>();

  constructor(readonly host: Netns, opts: WgNodeOptions) {
    this.#opts = opts;
    this.#agent = { kind: "wg", ...opts.agent };
  }

  /** The WireGuard client of a namespace (cached per handle; {@link forget} it when the handle closes). */
  client(ns: Netns): WireGuardClient {
    let c = this.#clients.get(ns);
    if (!c) {
      c = openWireGuard(ns, { backend: this.#opts.backend, userspace: this.#opts.wireguardGo });
      this.#clients.set(ns, c);
    }
    return c;
  }

  /** Drops the cached client of a closing namespace handle. */
  forget(ns: Netns): void {
    this.#clients.delete(ns);
  }

  /** Reads link, addresses and (if readable) the device of `name` in `ns`; undefined when the link is absent. */
  async observe(ns: Netns, name: string): Promise<WgObserved | undefined> {
    const link = await getLink(ns, name);
    if (!link) return undefined;
    const addresses = await listAddresses(ns, link.index);
    return { link, addresses, ...await this.#readDevice(ns, name) };
  }

  /** The device `name` in `ns` with its backend kind; empty when no device serves the link. */
  async #readDevice(ns: Netns, name: string): Promise<Pick<WgObserved, "device" | "backend">> {
    try {
      const backend = await this.client(ns).backendFor(name);
      const device = await backend.getDevice(name);
      // wireguard-go's UAPI reports no public key; derive it (status publishes it, never the private key), once
      // per device and key: a poll of every device would otherwise pay an X25519 derivation each.
      if (!device.publicKey && device.privateKey && !device.privateKey.isZero()) {
        const known = this.#publicKeys.get(name);
        if (known?.privateKey.equals(device.privateKey)) device.publicKey = known.publicKey;
        else {
          device.publicKey = await publicKeyOf(device.privateKey);
          this.#publicKeys.set(name, { privateKey: device.privateKey, publicKey: device.publicKey });
        }
      }
      return { device, backend: backend.kind };
    } catch (e) {
      if (e instanceof DeviceNotFoundError) return {};
      throw e;
    }
  }

  /**
   * Brings `desired` about for object `owner` ("namespace/name") in `target`. With `dryRun` nothing is changed
   * and `actions` lists what would be done. A device that has to be created gets the endpoints in `learned` (by
   * peer public key) for peers whose spec names none: what the previous device had learned (never a spec override).
   * `settle` runs after the changes and right before the final observation (the drift monitor's barrier,
   * src/node/monitor.ts: the events of the changes are then covered by that observation).
   */
  async ensure(
    owner: string,
    desired: WgDesired,
    target: Netns,
    dryRun = false,
    learned: ReadonlyMap<string, Endpoint> = new Map(),
    adoption: Adoption = { key: owner, links: new Set() },
    settle?: () => Promise<void>,
  ): Promise<EnsureResult> {
    const name = desired.name;
    const mark = ownerMark(this.#agent, owner);
    const r: EnsureResult = { actions: [], created: false, adopted: false, converged: false };
    let link = await getLink(target, name);
    let state = await this.#classify(target, link, owner);
    if (state === "other-owner") {
      throw new LinkConflictError(`link ${name} in ${target.label} belongs to another owner (${link!.alias})`);
    }
    if (state === "unmarked") {
      if (!mayChange(link!, this.#agent, adoption)) {
        throw new LinkConflictError(notOursMessage("adopt", name, target.label, owner));
      }
      await this.#adopt(link!, desired, target, mark, r, dryRun);
      if (dryRun) return r;
      link = await getLink(target, name);
      state = "owned";
    }
    if (state === "unfinished" || state === "legacy") {
      await this.#claim(target, name, mark, r, dryRun);
      state = "owned";
    }
    if (state === "owned" && await this.#unserved(owner, target, link!)) {
      r.actions.push(`replace ${name} in ${target.label}: no wireguard-go of this agent serves it`);
      if (dryRun) return r;
      await deleteLink(target, link!.index).catch(ignoreNotFound);
      state = "absent";
    }
    const initial = learned.size ? withLearnedEndpoints(desired.device, learned) : desired.device;
    let configuredAt: number | undefined; // when a new device's peers were configured (sent their first initiations)
    if (state === "absent") {
      configuredAt = await this.#create(owner, desired, initial, target, r, dryRun);
      if (dryRun) return r;
      link = await getLink(target, name);
      if (!link) throw new Error(`link ${name} vanished from ${target.label} right after it was created`);
    }
    const addresses = await listAddresses(target, link!.index);
    const ops = planLink(desired, { mtu: link!.mtu, up: link!.up, addresses });
    if (!dryRun && ops.length) {
      await this.#applyLinkOps(target, name, ops);
      trace(log, "link-configured", owner);
    }
    r.actions.push(...ops.map(describeLinkOp));
    // One device read decides whether anything must be sent; a device that already matches is not touched, and
    // when nothing at all changed, what was read IS the observation (a steady-state poll reads each fact once).
    // Endpoints the device learned from a live session are not drift.
    const read = await this.#readDevice(target, name);
    const wanted = read.device
      ? keepRoamed(
        withHeldPeers(desired.device, read.device, desired.heldPeers),
        read.device,
        this.#endpoints.get(owner),
        Date.now(),
      )
      : desired.device;
    const updates = read.device ? diffDevice(wanted, read.device, { allowedIpRemoval: "remove-me" }) : [];
    if (dryRun) {
      r.actions.push(...(read.device ? updates.map(describeUpdate) : ["configure WireGuard device"]));
      return r;
    }
    const client = this.client(target);
    if (!read.device || updates.length > 0) {
      const applied = await client.apply(name, r.created ? initial : wanted, read.device);
      if (r.created) configuredAt ??= Date.now();
      r.actions.push(...applied.updates.map(describeUpdate));
      if (applied.updates.length) trace(log, "device-configured", owner);
    }
    this.#endpoints.set(owner, specEndpoints(desired.device));
    if (r.created) void kickFirstHandshakes(client, name, initial.peers, { since: configuredAt });
    if (r.actions.length) await settle?.();
    r.observed = r.actions.length === 0 ? { link: link!, addresses, ...read } : await this.observe(target, name);
    r.converged = isConverged({ ...desired, device: wanted }, r.observed);
    return r;
  }

  /**
   * {@link classifyLink}, plus one case only this agent can tell: an unmarked TUN in the host namespace served by a
   * wireguard-go that this agent started (its PID file in our state directory) is ours, left unfinished by a crash
   * between starting the daemon and writing the mark (wireguard-go creates the TUN, so the group cannot be sent
   * with the creation).
   */
  async #classify(ns: Netns, link: Link | null, owner: string): Promise<Ownership> {
    const state = classifyLink(link, this.#agent, owner);
    if (state !== "unmarked" || ns !== this.host || link!.kind !== "tun" || link!.alias) return state;
    return (await this.#daemon(link!.name)) ? "unfinished" : state;
  }

  /** A TUN that neither a daemon in our state directory nor a socket in our socket directory serves. */
  async #unserved(owner: string, ns: Netns, link: Link): Promise<boolean> {
    if (link.kind !== "tun" || this.#opts.backend === "kernel") return false;
    const id = `${ns.id}/${link.index}`;
    if (this.#served.get(owner) === id) return false;
    if (!(await this.client(this.host).userspace.hasDevice(link.name)) && !(await this.#daemon(link.name))) return true;
    this.#served.set(owner, id);
    return false;
  }

  /** Writes the mark and group on an unfinished link of ours. */
  async #claim(ns: Netns, name: string, mark: string, r: EnsureResult, dryRun: boolean): Promise<void> {
    if (!dryRun) await setLink(ns, name, { alias: mark, group: MANAGED_GROUP });
    r.actions.push(`mark ${name} in ${ns.label}`);
  }

  async #adopt(link: Link, desired: WgDesired, ns: Netns, mark: string, r: EnsureResult, dryRun: boolean) {
    const where = `${link.name} in ${ns.label}`;
    const observed = await this.observe(ns, link.name);
    if (!observed?.device || !isConverged(desired, observed)) {
      throw new LinkConflictError(`an unmanaged link ${where} exists and does not match the spec; not touching it`);
    }
    if (!dryRun) await setLink(ns, link.name, { alias: mark, group: MANAGED_GROUP });
    r.adopted = true;
    r.actions.push(`adopt ${where}`);
  }

  async #create(
    owner: string,
    desired: WgDesired,
    initial: DeviceConfig,
    target: Netns,
    r: EnsureResult,
    dryRun: boolean,
  ): Promise<number | undefined> {
    const name = desired.name;
    const mark = () => ownerMark(this.#agent, owner);
    const moving = target !== this.host;
    const host = this.client(this.host);
    // A link of ours left in the host by a crash between create and move is reused.
    const leftover = moving ? await this.#classify(this.host, await getLink(this.host, name), owner) : "absent";
    if (leftover === "other-owner" || leftover === "unmarked") {
      throw new LinkConflictError(`link ${name} exists in the host namespace and is not this object's`);
    }
    if (leftover === "unfinished" || leftover === "legacy") await this.#claim(this.host, name, mark(), r, dryRun);
    if (leftover === "absent") {
      const backend = await host.backendFor(name);
      r.actions.push(`create ${name} (${backend.kind})`);
      if (!dryRun) {
        if (backend.kind === "kernel") {
          await createLink(this.host, {
            kind: "wireguard",
            name,
            mtu: desired.mtu,
            alias: mark(),
            group: MANAGED_GROUP,
          });
        } else {
          // A daemon of this name still serving a TUN elsewhere (a namespace that is going away) must exit first.
          // (One that died is cleared by createDevice itself.)
          if (await this.#daemon(name)) throw new Error(`wireguard-go ${name} still serves a device elsewhere`);
          await host.userspace.createDevice(name);
          // No MTU here: the link plan sets it where the link ends up. Every link change in the host namespace
          // wakes every wireguard-go running there (bench:daemons), so the host sees only what must happen there.
          await setLink(this.host, name, { alias: mark(), group: MANAGED_GROUP });
        }
        trace(log, "device-created", owner);
      }
    }
    r.created = true;
    if (!moving) return;
    r.actions.push(`configure ${name} in the host namespace`, `move ${name} to ${target.label}`);
    if (dryRun) return;
    await host.apply(name, initial);
    const configuredAt = Date.now();
    trace(log, "device-configured", owner);
    await setLink(this.host, name, { netns: target });
    trace(log, "device-moved", owner);
    return configuredAt;
  }

  async #applyLinkOps(ns: Netns, name: string, ops: LinkOp[]): Promise<void> {
    for (const op of ops) {
      switch (op.op) {
        case "set-mtu":
          await setLink(ns, name, { mtu: op.mtu });
          break;
        case "set-up":
          await setLink(ns, name, { up: true });
          break;
        case "del-address":
          await deleteAddress(ns, name, addressSpec(op.address));
          break;
        case "add-address":
          await addAddress(ns, name, addressSpec(op.address));
          break;
      }
    }
  }

  /**
   * Removes object `owner`'s link `name` from `target` (if given and reachable) and from the host (a link not yet
   * moved), and stops its wireguard-go. Links without this object's mark (ours or of the earlier format) are left
   * alone. Returns what was done.
   */
  async remove(owner: string, name: string, target?: Netns, dryRun = false): Promise<string[]> {
    const actions: string[] = [];
    if (!dryRun) {
      this.#endpoints.delete(owner);
      this.#served.delete(owner);
      this.#publicKeys.delete(name);
    }
    let foreign = false;
    for (const ns of new Set([target, this.host])) {
      if (!ns) continue;
      const link = await getLink(ns, name);
      const state = classifyLink(link, this.#agent, owner);
      if (state === "owned" || state === "legacy") {
        actions.push(`delete ${name} in ${ns.label}`);
        if (!dryRun) await this.#deleteOwned(ns, link!);
      } else if (state !== "absent") foreign = true;
    }
    // Our daemon serves the name machine-wide; stop it unless the name is now someone else's link.
    if (!foreign && await this.#daemon(name)) {
      actions.push(`stop wireguard-go ${name}`);
      if (!dryRun) await this.#stopDaemon(name);
    }
    return actions;
  }

  async #deleteOwned(ns: Netns, link: Link): Promise<void> {
    if (link.kind === "tun" && await this.#daemon(link.name)) await this.#stopDaemon(link.name);
    if (await getLink(ns, link.index)) await deleteLink(ns, link.index).catch(ignoreNotFound);
  }

  #daemon(name: string) {
    return findWireGuardGo(name, this.#opts.wireguardGo);
  }

  async #stopDaemon(name: string): Promise<void> {
    const d = await this.#daemon(name);
    if (d) await stopWireGuardGo(d, this.#opts.wireguardGo);
  }

  /**
   * Deletes the links of `ns` that src/node/sweep.ts judges this agent's orphans (mark ours, owner gone, moved to
   * another node or no longer wanting the link, as `owners` proves). Returns what was done.
   */
  async sweep(ns: Netns, owners: OwnerSource, dryRun = false): Promise<string[]> {
    const actions: string[] = [];
    for (const { link, verdict } of await judgeLinks(await listLinks(ns), this.#agent, owners)) {
      if (!verdict.delete) continue;
      actions.push(`delete orphan ${link.name} in ${ns.label} (${verdict.why})`);
      if (!dryRun) await this.#deleteOwned(ns, link);
    }
    return actions;
  }

  /**
   * Stops the wireguard-go daemons of our state directory (this agent's alone) that `unwanted` confirms no object
   * wants; it gets the names of the running ones. Returns what was done.
   */
  async sweepDaemons(unwanted: (names: string[]) => Promise<Iterable<string>>, dryRun = false): Promise<string[]> {
    const dir = this.#opts.wireguardGo?.stateDir ?? DEFAULT_STATE_DIR;
    await trimLogs(dir);
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch { /* no daemons started yet */ }
    const running: string[] = [];
    for (const e of entries) {
      const name = e.isFile && e.name.endsWith(".pid") ? e.name.slice(0, -4) : "";
      if (name && await this.#daemon(name)) running.push(name);
    }
    const actions: string[] = [];
    if (!running.length) return actions;
    for (const name of await unwanted(running)) {
      actions.push(`stop orphan wireguard-go ${name}`);
      if (!dryRun) await this.#stopDaemon(name);
    }
    return actions;
  }
}

function ignoreNotFound(e: unknown): void {
  if (!(e as { notFound?: boolean }).notFound) throw e;
}

/** True when the observation matches the desired link and device state. */
export function isConverged(desired: WgDesired, o: WgObserved | undefined): boolean {
  if (!o?.device) return false;
  if (planLink(desired, { mtu: o.link.mtu, up: o.link.up, addresses: o.addresses }).length > 0) return false;
  return deviceMatches(desired, o.device);
}

function deviceMatches(desired: WgDesired, dev: DeviceState): boolean {
  const want = withHeldPeers(desired.device, dev, desired.heldPeers);
  return diffDevice(want, dev, { allowedIpRemoval: "remove-me" }).length === 0;
}
