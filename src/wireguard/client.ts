/**
 * One WireGuard client over both backends (the wgctrl-go shape). Per device the backend is chosen automatically:
 * a device with a wireguard-go UAPI socket is userspace; otherwise the kernel backend if the "wireguard" genl
 * family resolves in the namespace; otherwise userspace. `backend: "kernel" | "userspace"` forces one.
 *
 * `apply` reads the device, computes the minimal diff and sends the resulting SET requests in order. If a request
 * fails midway (the UAPI is not transactional, and a split kernel SET is not either), the device is read again and
 * the error carries that state, so the caller knows what is in place; the next reconcile diffs from there.
 */

import type { Netns } from "../netlink/mod.ts";
import type { BackendKind, WireGuardBackend } from "./backend.ts";
import { type AllowedIpRemoval, diffDevice } from "./diff.ts";
import { WireGuardError } from "./errors.ts";
import { generatePrivateKey, publicKeyOf } from "./key.ts";
import { KernelBackend, type KernelBackendOptions } from "./kernel.ts";
import type { DeviceConfig, DeviceState, DeviceUpdate } from "./model.ts";
import { UserspaceBackend } from "./userspace.ts";
import type { WireGuardGoOptions } from "./wggo.ts";

/** Backend selection. */
export type BackendChoice = "auto" | BackendKind;

/** Result of {@link WireGuardClient.apply}. */
export interface ApplyResult {
  backend: BackendKind;
  /** The SET requests sent, in order; empty when there was no drift. */
  updates: DeviceUpdate[];
}

/** A failed apply: `applied` requests went through; `state` is the device as read after the failure. */
export class ApplyError extends WireGuardError {
  constructor(
    device: string,
    readonly applied: number,
    readonly state: DeviceState | undefined,
    cause: unknown,
  ) {
    super(`apply ${device}`, `request ${applied + 1} failed: ${(cause as Error).message}`, { cause });
  }
}

/** Backends the client can use; the kernel one is absent where the genl family does not resolve. */
export interface ClientBackends {
  userspace: UserspaceBackend;
  /** Returns the kernel backend of the namespace, or undefined if the "wireguard" family does not resolve there. */
  kernel?: () => Promise<WireGuardBackend | undefined>;
}

/** Options of {@link openWireGuard}. */
export interface OpenOptions {
  backend?: BackendChoice;
  kernel?: KernelBackendOptions;
  /** wireguard-go settings; `netnsPath` defaults to the namespace of the handle. */
  userspace?: WireGuardGoOptions;
}

/**
 * The client for the namespace of `ns` (any handle of the netlink layer: host, by name, by pid, by path). Kernel
 * requests go through the handle's genl socket; wireguard-go daemons are started in the handle's namespace with
 * nsenter on `/proc/<our pid>/fd/<handle fd>`, which works for every kind of handle. The handle must stay open
 * while the client is used.
 */
export function openWireGuard(ns: Netns, opts: OpenOptions = {}): WireGuardClient {
  const netnsPath = ns.isHost ? undefined : `/proc/${Deno.pid}/fd/${ns.fd}`;
  const userspace = new UserspaceBackend({ netnsPath, ...opts.userspace });
  let kernel: Promise<KernelBackend | undefined> | undefined;
  return new WireGuardClient({
    userspace,
    kernel: () => {
      kernel ??= KernelBackend.open(ns, opts.kernel);
      kernel.catch(() => kernel = undefined);
      return kernel;
    },
  }, opts.backend);
}

/** WireGuard devices of one network namespace. */
export class WireGuardClient {
  readonly #backends: ClientBackends;
  readonly #choice: BackendChoice;

  constructor(backends: ClientBackends, choice: BackendChoice = "auto") {
    this.#backends = backends;
    this.#choice = choice;
  }

