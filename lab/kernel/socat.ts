/**
 * The kernel lab's API pipes inside the guest as socat processes: the same addresses as lab/apipipe.ts, but no Deno
 * runtime per pipe (under emulation each one costs tens of MB and a share of two emulated CPUs).
 */
import { parsePipeAddress } from "../apipipe.ts";

/** `socat` command line of a pipe from `listen` to `dial` (`tcp:HOST:PORT` or `unix:PATH`), one child per client. */
export function socatPipe(listen: string, dial: string): string[] {
  const l = parsePipeAddress(listen);
  const d = parsePipeAddress(dial);
  return [
    "socat",
    l.transport === "tcp"
      ? `TCP-LISTEN:${l.port},bind=${l.hostname},fork,reuseaddr`
      : `UNIX-LISTEN:${l.path},fork,unlink-early`,
    d.transport === "tcp" ? `TCP:${d.hostname}:${d.port}` : `UNIX-CONNECT:${d.path}`,
  ];
}
