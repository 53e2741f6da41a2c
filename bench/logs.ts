/** Keeping a run's controller logs after its instance (and state directory) is removed. */

/** Copies the files of `logDir` into `.out/<name>/` (emptied first) and says where they are. */
export async function keepLogs(logDir: string, name: string): Promise<void> {
  const dest = new URL(`../.out/${name}/`, import.meta.url).pathname;
  await Deno.remove(dest, { recursive: true }).catch(() => {});
  await Deno.mkdir(dest, { recursive: true });
  for await (const e of Deno.readDir(logDir)) {
    if (e.isFile) await Deno.copyFile(`${logDir}/${e.name}`, `${dest}${e.name}`);
  }
  console.error(`controller logs of this run: ${dest}`); // stderr: a bench's last stdout line is its JSON
}
