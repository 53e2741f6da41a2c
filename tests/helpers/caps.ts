/**
 * What this machine can run, probed once per test process, and the skip convention:
 *
 *   Deno.test({ name: "...", ignore: skipUnless("root", "wireguard-kernel"), fn: ... })
 *
 * A skipped test is recorded with its reason in the file named by $DN42OP_SKIP_LOG (the test runner prints
 * them), so `deno task test` can say what it skipped and why. With $DN42OP_UNIT set (`deno task test:unit`) every
 * capability counts as missing: only tests that need nothing but Deno run.
 */
import { controlPlaneUnavailable } from "../../scripts/controlplane/build.ts";
import { succeeds } from "../../kit/proc.ts";

/** Capabilities a test can require. */
export type Capability =
  | "root" // uid 0 with CAP_NET_ADMIN / CAP_SYS_ADMIN (netns, links)
  | "wireguard-kernel" // the kernel knows link kind "wireguard" (kernel tier)
  | "dummy-kernel" // the kernel knows link kind "dummy" (kernel tier)
  | "vlan-kernel" // the kernel knows link kind "vlan" (8021q; kernel tier)
  | "wireguard-go" // the userspace implementation is installed
  | "podman" // podman can run containers here
  | "graphviz" // Graphviz's dot is installed (setup profile graph)
  | "chromium" // Debian's chromium is installed (setup profile browser)
  | "cluster" // a control plane can be built and started (Go toolchain present)
  | "denort" // $DENORT_BIN names Deno's runtime binary, so `deno task compile` can build the programs
  | "kernel-lab"; // the kernel tier runs this process's host-driven guest tests (*.kernel_lab_test.ts)

const cache = new Map<Capability, string | null>();

async function probeLinkKind(kind: string, args: string[] = []): Promise<string | null> {
  // Probe in a throwaway namespace so the root namespace is never touched.
  const name = `dn42op-probe-${crypto.randomUUID().slice(0, 8)}`;
  const run = (args: string[]) => succeeds(["ip", ...args]);
  if (!(await run(["netns", "add", name]))) return "cannot create a network namespace";
  try {
    if (args.length) await run(["-n", name, "link", "add", "probe1", "type", "veth", "peer", "name", "probe2"]);
    const r = await run([
      "-n",
      name,
      "link",
      "add",
      ...args,
      "probe0",
      "type",
      kind,
      ...(args.length ? ["id", "1"] : []),
    ]);
    return r ? null : `host kernel lacks link kind "${kind}" (covered by the kernel tier, deno task test:kernel)`;
  } finally {
    await run(["netns", "del", name]);
  }
}

function which(bin: string): Promise<boolean> {
  return succeeds(["sh", "-c", `command -v ${bin}`]);
}

async function probe(cap: Capability): Promise<string | null> {
  if (Deno.env.get("DN42OP_UNIT")) return `${cap}: left out of test:unit`;
  switch (cap) {
    case "root":
      return Deno.uid() === 0 ? null : "needs root (network namespaces)";
    case "wireguard-kernel":
      return Deno.uid() !== 0 ? "needs root" : await probeLinkKind("wireguard");
    case "dummy-kernel":
      return Deno.uid() !== 0 ? "needs root" : await probeLinkKind("dummy");
    case "vlan-kernel":
      return Deno.uid() !== 0 ? "needs root" : await probeLinkKind("vlan", ["link", "probe1", "name"]);
    case "wireguard-go":
      return (await which("wireguard-go")) ? null : "wireguard-go is not installed (deno task setup)";
    case "podman":
      return (await which("podman")) ? null : "podman is not installed";
    case "kernel-lab":
      if (!Deno.env.get("DN42OP_KERNEL_LAB")) {
        return "boots a qemu guest with the kernel WireGuard module: runs in the kernel tier (deno task test:kernel)";
      }
      return (await which("qemu-system-x86_64")) && (await which("socat"))
        ? null
        : "qemu or socat is not installed (deno task setup kernel)";
    case "graphviz":
      return (await which("dot")) ? null : "Graphviz's dot is not installed (deno task setup graph)";
    case "chromium":
      return (await which("chromium")) ? null : "chromium is not installed (deno task setup browser)";
    case "denort": {
      const bin = Deno.env.get("DENORT_BIN");
      const ok = bin ? await Deno.stat(bin).then((s) => s.isFile, () => false) : false;
      return ok ? null : "no denort: set DENORT_BIN to Deno's runtime binary (dl.deno.land is unreachable here)";
    }
    case "cluster": {
      const disabled = Deno.env.get("DN42OP_NO_CLUSTER");
      if (disabled) return disabled;
      return Deno.env.get("DN42OP_KUBECONFIG") ? null : await controlPlaneUnavailable();
    }
  }
}

/** Probes every capability once; call `await probeCapabilities()` is done at module load below. */
export async function probeCapabilities(): Promise<void> {
  for (
    const c of [
      "root",
      "wireguard-kernel",
      "dummy-kernel",
      "vlan-kernel",
      "wireguard-go",
      "podman",
      "graphviz",
      "chromium",
      "cluster",
      "denort",
      "kernel-lab",
    ] as const
  ) {
    if (!cache.has(c)) cache.set(c, await probe(c));
  }
}

await probeCapabilities();

/** Why the capability is missing, or null when present. */
export function missing(cap: Capability): string | null {
  return cache.get(cap) ?? null;
}

/**
 * Returns true (= ignore the test) when any capability is missing, and records why in $DN42OP_SKIP_LOG.
 * Call it in the test definition's `ignore` field.
 */
export function skipUnless(...caps: Capability[]): boolean {
  const reasons = caps.map(missing).filter((r): r is string => r !== null);
  if (reasons.length === 0) return false;
  const log = Deno.env.get("DN42OP_SKIP_LOG");
  if (log) {
    const where = new Error().stack?.split("\n")[2]?.trim() ?? "";
    Deno.writeTextFileSync(log, `${reasons.join("; ")}\t${where}\n`, { append: true });
  }
  return true;
}
