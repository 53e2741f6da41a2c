/**
 * runc needs the cgroup hierarchies mounted under /sys/fs/cgroup. `ip netns exec` (how the suite runner and
 * the lab enter a namespace) gives the command a private mount namespace with a fresh sysfs for the netns,
 * which has no cgroup mounts, so `podman run` fails there with "runc create failed: no cgroup mount found in
 * mountinfo". This module restores the machine's layout in that private mount namespace only: the process's
 * own hierarchies (from /proc/self/cgroup) mounted at the usual places. It never mounts anything in a mount
 * namespace it shares with its parent processes (the machine's own view).
 */

import { withFileLock } from "../../kit/lock.ts";
import { run } from "../../kit/proc.ts";

/** One mount to make. */
export interface CgroupMount {
  fstype: "tmpfs" | "cgroup" | "cgroup2";
  options: string;
  target: string;
}

const ROOT = "/sys/fs/cgroup";

/**
 * The mounts that reproduce a cgroup layout from the text of /proc/self/cgroup: a tmpfs at /sys/fs/cgroup,
 * each v1 hierarchy at /sys/fs/cgroup/<controllers> (`name=systemd` → systemd), and a v2 hierarchy ("0::")
 * at /sys/fs/cgroup/unified when v1 hierarchies exist (hybrid), else at /sys/fs/cgroup itself.
 */
export function cgroupMountsFor(procSelfCgroup: string): CgroupMount[] {
  const v1: CgroupMount[] = [];
  let v2 = false;
  for (const line of procSelfCgroup.split("\n")) {
    const m = /^(\d+):([^:]*):/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") {
      v2 = true;
      continue;
    }
    const ctrls = m[2].split(",").filter(Boolean);
    if (!ctrls.length) continue;
    const dir = ctrls.map((c) => c.replace(/^name=/, "")).join(",");
    const named = ctrls.some((c) => c.startsWith("name="));
    v1.push({ fstype: "cgroup", options: (named ? ["none", ...ctrls] : ctrls).join(","), target: `${ROOT}/${dir}` });
  }
  if (!v1.length) return v2 ? [{ fstype: "cgroup2", options: "", target: ROOT }] : [];
  const mounts: CgroupMount[] = [{ fstype: "tmpfs", options: "mode=755", target: ROOT }, ...v1];
  if (v2) mounts.push({ fstype: "cgroup2", options: "", target: `${ROOT}/unified` });
  return mounts;
}

/** Whether /proc/self/mountinfo text has any cgroup or cgroup2 mount under /sys/fs/cgroup. */
export function hasCgroupMounts(mountinfo: string): boolean {
  return mountinfo.split("\n").some((l) => {
    const [pre, post] = l.split(" - ");
    const target = pre?.split(" ")[4] ?? "";
    return (target === ROOT || target.startsWith(`${ROOT}/`)) && /^cgroup2? /.test(post ?? "");
  });
}

async function mntNs(pid: number | "self"): Promise<string | null> {
  try {
    return await Deno.readLink(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

async function parentPid(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** True when some ancestor process (that we can inspect) is in a different mount namespace than ours. */
async function inPrivateMountNs(): Promise<boolean> {
  const own = await mntNs("self");
  let pid = Deno.pid;
  for (let i = 0; i < 32 && pid > 1; i++) {
    pid = await parentPid(pid).catch(() => 0);
    if (pid <= 1) break;
    const ns = await mntNs(pid);
    if (ns === null) break;
    if (ns !== own) return true;
  }
  return false;
}

let once: Promise<"present" | "mounted" | "left-alone"> | undefined;

/** Where the lock lives that makes {@link ensureCgroupMounts} take turns (the test runner's processes share one mount namespace). */
const LOCK_DIR = "/run/dn42op";

/**
 * Makes the cgroup hierarchies visible under /sys/fs/cgroup if they are missing and this process runs in a
 * private mount namespace (as under `ip netns exec`). Returns what it found or did; runs once per process. Processes
 * sharing that mount namespace take turns, so none mounts its tmpfs over another's half-made layout.
 */
export function ensureCgroupMounts(): Promise<"present" | "mounted" | "left-alone"> {
  const present = async () => hasCgroupMounts(await Deno.readTextFile("/proc/self/mountinfo"));
  return once ??= (async () => {
    if (await present()) return "present";
    if (Deno.uid() !== 0 || !await inPrivateMountNs()) return "left-alone";
    await Deno.mkdir(LOCK_DIR, { recursive: true });
    return await withFileLock(`${LOCK_DIR}/cgroup-mounts.lock`, async () => {
      if (await present()) return "present";
      for (const m of cgroupMountsFor(await Deno.readTextFile("/proc/self/cgroup"))) {
        await Deno.mkdir(m.target, { recursive: true });
        await run(["mount", "-t", m.fstype, ...(m.options ? ["-o", m.options] : []), m.fstype, m.target]);
      }
      return "mounted";
    });
  })();
}
