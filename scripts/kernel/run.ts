/**
 * Runs one Deno command inside the kernel-tier guest (a real Debian kernel under QEMU) and exits with its status.
 * The command runs from the repository root with no network; type-check on the host first (the guest is ~20x slower
 * at it) and pass --no-check and --cached-only. For example, the WireGuard benchmark on the kernel backend:
 *
 *   deno task kernel:run -- run --no-check -A --cached-only bench/wireguard/bench.ts
 *
 * Usage: deno run -A scripts/kernel/run.ts [--timeout SECONDS] -- DENO_ARGS...
 */
import { parseArgs } from "node:util";
import { prepareGuest, runInGuest, writeAll } from "./guest.ts";
import { kernelCacheDir, REPO } from "./paths.ts";

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { timeout: { type: "string", default: "720" } },
    allowPositionals: true,
  });
  const timeoutS = Number(values.timeout);
  if (positionals.length === 0 || !(timeoutS > 0)) {
    console.error("usage: scripts/kernel/run.ts [--timeout SECONDS] -- DENO_ARGS...");
    Deno.exit(2);
  }
  const abort = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => abort.abort());
  try {
    await Deno.mkdir(`${REPO}/.out/kernel-tier`, { recursive: true });
    const run = await runInGuest({
      repo: REPO,
      denoArgs: positionals,
      env: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR") ? {} : { NO_COLOR: "1" },
      timeoutMs: timeoutS * 1000,
      guest: await prepareGuest(kernelCacheDir()),
      consoleLog: `${REPO}/.out/kernel-tier/run-console.log`,
      output: (c) => writeAll(Deno.stdout, c),
      signal: abort.signal,
    });
    Deno.exit(run.exitCode);
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
