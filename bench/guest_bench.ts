/**
 * Runs one benchmark script inside the qemu kernel tier (scripts/kernel/guest.ts) for the `bench:*:kernel` tasks:
 * type-checks it on the host (the guest checks about 20× slower), boots the guest, runs the script there with
 * `--no-check`, echoes its console, and returns the run with the JSON object of the script's last JSON line. A run
 * that failed, printed no such line or measured another backend than the kernel's is an Error.
 */
import { guestDeno, type GuestRun, prepareGuest, runInGuest, writeAll } from "../scripts/kernel/guest.ts";
import { run as sh } from "../kit/proc.ts";
import { kernelCacheDir, REPO } from "../scripts/kernel/paths.ts";

/** A finished guest bench: the run (timings, files) and the figures of its last JSON line. */
export interface GuestBench {
  run: GuestRun;
  figures: Record<string, unknown>;
}

/**
 * Runs `script` (relative to the repository) with `args` in the guest. `task` names the bench in messages and its
 * console log (`.out/kernel-tier/<task>-console.log`).
 */
export async function benchInGuest(
  task: string,
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<GuestBench> {
  await sh([guestDeno(REPO).path, "check", script], { cwd: REPO });
  const abort = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => abort.abort());
  await Deno.mkdir(`${REPO}/.out/kernel-tier`, { recursive: true });
  let output = "";
  const dec = new TextDecoder();
  const run = await runInGuest({
    repo: REPO,
    denoArgs: ["run", "--no-check", "-A", "--cached-only", script, ...args],
    env: { NO_COLOR: "1" },
    timeoutMs,
    guest: await prepareGuest(kernelCacheDir()),
    consoleLog: `${REPO}/.out/kernel-tier/${task.replaceAll(":", "-")}-console.log`,
    output: (chunk) => {
      writeAll(Deno.stdout, chunk);
      output += dec.decode(chunk, { stream: true });
    },
    signal: abort.signal,
  });
  const line = output.split(/\r?\n/).map((l) => l.trim()).findLast((l) => l.startsWith("{") && l.endsWith("}"));
  if (run.exitCode !== 0 || !line) {
    throw new Error(`${task}: the guest run failed (exit ${run.exitCode}; see the console above)`);
  }
  const figures = JSON.parse(line) as Record<string, unknown>;
  if (figures.backend !== "kernel") throw new Error(`${task}: the guest measured the ${figures.backend} backend`);
  return { run, figures };
}
