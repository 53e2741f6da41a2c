/**
 * Turns between processes of this machine: {@link withFileLock} holds an exclusive lock (flock) on a file while its
 * function runs. The lock ends with the file's closing, so a process that dies releases it too.
 */

/** Runs `fn` while holding the exclusive lock of `path` (created if missing); waits while another holder has it. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(path, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close();
  }
}
