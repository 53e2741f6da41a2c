/**
 * Loading shared libraries by absolute path. `deno compile` binaries run with `--allow-ffi` scoped to absolute
 * paths, and a scoped permission makes Deno resolve a bare soname relative to the CWD, so every library is opened
 * by an absolute path picked from a candidate list (Debian multiarch dirs first, then the classic ones).
 * `DN42OP_LIB_DIR` (a colon-separated list of directories) is searched first when set.
 */

const LIB_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/lib",
  "/lib",
];

function envDirs(): string[] {
  try {
    return (Deno.env.get("DN42OP_LIB_DIR") ?? "").split(":").filter(Boolean);
  } catch {
    return []; // no --allow-env: use the built-in list
  }
}

/** Absolute paths tried, in order, for a soname such as `libnl-3.so.200`. */
export function libraryCandidates(soname: string): string[] {
  return [...envDirs(), ...LIB_DIRS].map((d) => `${d}/${soname}`);
}

/**
 * Opens the first candidate path of `soname` that the dynamic loader accepts. Throws an Error listing every path
 * tried (and the first loader message) when none loads.
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  const failures: string[] = [];
  for (const path of libraryCandidates(soname)) {
    try {
      return Deno.dlopen(path, symbols);
    } catch (e) {
      failures.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`cannot load ${soname}; tried:\n  ${failures.join("\n  ")}`);
}
