/**
 * Placement → network namespace handle (shared by wg-controller and nl-controller).
 *
 * `NamespaceResolver.resolve(placement)` returns a {@link NsTarget}: a cached {@link Netns} handle keyed by the
 * namespace's identity (`st_dev:st_ino` of its nsfs file). A docker container's PID is looked up again once the last
 * lookup is older than `containerLookupTtlMs` (1 s) or its PID no longer has the namespace found then, so a restarted
 * container (new PID, new namespace) yields a new handle at once; within that second the passes that follow one
 * another while an object converges (its own link changes bring it back) ask the runtime once, not each time.
 * Deletions always ask (`fresh`): whether the runtime answers decides between removing and keeping a finalizer. A
 * handle no placement resolves to any more is closed (listeners are told first, e.g. to stop a drift monitor on it).
 *
 * When the container runtime is reached but does not answer in time (a busy daemon), a docker or pod placement keeps
 * the namespace it resolved to last, as long as the PID found then still has that very namespace (the container did
 * not go away or restart meanwhile): a slow lookup is not a missing container.
 *
 * Security: a pid ≤ 1 is refused, and so is any pid/name/path/container that resolves to the agent's own namespace
 * or to the node's (PID 1's) — those are selected only by the "no container" placement, on purpose. Paths are opened
 * with `openNetnsFileAsync` (never blocks on a FIFO or a hung file system; must be an nsfs network namespace) and the
 * refusal is decided on the identity of the namespace actually held, so a symlink swapped after a check cannot land
 * in the host.
 */
import type { Placement } from "../api/placement.ts";
import { closeNetnsFile, Netns, type NetnsFile, openNetnsFile, openNetnsFileAsync } from "../netlink/mod.ts";
import { logger } from "../log/mod.ts";
import { type DockerClient, DockerError, DockerUnreachableError } from "./container.ts";

const log = logger("node", "placement");

/** A namespace path lookup that timed out (a hung file system): whether the target exists is unknown. */
const ETIMEDOUT = 110;

/** Why a placement cannot be used: the target does not exist, or it is refused. */
export type PlacementErrorReason = "PlacementNotFound" | "PlacementForbidden";

/**
 * A placement that cannot be resolved; `message` names the placement and the cause. `transient`: whether the target
 * still exists could not be decided (the container runtime did not answer, the lookup timed out, access was denied),
 * as opposed to a target that is known to be gone — a deletion must not conclude "its links went with it" then.
 */
export class PlacementError extends Error {
  override name = "PlacementError";
  constructor(
    readonly reason: PlacementErrorReason,
    message: string,
    options?: { cause?: unknown; transient?: boolean },
  ) {
    super(message, options);
    this.transient = options?.transient ?? false;
  }
  readonly transient: boolean;
}

/** A resolved namespace. */
export interface NsTarget {
  /** Namespace identity `dev:ino`; equal for every placement that reaches the same namespace. */
  id: string;
  /** The handle (shared; do not close it — the resolver owns it). */
  ns: Netns;
  /** True for the agent's own namespace. */
  isHost: boolean;
  /** Human-readable: `host`, `docker agent1 (pid 123)`, `pid 42`, `netns foo`, a path. */
  label: string;
}

/** Told when a namespace handle opens or is about to close. */
export interface NamespaceListener {
  opened?(t: NsTarget): void;
  /** Awaited before the handle closes. */
  closing?(t: NsTarget): Promise<void> | void;
}

/** Options of {@link NamespaceResolver}. */
export interface NamespaceResolverOptions {
  /** Docker Engine API client for `docker` placements; without it they fail with PlacementNotFound. */
  docker?: DockerClient;
  /** Time limit of a namespace path's lookup (default 5000 ms). */
  openTimeoutMs?: number;
  /** How long a container's PID from the runtime is used without asking again (default 1000 ms; 0: always ask). */
  containerLookupTtlMs?: number;
}

/** A stable text key of a placement (for bookkeeping; not the namespace identity). */
export function placementKey(p: Placement): string {
  switch (p.kind) {
    case "host":
      return "host";
    case "docker":
      return `docker:${p.name}`;
    case "pod":
      return `pod:${p.namespace}/${p.name}`;
    case "pid":
      return `pid:${p.pid}`;
    case "netns-name":
      return `netns:${p.name}`;
    case "netns-path":
      return `path:${p.path}`;
  }
}

/** Human-readable placement, for conditions and logs. */
export function describePlacement(p: Placement): string {
  switch (p.kind) {
    case "host":
      return "the host namespace";
    case "docker":
      return `docker container "${p.name}"`;
    case "pod":
      return `pod "${p.name}" of namespace "${p.namespace}"`;
    case "pid":
      return `netns of pid ${p.pid}`;
    case "netns-name":
      return `netns "${p.name}"`;
    case "netns-path":
      return `netns path ${p.path}`;
  }
}

