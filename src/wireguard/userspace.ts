/**
 * Userspace backend: devices served by wireguard-go, one daemon per device, configured over the UAPI socket in the
 * state directory's socket directory (src/wireguard/wggo.ts). Creating a device starts its daemon in the backend's
 * namespace; deleting it stops the daemon by PID.
 */

import type { WireGuardBackend } from "./backend.ts";
import type { AllowedIpRemoval } from "./diff.ts";
import { DeviceNotFoundError, UapiError } from "./errors.ts";
import { generatePrivateKey, publicKeyOf } from "./key.ts";
import type { DeviceState, DeviceUpdate } from "./model.ts";
import { checkUapiReply, decodeUapiGet, encodeUapiSet, UAPI_GET } from "./uapi.ts";
import { uapiCall, uapiCallBytes, uapiSocketPath } from "./uapi_socket.ts";
import {
  daemonAnswers,
  daemonSocketDir,
  findWireGuardGo,
  startWireGuardGo,
  stopWireGuardGo,
  type WireGuardGoDaemon,
  type WireGuardGoOptions,
} from "./wggo.ts";

/** Probe request: removes a documentation prefix from a random peer that `update_only` keeps from existing. */
async function removalProbe(): Promise<string> {
  const key = await publicKeyOf(await generatePrivateKey());
  return `set=1\npublic_key=${key.toHex()}\nupdate_only=true\nallowed_ip=-192.0.2.0/32\n\n`;
}

/** wireguard-go devices of one network namespace. */
export class UserspaceBackend implements WireGuardBackend {
  readonly kind = "userspace";
  readonly #opts: WireGuardGoOptions;
  readonly #removal = new Map<string, AllowedIpRemoval>();
  readonly #daemons = new Map<string, WireGuardGoDaemon>();
  /** Size of the last `get=1` reply per device: the next read's buffer is sized from it. */
  readonly #replySizes = new Map<string, number>();

  constructor(opts: WireGuardGoOptions = {}) {
    this.#opts = opts;
  }

  get #socketDir(): string {
    return daemonSocketDir(this.#opts);
  }

  async getDevice(name: string): Promise<DeviceState> {
    const reply = await uapiCallBytes(name, UAPI_GET, this.#socketDir, undefined, this.#replySizes.get(name));
    this.#replySizes.set(name, reply.length);
    return decodeUapiGet(name, reply);
  }

  async setDevice(name: string, update: DeviceUpdate): Promise<void> {
    const op = `uapi set ${name}`;
    checkUapiReply(await uapiCall(name, encodeUapiSet(update), this.#socketDir), op);
  }

  /**
   * wireguard-go removes single allowed IPs (`allowed_ip=-prefix`) only in releases after 2024; older ones reject
   * the line with EINVAL. The probe sends such a line for a random peer under `update_only`, which creates nothing
   * on any version. The answer is cached per device until it is deleted.
   */
  async allowedIpRemoval(name: string): Promise<AllowedIpRemoval> {
    const cached = this.#removal.get(name);
    if (cached) return cached;
    let result: AllowedIpRemoval = "remove-me";
    try {
      checkUapiReply(await uapiCall(name, await removalProbe(), this.#socketDir), `uapi probe ${name}`);
    } catch (e) {
      if (!(e instanceof UapiError && e.errno === 22)) throw e;
      result = "dummy-peer";
    }
    this.#removal.set(name, result);
    return result;
  }

  async hasDevice(name: string): Promise<boolean> {
    try {
      await Deno.lstat(uapiSocketPath(name, this.#socketDir));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts a wireguard-go for `name`, or adopts the one already running (after a restart of ours) if it is alive and
   * answers on its UAPI socket. A known daemon that died or hangs is cleared (stopped by PID if still there, its pid
   * file and socket removed) and replaced by a new one.
   */
  async createDevice(name: string): Promise<WireGuardGoDaemon> {
    const known = this.#daemons.get(name) ?? await findWireGuardGo(name, this.#opts);
    if (known && await daemonAnswers(known, this.#opts)) {
      this.#daemons.set(name, known);
      return known;
    }
    if (known) await this.#forget(known);
    const daemon = await startWireGuardGo(name, this.#opts);
    this.#daemons.set(name, daemon);
    return daemon;
  }

  async #forget(daemon: WireGuardGoDaemon): Promise<void> {
    await stopWireGuardGo(daemon, this.#opts);
    this.#daemons.delete(daemon.name);
    this.#removal.delete(daemon.name);
    this.#replySizes.delete(daemon.name);
  }

  /** Stops the daemon of `name`; throws DeviceNotFoundError if we know of none. */
  async deleteDevice(name: string): Promise<void> {
    const daemon = this.#daemons.get(name) ?? await findWireGuardGo(name, this.#opts);
    if (!daemon) throw new DeviceNotFoundError(name);
    await this.#forget(daemon);
  }
}
