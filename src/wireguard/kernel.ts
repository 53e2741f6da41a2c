/**
 * Kernel backend: the generic netlink family "wireguard", spoken over the NETLINK_GENERIC socket of a namespace
 * handle. The kernel looks devices up in the namespace of the socket, so a device that moved into a container's
 * namespace is configured through the handle of that namespace.
 *
 * The family id is resolved through nlctrl and cached per namespace handle; on ENOENT (module reloaded, new id)
 * it is resolved again and the request retried once. GET dumps interrupted by a concurrent SET (NLM_F_DUMP_INTR)
 * are retried by the socket. SET messages are sent one after another, each ACKed before the next.
 */

import { createLink, deleteLink, isNotFound, NetlinkError, type Netns } from "../netlink/mod.ts";
import type { WireGuardBackend } from "./backend.ts";
import type { AllowedIpRemoval } from "./diff.ts";
import { DeviceNotFoundError, WireGuardError } from "./errors.ts";
import {
  decodeGetDevice,
  DEFAULT_SET_BUDGET,
  type DeviceRef,
  encodeGetDevice,
  encodeSetDevice,
  WG_GENL_NAME,
} from "./genl_codec.ts";
import type { DeviceState, DeviceUpdate } from "./model.ts";

/** Options of the kernel backend. */
export interface KernelBackendOptions {
  /** Bytes per SET message (rtnl_lock is held per message). Default 32 KiB. */
  budget?: number;
  /**
   * Whether the kernel honours WGALLOWEDIP_F_REMOVE_ME. Default: from the kernel release (Linux ≥ 6.16). Older
   * kernels silently ignore the flag and would ADD the prefix, so guessing "yes" wrongly is not safe.
   */
  allowedIpRemoval?: AllowedIpRemoval;
}

/** True if `release` (uname -r) is Linux 6.16 or later, where WGALLOWEDIP_A_FLAGS exists. */
export function kernelHasRemoveMe(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 16);
}

/** WireGuard devices of one network namespace, through its genl socket. */
export class KernelBackend implements WireGuardBackend {
  readonly kind = "kernel";
  readonly #ns: Netns;
  readonly #budget: number;
  readonly #removal: AllowedIpRemoval;

  private constructor(ns: Netns, opts: KernelBackendOptions) {
    this.#ns = ns;
    this.#budget = opts.budget ?? DEFAULT_SET_BUDGET;
    this.#removal = opts.allowedIpRemoval ?? (kernelHasRemoveMe(Deno.osRelease()) ? "remove-me" : "dummy-peer");
  }

  /** The kernel backend of `ns`, or undefined if the "wireguard" family does not resolve there. */
  static async open(ns: Netns, opts: KernelBackendOptions = {}): Promise<KernelBackend | undefined> {
    try {
      await ns.families.get(WG_GENL_NAME);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    return new KernelBackend(ns, opts);
  }

  async getDevice(name: string): Promise<DeviceState> {
    const ref: DeviceRef = { name };
    const op = `wireguard get ${name}`;
    const messages = await this.#call(name, op, (id) => this.#ns.generic.dump(encodeGetDevice(id, ref), op));
    const device = decodeGetDevice(messages, op);
    if (!device.name) device.name = name;
    return device;
  }

  async setDevice(name: string, update: DeviceUpdate): Promise<void> {
    const op = `wireguard set ${name}`;
    await this.#call(name, op, async (id) => {
      const messages = encodeSetDevice(id, { name }, update, this.#budget);
      for (const [i, m] of messages.entries()) {
        await this.#ns.generic.request(m, messages.length > 1 ? `${op} (message ${i + 1}/${messages.length})` : op);
      }
    });
  }

  allowedIpRemoval(_name: string): Promise<AllowedIpRemoval> {
    return Promise.resolve(this.#removal);
  }

  async hasDevice(name: string): Promise<boolean> {
    try {
      await this.getDevice(name);
      return true;
    } catch (e) {
      if (e instanceof DeviceNotFoundError) return false;
      throw e;
    }
  }

  /** Creates a "wireguard" link named `name` in the backend's namespace (down, no addresses). */
  async createDevice(name: string): Promise<void> {
    await createLink(this.#ns, { kind: "wireguard", name });
  }

  /** Deletes the link; throws DeviceNotFoundError if there is none. */
  async deleteDevice(name: string): Promise<void> {
    try {
      await deleteLink(this.#ns, name);
    } catch (e) {
      if (isNotFound(e)) throw new DeviceNotFoundError(name, { cause: e });
      throw e;
    }
  }

  /** Runs `fn` with the family id (re-resolved once on ENOENT); maps ENODEV/ENOENT to DeviceNotFoundError. */
  async #call<T>(name: string, op: string, fn: (familyId: number) => Promise<T>): Promise<T> {
    try {
      return await this.#ns.families.withFamily(WG_GENL_NAME, (f) => fn(f.id));
    } catch (e) {
      if (isNotFound(e)) throw new DeviceNotFoundError(name, { cause: e });
      if (e instanceof NetlinkError) throw new WireGuardError(op, e.message.replace(/^[^:]*: /, ""), { cause: e });
      throw e;
    }
  }
}
