/**
 * Child processes that may outlive their starter are spawned unref'd (their status does not keep the event loop
 * alive); whoever later waits for one refs it first. Deno closes a child's resource as soon as its wait completes,
 * before the status promise settles in JavaScript, so a ref in that window throws BadResource for a child that has
 * already exited: nothing is left to keep alive then, and the status settles on its own.
 */

/** Refs `child` so that awaiting its status keeps the event loop alive; false when its wait had already completed. */
export function refChild(child: Deno.ChildProcess): boolean {
  try {
    child.ref();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.BadResource) return false;
    throw e;
  }
}
