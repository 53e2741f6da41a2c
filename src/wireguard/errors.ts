/**
 * Typed errors of the WireGuard layer. Messages name the field or operation that failed and never carry key
 * material: callers may log them, put them in status conditions or in Events as they are.
 */

/** Base class: every error this layer throws on purpose is a WireGuardError. */
export class WireGuardError extends Error {
  /** Operation or field the error is about, e.g. `"peers[3].allowedIps[0]"` or `"uapi set wg0"`. */
  readonly op: string;
  constructor(op: string, message: string, options?: ErrorOptions) {
    super(`${op}: ${message}`, options);
    this.name = new.target.name;
    this.op = op;
  }
}

/** Input that cannot be a key, prefix, endpoint, port or device configuration. */
export class InvalidConfigError extends WireGuardError {}

/** Bytes from the kernel or from a wireguard-go socket that do not follow the protocol. */
export class ProtocolError extends WireGuardError {}

/** The device does not exist (ENODEV/ENOENT from the kernel, no UAPI socket for wireguard-go). */
export class DeviceNotFoundError extends WireGuardError {
  constructor(readonly device: string, options?: ErrorOptions) {
    super(`device ${device}`, "no such WireGuard device", options);
  }
}

/** wireguard-go answered a request with a non-zero errno (the UAPI replies `errno=-N`). */
export class UapiError extends WireGuardError {
  /** Positive errno value (EINVAL = 22, EPROTO = 71, EADDRINUSE = 98, ...). */
  readonly errno: number;
  constructor(op: string, errno: number) {
    super(op, `wireguard-go replied errno ${errno}${errnoName(errno)}`);
    this.errno = errno;
  }
}

/** Failure of the wireguard-go process itself: it did not start, exited, or could not be stopped. */
export class DaemonError extends WireGuardError {}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  12: "ENOMEM",
  19: "ENODEV",
  22: "EINVAL",
  71: "EPROTO",
  95: "EOPNOTSUPP",
  98: "EADDRINUSE",
};

function errnoName(errno: number): string {
  const name = ERRNO_NAMES[errno];
  return name ? ` (${name})` : "";
}
