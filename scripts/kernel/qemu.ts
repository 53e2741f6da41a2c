/**
 * Boots the kernel tier's guest under QEMU with software emulation (TCG; CI machines have no KVM): serial console
 * on stdout, 9p shares, and an `isa-debug-exit` device through which the guest reports its exit status. The run is
 * bounded by a timeout; QEMU is always reaped before {@link boot} returns.
 *
 * No network device by default. {@link GuestNet} adds one on QEMU's user-mode network in restricted mode: the guest
 * reaches nothing but the listed forwards, each connection handed to a host command (e.g. socat to the API server on
 * the host's loopback). {@link SerialPort}s are virtio-serial ports backed by unix sockets on the host.
 */

/** A host directory exported to the guest over virtio-9p. */
export interface Share {
  /** 9p mount tag the guest mounts. */
  tag: string;
  /** Host directory. */
  path: string;
  readonly: boolean;
}

/**
 * A NIC on QEMU's user-mode network with `restrict=on`: the guest (at 10.0.2.15/24, configured by the guest itself)
 * can reach only the forwards; every TCP connection to `address:port` runs `command` on the host with the
 * connection as its stdin and stdout.
 */
export interface GuestNet {
  forwards: { address: string; port: number; command: string[] }[];
}

/** A virtio-serial port: `/dev/virtio-ports/<name>` in the guest, a listening unix socket on the host. */
export interface SerialPort {
  name: string;
  socket: string;
}

/** What to boot and how. */
export interface BootOptions {
  vmlinuz: string;
  initrd: string;
  /** Extra kernel command-line words (after the console settings). */
  append: string[];
  shares: Share[];
  net?: GuestNet;
  serialPorts?: SerialPort[];
  /** Guest memory in MiB. */
  memoryMiB: number;
  cpus: number;
  timeoutMs: number;
  /** Receives the serial console output as it arrives. */
  onOutput: (chunk: Uint8Array) => void;
  /** Aborting it stops QEMU early (e.g. on Ctrl-C). */
  signal?: AbortSignal;
}

/** How the guest ended, decoded from QEMU's exit status. */
export type GuestOutcome =
  | { kind: "exited"; rc: number } // the guest reported rc through isa-debug-exit
  | { kind: "crashed" } // status 0: kernel panic or poweroff without a report
  | { kind: "timeout" }
  | { kind: "aborted" }
  | { kind: "qemu-failed"; status: number }; // an even status, or death by a signal: QEMU itself failed

/** The isa-debug-exit port the guest writes its status byte to (init.sh writes to /dev/port offset 244). */
export const DEBUG_EXIT_PORT = 0xf4;

/** QEMU's command line for {@link BootOptions}. */
export function qemuArgs(o: Omit<BootOptions, "onOutput" | "signal" | "timeoutMs">): string[] {
  const args = [
    "-nodefaults",
    "-no-reboot",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    "max",
    "-smp",
    String(o.cpus),
    "-m",
    String(o.memoryMiB),
    "-kernel",
    o.vmlinuz,
    "-initrd",
    o.initrd,
    // panic=-1: a panic reboots at once, which -no-reboot turns into QEMU exiting with status 0.
    "-append",
    ["console=ttyS0", "quiet", "panic=-1", ...o.append].join(" "),
    "-device",
    "virtio-rng-pci",
    "-device",
    `isa-debug-exit,iobase=${DEBUG_EXIT_PORT},iosize=0x04`,
  ];
  args.push(...netArgs(o.net), ...serialArgs(o.serialPorts ?? []));
  for (const s of o.shares) {
    if (/[,\s]/.test(s.path)) throw new Error(`kernel tier: share path must not contain commas or spaces: ${s.path}`);
    const ro = s.readonly ? ",readonly=on" : "";
    args.push("-virtfs", `local,path=${s.path},mount_tag=${s.tag},security_model=none,multidevs=remap${ro}`);
  }
  return args;
}

/** QEMU's option syntax: a comma inside a value is written twice. */
function optionValue(v: string): string {
  return v.replaceAll(",", ",,");
}

function netArgs(net: GuestNet | undefined): string[] {
  if (!net) return ["-nic", "none"];
  const fwd = net.forwards.map((f) => {
    if (f.command.some((w) => /[\s'"\\]/.test(w))) {
      throw new Error(`kernel tier: forward command words must not contain spaces or quotes: ${f.command.join(" ")}`);
    }
    return `,guestfwd=tcp:${f.address}:${f.port}-cmd:${optionValue(f.command.join(" "))}`;
  });
  return ["-netdev", `user,id=n0,restrict=on${fwd.join("")}`, "-device", "virtio-net-pci,netdev=n0"];
}

function serialArgs(ports: SerialPort[]): string[] {
  if (!ports.length) return [];
  const args = ["-device", "virtio-serial-pci,id=vser0"];
  ports.forEach((p, i) => {
    if (!/^[a-z0-9.]+$/.test(p.name)) throw new Error(`kernel tier: serial port name ${p.name}: [a-z0-9.] only`);
    args.push(
      "-chardev",
      `socket,id=vs${i},path=${optionValue(p.socket)},server=on,wait=off`,
      "-device",
      `virtserialport,bus=vser0.0,chardev=vs${i},name=${p.name}`,
    );
  });
  return args;
}

/** Decodes QEMU's exit: isa-debug-exit makes it `(rc << 1) | 1`; 0 means the guest went down without reporting. */
export function decodeExit(
  e: { code: number; signal: string | null; timedOut: boolean; aborted: boolean },
): GuestOutcome {
  if (e.timedOut) return { kind: "timeout" };
  if (e.aborted) return { kind: "aborted" };
  if (e.signal !== null) return { kind: "qemu-failed", status: e.code };
  if (e.code === 0) return { kind: "crashed" };
  if (e.code % 2 === 1) return { kind: "exited", rc: e.code >> 1 };
  return { kind: "qemu-failed", status: e.code };
}

/** Boots the guest, streams its console to `onOutput`, and returns how it ended. Never leaves QEMU running. */
export async function boot(o: BootOptions): Promise<GuestOutcome> {
  const child = new Deno.Command("qemu-system-x86_64", {
    args: qemuArgs(o),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let timedOut = false;
  let aborted = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = (why: "timeout" | "abort") => {
    if (why === "timeout") timedOut = true;
    else aborted = true;
    const kill = (sig: Deno.Signal) => {
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    };
    kill("SIGTERM");
    killTimer = setTimeout(() => kill("SIGKILL"), 5000);
  };
  const timer = setTimeout(() => stop("timeout"), o.timeoutMs);
  const onAbort = () => stop("abort");
  o.signal?.addEventListener("abort", onAbort);
  try {
    for await (const chunk of child.stdout) o.onOutput(chunk);
    const st = await child.status;
    return decodeExit({ code: st.code, signal: st.signal, timedOut, aborted });
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    o.signal?.removeEventListener("abort", onAbort);
  }
}
