/**
 * The interface both backends implement (kernel genetlink, wireguard-go UAPI), as in wgctrl-go: the client and
 * the diff above it see one device model whichever backend serves a device.
 */

import type { AllowedIpRemoval } from "./diff.ts";
import type { DeviceState, DeviceUpdate } from "./model.ts";

/** Which implementation serves a device. */
export type BackendKind = "kernel" | "userspace";

/** Operations on WireGuard devices of one network namespace. */
export interface WireGuardBackend {
  readonly kind: BackendKind;
  /** Reads a device; throws DeviceNotFoundError if this backend has no such device. */
  getDevice(name: string): Promise<DeviceState>;
  /** Sends one SET request. Not atomic in general: on error, re-read the device to learn what was applied. */
  setDevice(name: string, update: DeviceUpdate): Promise<void>;
  /** How single allowed IPs can be removed on this device. */
  allowedIpRemoval(name: string): Promise<AllowedIpRemoval>;
  /** True if this backend serves a device of that name. */
  hasDevice(name: string): Promise<boolean>;
  /** Creates the device (kernel: a "wireguard" link; userspace: a wireguard-go), or adopts a running daemon. */
  createDevice(name: string): Promise<unknown>;
  /** Deletes the device (kernel: the link; userspace: stops the daemon by PID). */
  deleteDevice(name: string): Promise<void>;
}
