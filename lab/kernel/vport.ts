/**
 * A virtio-serial port in the guest, read and written at the same time. Deno's file handles serialise operations
 * on one file, so a read blocked until the host sends something would hold every answer back; and the port opens
 * only once (a second open is EBUSY). So the port is opened once through libc and each read and write runs as a
 * `nonblocking` FFI call on Deno's thread pool, independently of the others.
 *
 * With no host connected, a read returns end-of-file at once and a write blocks until one connects.
 */
import { openLibrary } from "../../ffi/load.ts";

const symbols = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
} as const satisfies Deno.ForeignLibraryInterface;

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;

/** The guest's /dev node of the virtio-serial port `name` (no udev here to make /dev/virtio-ports/ links). */
export async function findPort(name: string): Promise<string> {
  for await (const e of Deno.readDir("/sys/class/virtio-ports")) {
    const n = await Deno.readTextFile(`/sys/class/virtio-ports/${e.name}/name`).catch(() => "");
    if (n.trim() === name) return `/dev/${e.name}`;
  }
  throw new Error(`no virtio-serial port named ${name}`);
}

/** An open port. */
export class VirtioPort {
  readonly #lib = openLibrary("libc.so.6", symbols).symbols;
  readonly #fd: number;
  readonly #buf = new Uint8Array(65536);

  constructor(path: string) {
    this.#fd = this.#lib.open(new TextEncoder().encode(path + "\0"), O_RDWR | O_CLOEXEC);
    if (this.#fd < 0) throw new Error(`cannot open ${path} (busy, or not a port)`);
  }

  /** The next bytes from the host; empty when no host is connected. */
  async read(): Promise<Uint8Array> {
    const n = Number(await this.#lib.read(this.#fd, this.#buf, BigInt(this.#buf.length)));
    if (n < 0) throw new Error("read from the virtio-serial port failed");
    return this.#buf.slice(0, n);
  }

  /** Writes all of `bytes` (waits while no host is connected). */
  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) {
      const n = Number(await this.#lib.write(this.#fd, bytes.subarray(off), BigInt(bytes.length - off)));
      if (n < 0) throw new Error("write to the virtio-serial port failed");
      off += n;
    }
  }
}