/** Identity of the node's own namespace (PID 1's); undefined when it cannot be opened (then nothing can reach it). */
function nodeIdentity(): string | undefined {
  try {
    const file = openNetnsFile("/proc/1/ns/net");
    closeNetnsFile(file);
    return file.id;
  } catch {
    return undefined;
  }
}

interface Entry {
  target: NsTarget;
  /** Placement keys currently resolving here. */
  users: Set<string>;
}

/** Resolves placements to cached namespace handles; one per agent. */
export class NamespaceResolver {
  readonly #docker?: DockerClient;
  readonly #byId = new Map<string, Entry>();
  readonly #placementToId = new Map<string, string>();
  readonly #listeners: NamespaceListener[] = [];
  readonly #hostId: string;
  readonly #nodeId?: string;
  readonly #openTimeoutMs: number;
  readonly #lookupTtlMs: number;
  /** Per docker or pod placement key, the container PID of its last successful lookup, and when it was made. */
  readonly #pids = new Map<string, { pid: number; at: number }>();

  constructor(opts: NamespaceResolverOptions = {}) {
    this.#docker = opts.docker;
    this.#openTimeoutMs = opts.openTimeoutMs ?? 5000;
    this.#lookupTtlMs = opts.containerLookupTtlMs ?? 1000;
    const ns = Netns.host();
    this.#hostId = ns.id;
    this.#nodeId = nodeIdentity();
    this.#byId.set(this.#hostId, { target: { id: this.#hostId, ns, isHost: true, label: "host" }, users: new Set() });
  }

  /** The agent's own namespace. */
  get host(): NsTarget {
    return this.#byId.get(this.#hostId)!.target;
  }

