/**
 * `deno task bench:container`: the lab's container costs on this machine and the price of resolving a
 * container name to its PID through the Docker API (what the node agents do on every reconcile).
 *
 * Ours: DockerClient.pid() over podman's Docker-compatible API (one keep-alive HTTP client).
 * Peer (same run): `podman inspect --format {{.State.Pid}}`, i.e. shelling out to the CLI.
 * Also measured: image build (`podman import` of busybox into a throwaway store), API service start,
 * container start (`podman run --network none`), restart.
 *
 * Needs root and podman (deno task setup containers). Last line: one JSON object.
 */
import { DockerClient } from "../src/node/container.ts";
import { ensureBusyboxImage } from "../lab/podman/image.ts";
import { Podman } from "../lab/podman/podman.ts";
import { servicePaths, startService } from "../lab/podman/service.ts";

const LOOKUPS = 500;
const PEER_LOOKUPS = 20;
const STARTS = 5;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const v = await fn();
  return [performance.now() - t, v];
}

const round = (x: number) => Math.round(x * 100) / 100;
const dir = await Deno.makeTempDir({ prefix: "dn42op-lt-bench-" });
const scratch = new Podman({
  graphRoot: `${dir}/storage`,
  runRoot: `${dir}/run`,
  tmpDir: `${dir}/libpod`,
  confDir: `${dir}/conf`,
});
const podman = new Podman();
const names: string[] = [];
let service;
try {
  const [imageBuildMs] = await timed(() => ensureBusyboxImage(scratch));
  await scratch.run("rmi", "--all", "--force");
  await ensureBusyboxImage(podman);
  const [serviceStartMs, svc] = await timed(() => startService(podman, servicePaths(dir)));
  service = svc;

  const starts: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const name = `dn42op-lt-bench-${crypto.randomUUID().slice(0, 8)}`;
    names.push(name);
    starts.push((await timed(() => podman.ensureContainer(name, { owner: "test" })))[0]);
  }
  const target = names[0];
  const [restartMs] = await timed(() => podman.restart(target));

  using docker = new DockerClient({ socketPath: svc.socketPath });
  const expected = await podman.pid(target);
  const ours: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const [ms, pid] = await timed(() => docker.pid(target));
    if (pid !== expected) throw new Error(`API returned PID ${pid}, podman says ${expected}`);
    ours.push(ms);
  }
  const peer: number[] = [];
  for (let i = 0; i < PEER_LOOKUPS; i++) peer.push((await timed(() => podman.pid(target)))[0]);

  const result = {
    pid_lookup_p50_ms: round(pct(ours, 0.5)),
    pid_lookup_p99_ms: round(pct(ours, 0.99)),
    peer: "podman inspect CLI",
    peer_pid_lookup_p50_ms: round(pct(peer, 0.5)),
    ratio: round(pct(peer, 0.5) / pct(ours, 0.5)),
    image_build_ms: round(imageBuildMs),
    service_start_ms: round(serviceStartMs),
    container_start_p50_ms: round(pct(starts, 0.5)),
    container_restart_ms: round(restartMs),
    load_avg_1m: Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]),
  };
  console.log(`PID lookup via Docker API: p50 ${result.pid_lookup_p50_ms} ms, p99 ${result.pid_lookup_p99_ms} ms`);
  console.log(`PID lookup via podman inspect: p50 ${result.peer_pid_lookup_p50_ms} ms (${result.ratio}x slower)`);
  console.log(`image build ${result.image_build_ms} ms, API service start ${result.service_start_ms} ms`);
  console.log(`container start p50 ${result.container_start_p50_ms} ms, restart ${result.container_restart_ms} ms`);
  console.log(JSON.stringify(result));
} finally {
  for (const n of names) await podman.remove(n);
  await service?.stop();
  await Deno.remove(dir, { recursive: true });
}
