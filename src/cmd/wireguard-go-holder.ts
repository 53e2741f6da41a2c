/**
 * wireguard-go-holder: starts wireguard-go daemons for wg-controller (its `-wireguard-go-holder` flag names this
 * program's socket), so that they run in this program's container and survive a restart of wg-controller's
 * (deploy/README.md, "WireGuard in a pod"). Protocol and server: src/wireguard/holder_protocol.ts, holder.ts.
 * SIGTERM stops the daemons it started, then the program.
 */
import { logger } from "../log/mod.ts";
import { serveHolder } from "../wireguard/holder.ts";
import type { FlagDefs } from "./flags.ts";
import { COMMON_FLAGS, runProgram } from "./program.ts";

const PROGRAM = "wireguard-go-holder";

/** Where the DaemonSet's wg-controller pod shares the holder's socket (an emptyDir of the pod). */
export const DEFAULT_HOLDER_SOCKET = "/run/wireguard-go-holder/holder.sock";

const FLAGS = {
  socket: {
    type: "string",
    default: DEFAULT_HOLDER_SOCKET,
    usage: "Unix socket to serve (created 0600; its directory 0700).",
  },
  "wireguard-go": { type: "string", default: "wireguard-go", usage: "The wireguard-go executable." },
  v: COMMON_FLAGS.v,
  "log-format": COMMON_FLAGS["log-format"],
} as const satisfies FlagDefs;

if (import.meta.main) {
  await runProgram(PROGRAM, FLAGS, async (f, signal) => {
    await serveHolder({ socketPath: f.socket, binary: f["wireguard-go"], signal, log: logger(PROGRAM) });
    return 0;
  });
}
