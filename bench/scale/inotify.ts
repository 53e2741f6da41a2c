/**
 * Room for many wireguard-go daemons: each holds one inotify instance (its UAPI listener), and the per-user limit
 * fs.inotify.max_user_instances (128 by default) caps how many can run. A bench that needs more raises the host
 * sysctl for its own run and restores the previous value when it ends (normally, on an error, or on SIGINT/SIGTERM;
 * a SIGKILL cannot be caught). Benches may run side by side: the limit is only ever raised, never lowered, and it is
 * restored only if it still holds the value this run wrote (otherwise another run raised it since and restores it).
 */
const INOTIFY = "/proc/sys/fs/inotify/max_user_instances";

/** What {@link raiseInotifyInstances} did; call `restore()` when the daemons are gone. */
export interface InotifyRoom {
  before: number;
  raised: boolean;
  restore(): void;
}

/** How many inotify instances the processes of this machine hold now (other benches' daemons among them). */
function inotifyInstancesInUse(): number {
  let n = 0;
  for (const p of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    try {
      for (const fd of Deno.readDirSync(`/proc/${p.name}/fd`)) {
        if (Deno.readLinkSync(`/proc/${p.name}/fd/${fd.name}`) === "anon_inode:inotify") n++;
      }
    } catch { /* exited meanwhile */ }
  }
  return n;
}

/**
 * Makes room for `daemons` more inotify instances besides those in use (plus headroom); `who` names the bench in its
 * messages.
 */
export async function raiseInotifyInstances(daemons: number, who: string): Promise<InotifyRoom> {
  const before = Number((await Deno.readTextFile(INOTIFY)).trim());
  const needed = inotifyInstancesInUse() + daemons + 64;
  if (needed <= before) return { before, raised: false, restore() {} };
  const raised = needed + 192;
  let restored = false;
  const onSignal = () => {
    room.restore();
    Deno.exit(130);
  };
  const room: InotifyRoom = {
    before,
    raised: true,
    restore() {
      if (restored) return;
      restored = true;
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      const now = Number(Deno.readTextFileSync(INOTIFY).trim());
      if (now !== raised) {
        console.log(`${who}: fs.inotify.max_user_instances is ${now}, set by another run since; left as it is`);
        return;
      }
      Deno.writeTextFileSync(INOTIFY, `${before}\n`);
      console.log(`${who}: fs.inotify.max_user_instances restored to ${before}`);
    },
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await Deno.writeTextFile(INOTIFY, `${raised}\n`);
  console.log(
    `${who}: raised fs.inotify.max_user_instances ${before} → ${raised} for this run ` +
      `(${daemons} wireguard-go daemons hold one inotify instance each); it is restored when the bench ends`,
  );
  return room;
}
