/** Running host commands for the kernel tier: output captured, failure turned into an error naming the command. */

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

/** Milliseconds since `t0` as seconds with one decimal, for timing lines. */
export function secondsSince(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)}s`;
}
