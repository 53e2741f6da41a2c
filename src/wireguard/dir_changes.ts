/** Waiting for changes in a directory (a starting daemon's socket appearing) without polling it. */

/** See {@link watchDirectory}. */
export interface DirectoryChanges extends Disposable {
  /** Returns when an entry was created or changed since the last call, after `ms`, or when `ended` settles. */
  next(ms: number, ended: Promise<unknown>): Promise<void>;
}

/**
 * Changes in `dir` (inotify, through Deno.watchFs): `next(ms, ended)` returns when an entry was created or changed,
 * `ms` passed, or `ended` settled, whichever is first. Without a watcher (a file system without inotify) it only
 * waits. Dispose to stop watching (which also ends a wait still running).
 */
export function watchDirectory(dir: string): DirectoryChanges {
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs(dir, { recursive: false });
  } catch { /* polling only */ }
  let changed = false;
  let wake: (() => void) | undefined;
  (async () => {
    for await (const _ of watcher ?? []) {
      changed = true;
      wake?.();
    }
  })().catch(() => {});
  return {
    async next(ms, ended) {
      if (!changed) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<void>((r) => timer = setTimeout(r, ms));
        await Promise.race([timeout, ended, new Promise<void>((r) => wake = r)]).finally(() => clearTimeout(timer));
      }
      changed = false;
      wake = undefined;
    },
    [Symbol.dispose]() {
      watcher?.close();
      wake?.(); // a wait still running ends
    },
  };
}
