/**
 * The kubelet's HTTP probes, run against a pod from the lab: `GET <scheme>://127.0.0.1:<port><path>` inside the pod's
 * network namespace (the kubelet dials the pod IP; for the lab's pods that is their namespace's loopback or the node's
 * address, on which the programs listen alike), with the probe's timeout; 200–399 is a success.
 */
import { exec } from "../kit/proc.ts";
import type { HttpProbe } from "./workloads.ts";

/** One probe's outcome: the HTTP status, or why there was none. */
export interface ProbeResult {
  ok: boolean;
  status: number;
  error?: string;
}

/** Probes once from inside network namespace `netns` (a path). */
export async function probeOnce(netns: string, p: HttpProbe): Promise<ProbeResult> {
  const url = `${p.scheme.toLowerCase()}://127.0.0.1:${p.port}${p.path}`;
  const r = await exec([
    "nsenter",
    `--net=${netns}`,
    "curl",
    "--silent",
    "--show-error",
    "--insecure", // the kubelet does not verify HTTPS probes either
    "--output",
    "/dev/null",
    "--write-out",
    "%{http_code}",
    "--max-time",
    String(p.timeoutSeconds),
    url,
  ]);
  const status = Number(r.stdout.trim()) || 0;
  return { ok: status >= 200 && status < 400, status, error: status ? undefined : r.stderr.trim() };
}

/**
 * Probes every `intervalMs` until a success; returns the milliseconds until then. Throws after `timeoutMs` with the
 * last result. (The kubelet probes every periodSeconds; polling faster measures when the program is ready.)
 */
export async function waitForProbe(netns: string, p: HttpProbe, timeoutMs: number, intervalMs = 100): Promise<number> {
  const t0 = performance.now();
  while (true) {
    const r = await probeOnce(netns, p);
    if (r.ok) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(
        `probe ${p.path} on port ${p.port} not ok after ${timeoutMs} ms: ${r.error ?? `HTTP ${r.status}`}`,
      );
    }
    await new Promise((res) => setTimeout(res, intervalMs));
  }
}