  /** The backend serving `name` (see the module comment for the rules). */
  async backendFor(name: string): Promise<WireGuardBackend> {
    const { userspace, kernel } = this.#backends;
    if (this.#choice === "userspace") return userspace;
    if (this.#choice === "kernel") {
      const k = await kernel?.();
      if (!k) throw new WireGuardError(`device ${name}`, 'the kernel has no "wireguard" genl family here');
      return k;
    }
    if (await userspace.hasDevice(name)) return userspace;
    return (await kernel?.()) ?? userspace;
  }

  /** The userspace backend (to start and stop wireguard-go devices). */
  get userspace(): UserspaceBackend {
    return this.#backends.userspace;
  }

  /**
   * Creates a device with the chosen backend: in auto mode a kernel link where the "wireguard" family resolves,
   * else a wireguard-go (an already running one is adopted).
   */
  async createDevice(name: string): Promise<BackendKind> {
    const { userspace, kernel } = this.#backends;
    const backend = this.#choice === "auto" ? ((await kernel?.()) ?? userspace) : await this.backendFor(name);
    await backend.createDevice(name);
    return backend.kind;
  }

  /** Deletes a device (kernel link, or stops its wireguard-go by PID). */
  async deleteDevice(name: string): Promise<void> {
    await (await this.backendFor(name)).deleteDevice(name);
  }

  /** Reads a device. */
  async device(name: string): Promise<DeviceState> {
    return (await this.backendFor(name)).getDevice(name);
  }

  /** Sends SET requests as given, in order. */
  async configure(name: string, ...updates: DeviceUpdate[]): Promise<void> {
    const backend = await this.backendFor(name);
    await send(backend, name, updates);
  }

  /**
   * Brings the device to `desired` with the minimal ordered SET requests and returns what was sent. `actual`, the
   * device as the caller has just read it, saves a read. How the device removes single allowed IPs is asked (a probe
   * on wireguard-go) only when the diff removes some.
   */
  async apply(name: string, desired: DeviceConfig, actual?: DeviceState): Promise<ApplyResult> {
    const backend = await this.backendFor(name);
    const have = actual ?? await backend.getDevice(name);
    let updates = diffDevice(desired, have, { allowedIpRemoval: "remove-me" });
    if (updates.some((u) => u.peers.some((p) => p.removeAllowedIps?.length))) {
      const removal: AllowedIpRemoval = await backend.allowedIpRemoval(name);
      if (removal === "dummy-peer") {
        const dummyPeerKey = await publicKeyOf(await generatePrivateKey());
        updates = diffDevice(desired, have, { allowedIpRemoval: removal, dummyPeerKey });
      }
    }
    await send(backend, name, updates);
    return { backend: backend.kind, updates };
  }
}

async function send(backend: WireGuardBackend, name: string, updates: DeviceUpdate[]): Promise<void> {
  for (const [i, update] of updates.entries()) {
    try {
      await backend.setDevice(name, update);
    } catch (e) {
      const state = await backend.getDevice(name).catch(() => undefined);
      throw new ApplyError(name, i, state, e);
    }
  }
}

/** A log- and Event-safe summary of a SET request (public keys and counts; never secret key material). */
export function describeUpdate(u: DeviceUpdate): string {
  const parts: string[] = [];
  if (u.privateKey) parts.push(u.privateKey.isZero() ? "remove private key" : "set private key");
  if (u.listenPort !== undefined) parts.push(`listen port ${u.listenPort}`);
  if (u.fwmark !== undefined) parts.push(`fwmark ${u.fwmark}`);
  if (u.replacePeers) parts.push("replace all peers");
  for (const p of u.peers) {
    if (p.remove) {
      parts.push(`remove peer ${p.publicKey}`);
      continue;
    }
    const what: string[] = [];
    if (p.presharedKey) what.push(p.presharedKey.isZero() ? "remove psk" : "set psk");
    if (p.endpoint) what.push(`endpoint ${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) what.push(`keepalive ${p.persistentKeepalive}`);
    if (p.replaceAllowedIps) what.push("replace allowed IPs");
    if (p.allowedIps?.length) what.push(`+${p.allowedIps.length} allowed IPs`);
    if (p.removeAllowedIps?.length) what.push(`-${p.removeAllowedIps.length} allowed IPs`);
    parts.push(`peer ${p.publicKey}${what.length ? ` (${what.join(", ")})` : ""}`);
  }
  return parts.join("; ") || "no change";
}
