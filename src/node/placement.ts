/**
 * Placement → network namespace handle (shared by wg-controller and nl-controller).
 *
 * `NamespaceResolver.resolve(placement)` returns a {@link NsTarget}: a cached {@link Netns} handle keyed by the
 * namespace's identity (`st_dev:st_ino` of its nsfs file). A docker container's PID is looked up on every call, so a
 * restarted container (new PID, new namespace) yields a new handle; a handle no placement resolves to any more is
 * closed (listeners are told first, e.g. to stop a drift monitor on it).
 *
 * Security (docs/reference.md#netns-targeting): a pid ≤ 1 is refused, and so is any pid/name/path/container that resolves to the
 * agent's own (host) namespace — the host is selected only by the "no container" placement.
 */
import type { Placement } from "../api/placement.ts";
import { Netns } from "../netlink/mod.ts";
import type { DockerClient } from "./container.ts";

/** Why a placement cannot be used: the target does not exist, or it is refused. */
export type PlacementErrorReason = "PlacementNotFound" | "PlacementForbidden";

/** A placement that cannot be resolved; `message` names the placement and the cause. */
export class PlacementError extends Error {
  override name = "PlacementError";
  constructor(readonly reason: PlacementErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
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
}

/** A stable text key of a placement (for bookkeeping; not the namespace identity). */
export function placementKey(p: Placement): string {
  switch (p.kind) {
    case "host":
      return "host";
    case "docker":
      return `docker:${p.name}`;
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
    case "pid":
      return `netns of pid ${p.pid}`;
    case "netns-name":
      return `netns "${p.name}"`;
    case "netns-path":
      return `netns path ${p.path}`;
  }
}

function identity(path: string): string {
  const st = Deno.statSync(path);
  return `${st.dev}:${st.ino}`;
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

  constructor(opts: NamespaceResolverOptions = {}) {
    this.#docker = opts.docker;
    this.#hostId = identity("/proc/thread-self/ns/net");
    const ns = Netns.host();
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
  async #path(p: Placement, signal?: AbortSignal): Promise<{ path: string; label: string }> {
    const where = describePlacement(p);
    switch (p.kind) {
      case "host":
        return { path: "/proc/thread-self/ns/net", label: "host" };
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
      case "docker": {
        if (!this.#docker) {
          throw new PlacementError("PlacementNotFound", `${where}: no Docker API client configured`);
        }
        try {
          const pid = await this.#docker.pid(p.name, signal);
          return { path: `/proc/${pid}/ns/net`, label: `docker ${p.name} (pid ${pid})` };
        } catch (e) {
          throw new PlacementError("PlacementNotFound", `${where}: ${(e as Error).message}`, { cause: e });
        }
      }
    }
  }

  /**
   * Resolves `p` to a namespace handle. Throws {@link PlacementError}: PlacementNotFound when the target does not
   * exist, PlacementForbidden for pid ≤ 1 or a non-host placement that reaches the agent's own namespace.
   */
  async resolve(p: Placement, signal?: AbortSignal): Promise<NsTarget> {
    const pk = placementKey(p);
    const { path, label } = await this.#path(p, signal);
    let id: string;
    try {
      id = identity(path);
    } catch (e) {
      await this.#unbind(pk);
      throw new PlacementError("PlacementNotFound", `${describePlacement(p)}: ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (id === this.#hostId && p.kind !== "host") {
      throw new PlacementError(
        "PlacementForbidden",
        `${describePlacement(p)} resolves to the agent's own host namespace; omit the container to mean the host`,
      );
    }
    let entry = this.#byId.get(id);
    if (!entry) {
      let ns: Netns;
      try {
        ns = Netns.byPath(path, label);
      } catch (e) {
        throw new PlacementError("PlacementNotFound", `${describePlacement(p)}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      // The namespace behind the path may have changed between stat and open: key by what we actually hold.
      const held = identity(`/proc/self/fd/${ns.fd}`);
      entry = this.#byId.get(held);
      if (entry) ns.close();
      else {
        entry = { target: { id: held, ns, isHost: false, label }, users: new Set() };
        this.#byId.set(held, entry);
        for (const l of this.#listeners) l.opened?.(entry.target);
      }
      id = held;
    }
    if (this.#placementToId.get(pk) !== id) await this.#unbind(pk);
    this.#placementToId.set(pk, id);
    entry.users.add(pk);
    return entry.target;
  }

  /** Forgets placement `pk`; closes its namespace when nothing else resolves there. */
  async #unbind(pk: string): Promise<void> {
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
