/** Host-side helpers of the kernel tier: commands with errors naming them, hashing for cache keys. */

/** Options of {@link sh}. */
export interface ShOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** Runs a command and returns its stdout; throws with the command line and its stderr when it fails. */
export async function sh(cmd: string[], opts: ShOptions = {}): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd[0], { args: cmd.slice(1), ...opts, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new Error(`kernel tier: cannot run ${cmd[0]}: ${(e as Error).message}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`kernel tier: ${cmd.join(" ")}: exit ${out.code}: ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** SHA-256 of the parts (each followed by a zero byte), as hex. */
export async function sha256Hex(parts: Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length + 1;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}
