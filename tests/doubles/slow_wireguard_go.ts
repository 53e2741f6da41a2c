/**
 * A stand-in for `wireguard-go -f <name>` that is slow to answer: it serves `/var/run/wireguard/<name>.sock` (the
 * private /var/run that src/wireguard/wggo.ts binds for each daemon) but leaves its first UAPI connection unanswered,
 * as a daemon starved of CPU does; later requests get `errno=0`. For start-path tests without load.
 */
const name = Deno.args.at(-1)!;
const dir = "/var/run/wireguard";
await Deno.mkdir(dir, { recursive: true });
const listener = Deno.listen({ transport: "unix", path: `${dir}/${name}.sock` });
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
setTimeout(() => Deno.exit(0), 45_000); // a failed start's stop does not signal it (not a wireguard-go by name)
const held: Deno.Conn[] = []; // the first connection: kept open, never answered
for await (const conn of listener) {
  if (!held.length) {
    held.push(conn);
    continue;
  }
  (async () => {
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.endsWith("\n\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    await conn.write(new TextEncoder().encode("errno=0\n\n"));
    conn.close();
  })().catch(() => conn.close());
}