  /** Every open namespace (the host first). */
  targets(): NsTarget[] {
    return [...this.#byId.values()].map((e) => e.target);
  }

  /** Registers a listener; it is told about the namespaces already open. */
  listen(l: NamespaceListener): void {
    this.#listeners.push(l);
    for (const t of this.targets()) l.opened?.(t);
  }

  /** The path of the namespace file a placement names (docker: looked up now). */
  async #path(
    p: Exclude<Placement, { kind: "host" }>,
    signal?: AbortSignal,
  ): Promise<{ path: string; label: string; pid?: number }> {
    const where = describePlacement(p);
    switch (p.kind) {
      case "pid":
        if (!Number.isInteger(p.pid) || p.pid <= 1) {
          throw new PlacementError("PlacementForbidden", `${where}: pid must be greater than 1 (pid 1 is the host)`);
        }
        return { path: `/proc/${p.pid}/ns/net`, label: `pid ${p.pid}` };
      case "netns-name":
        if (!p.name || p.name.includes("/") || p.name === "." || p.name === "..") {
          throw new PlacementError("PlacementNotFound", `${where}: invalid namespace name`);
        }
        return { path: `/run/netns/${p.name}`, label: `netns ${p.name}` };
      case "netns-path":
        return { path: p.path, label: p.path };
      case "pod":
        return await this.#containerPath(
          where,
          (d) => d.podPid(p.namespace, p.name, signal),
          `pod ${p.namespace}/${p.name}`,
        );
      case "docker":
        return await this.#containerPath(where, (d) => d.pid(p.name, signal), `docker ${p.name}`);
    }
  }

  /** The namespace path of a container whose PID `lookup` finds through the Docker API. */
  async #containerPath(where: string, lookup: (d: DockerClient) => Promise<number>, label: string) {
    if (!this.#docker) throw new PlacementError("PlacementNotFound", `${where}: no Docker API client configured`);
    try {
      const pid = await lookup(this.#docker);
      return { path: `/proc/${pid}/ns/net`, label: `${label} (pid ${pid})`, pid };
    } catch (e) {
      // The daemon said there is no such (running) container, or the name can never exist: nothing is there.
      const transient = !(e instanceof DockerError) || e.code === "unreachable" || e.code === "api";
      throw new PlacementError("PlacementNotFound", `${where}: ${(e as Error).message}`, { cause: e, transient });
    }
  }

  /**
   * Resolves `p` to a namespace handle. Throws {@link PlacementError}: PlacementNotFound when the target does not
   * exist or is not a network namespace file, PlacementForbidden for pid ≤ 1 or a non-host placement that reaches
   * the agent's own or the node's namespace; once `signal` aborts, its reason instead. `fresh`: ask the container
   * runtime even when a recent lookup could be reused (a deletion, where the runtime's answer decides between removing
   * the link and keeping the finalizer).
   */
  async resolve(p: Placement, signal?: AbortSignal, opts: { fresh?: boolean } = {}): Promise<NsTarget> {
    const pk = placementKey(p);
    if (p.kind === "host") return this.#bind(pk, this.#byId.get(this.#hostId)!);
    const recent = opts.fresh ? undefined : await this.#recentContainer(pk);
    if (recent) return recent;
    let found: { path: string; label: string; pid?: number };
    try {
      found = await this.#path(p, signal);
    } catch (e) {
      // Cancelled (the agent is stopping): not a fact about the placement, so no condition or Event may say so.
      if (signal?.aborted) throw signal.reason ?? e;
      const held = await this.#stillHeld(pk, e);
      if (held) return held;
      throw e;
    }
    const { path, label, pid } = found;
    let file: NetnsFile;
    try {
      file = await openNetnsFileAsync(path, this.#openTimeoutMs);
    } catch (e) {
      await this.#unbind(pk);
      const errno = (e as { errno?: number }).errno;
      throw new PlacementError("PlacementNotFound", `${describePlacement(p)}: ${(e as Error).message}`, {
        cause: e,
        transient: errno === ETIMEDOUT,
      });
    }
    if (file.id === this.#hostId || file.id === this.#nodeId) {
      closeNetnsFile(file);
      await this.#unbind(pk);
      const whose = file.id === this.#hostId ? "the agent's own" : "the node's";
      throw new PlacementError(
        "PlacementForbidden",
        `${describePlacement(p)} resolves to ${whose} network namespace; omit the container to mean the host`,
      );
    }
    let entry = this.#byId.get(file.id);
    if (entry) closeNetnsFile(file);
    else {
      let ns: Netns;
      try {
        ns = Netns.fromFile(file, label);
      } catch (e) {
        throw new PlacementError("PlacementNotFound", `${describePlacement(p)}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      entry = { target: { id: file.id, ns, isHost: false, label }, users: new Set() };
      this.#byId.set(file.id, entry);
      for (const l of this.#listeners) l.opened?.(entry.target);
    }
    const target = await this.#bind(pk, entry);
    if (pid !== undefined) this.#pids.set(pk, { pid, at: Date.now() });
    return target;
  }

  /** The namespace of a container looked up less than the TTL ago whose PID still has it; otherwise undefined. */
  async #recentContainer(pk: string): Promise<NsTarget | undefined> {
    const last = this.#pids.get(pk);
    if (!last || Date.now() - last.at >= this.#lookupTtlMs) return undefined;
    return await this.#heldBy(pk, last.pid);
  }

  /** The entry `pk` is bound to, if PID `pid` still has that namespace. */
  async #heldBy(pk: string, pid: number): Promise<NsTarget | undefined> {
    const entry = this.#byId.get(this.#placementToId.get(pk) ?? "");
    if (!entry) return undefined;
    try {
      const file = await openNetnsFileAsync(`/proc/${pid}/ns/net`, this.#openTimeoutMs);
      closeNetnsFile(file);
      return file.id === entry.target.id ? entry.target : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * After a container lookup that timed out: the namespace `pk` resolved to last, if the PID found then still has
   * that namespace; otherwise undefined (the error stands).
   */
  async #stillHeld(pk: string, e: unknown): Promise<NsTarget | undefined> {
    const timedOut = e instanceof PlacementError && e.cause instanceof DockerUnreachableError && e.cause.timedOut;
    const last = this.#pids.get(pk);
    if (!timedOut || !last) return undefined;
    const held = await this.#heldBy(pk, last.pid);
    if (held) {
      log.v(1).info("container runtime slow; keeping the namespace of the last lookup", {
        target: held.label,
        error: (e as Error).message,
      });
    }
    return held;
  }

  async #bind(pk: string, entry: Entry): Promise<NsTarget> {
    if (this.#placementToId.get(pk) !== entry.target.id) await this.#unbind(pk);
    this.#placementToId.set(pk, entry.target.id);
    entry.users.add(pk);
    return entry.target;
  }

  /** Forgets placement `pk`; closes its namespace when nothing else resolves there. */
  async #unbind(pk: string): Promise<void> {
    this.#pids.delete(pk);
    const old = this.#placementToId.get(pk);
    if (old === undefined) return;
    this.#placementToId.delete(pk);
    const e = this.#byId.get(old);
    if (!e) return;
    e.users.delete(pk);
    if (e.users.size === 0 && !e.target.isHost) await this.#close(e);
  }

  async #close(e: Entry): Promise<void> {
    this.#byId.delete(e.target.id);
    for (const l of this.#listeners) await l.closing?.(e.target);
    e.target.ns.close();
  }

  /** Releases placement `p` (e.g. its object was deleted); the namespace closes when unused. */
  release(p: Placement): Promise<void> {
    return this.#unbind(placementKey(p));
  }

  /** Closes every handle, the host's included. */
  async close(): Promise<void> {
    for (const e of [...this.#byId.values()]) await this.#close(e);
    this.#placementToId.clear();
  }
}
