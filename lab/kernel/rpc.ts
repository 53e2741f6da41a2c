/**
 * The kernel lab's control channel between the host and the guest agent (lab/kernel/agent.ts): JSON lines over a
 * virtio-serial port, a unix socket on the host side. A request is `{id, op, args}`, its response `{id, ok: true,
 * value}` or `{id, ok: false, error}`; requests are answered concurrently, so responses can come in any order.
 *
 * QEMU serves one host connection at a time and keeps the guest's port open across host connections: a response
 * whose caller went away reaches the next caller, who ignores ids it did not send (ids carry a random per-client
 * prefix), and a line cut short by a caller that died is skipped by the agent (every client starts with a newline).
 */

/** One request to the agent. */
export interface RpcRequest {
  id: string;
  op: string;
  args: unknown;
}

/** The agent's answer to one request. */
export type RpcResponse = { id: string; ok: true; value: unknown } | { id: string; ok: false; error: string };

const enc = new TextEncoder();

/** One message as a line. */
export function encodeLine(msg: RpcRequest | RpcResponse): Uint8Array {
  return enc.encode(JSON.stringify(msg) + "\n");
}

/** Splits a byte stream into text lines (UTF-8 sequences split across chunks stay whole). */
export class LineSplitter {
  #dec = new TextDecoder();
  #rest = "";

  /** The complete lines in `chunk` (and what came before it), without their newlines. */
  push(chunk: Uint8Array): string[] {
    const lines = (this.#rest + this.#dec.decode(chunk, { stream: true })).split("\n");
    this.#rest = lines.pop()!;
    return lines;
  }
}

/** A request parsed from a line, or why the line is not one (an empty line is neither: null). */
export function parseRequest(line: string): RpcRequest | string | null {
  if (!line.trim()) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return `not JSON: ${line.slice(0, 80)}`;
  }
  const r = v as Partial<RpcRequest>;
  if (typeof r?.id !== "string" || typeof r.op !== "string") return `not a request: ${line.slice(0, 80)}`;
  return { id: r.id, op: r.op, args: r.args };
}

/** A response parsed from a line, or null when the line is not one. */
export function parseResponse(line: string): RpcResponse | null {
  try {
    const r = JSON.parse(line) as RpcResponse;
    return typeof r?.id === "string" && typeof r.ok === "boolean" ? r : null;
  } catch {
    return null;
  }
}

/** The error of a failed call: the agent's message, prefixed with the operation. */
export class RpcError extends Error {
  override name = "RpcError";
}

/** Handlers of the agent's operations, by name. */
export type RpcHandlers = Record<string, (args: never) => Promise<unknown>>;

/**
 * Answers the requests read from `read` (a chunk at a time; null = nothing now, e.g. no host connected; it should
 * pause before returning null) with `handlers`, writing each response line through `write` in order of completion.
 * Runs until `read` throws.
 */
export async function serveRpc(
  read: () => Promise<Uint8Array | null>,
  write: (line: Uint8Array) => Promise<void>,
  handlers: RpcHandlers,
  log: (msg: string) => void,
): Promise<never> {
  const lines = new LineSplitter();
  let writing = Promise.resolve();
  const respond = (r: RpcResponse) => {
    writing = writing.then(() => write(encodeLine(r))).catch((e) => log(`write failed: ${(e as Error).message}`));
  };
  while (true) {
    const chunk = await read();
    if (!chunk) continue;
    for (const line of lines.push(chunk)) {
      const req = parseRequest(line);
      if (req === null) continue;
      if (typeof req === "string") {
        log(`skipped ${req}`);
        continue;
      }
      const h = handlers[req.op];
      if (!h) {
        respond({ id: req.id, ok: false, error: `unknown operation ${req.op}` });
        continue;
      }
      h(req.args as never).then(
        (value) => respond({ id: req.id, ok: true, value: value ?? null }),
        (e) => respond({ id: req.id, ok: false, error: (e as Error).message ?? String(e) }),
      );
    }
  }
}

/** The host's end: calls over one connection to the agent's port. */
export class RpcClient {
  readonly #conn: Deno.Conn;
  readonly #prefix = crypto.randomUUID().slice(0, 8);
  #next = 0;
  #pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #closed: Error | null = null;
  #writing = Promise.resolve();

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#readLoop();
  }

  /** Connects to the host side of the port (a newline first: it ends whatever a dead caller left half-written). */
  static async connect(socket: string): Promise<RpcClient> {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    const c = new RpcClient(conn);
    await c.#write(enc.encode("\n"));
    return c;
  }

  async #readLoop(): Promise<void> {
    const lines = new LineSplitter();
    try {
      for await (const chunk of this.#conn.readable) {
        for (const line of lines.push(chunk)) {
          const r = parseResponse(line);
          const p = r && this.#pending.get(r.id);
          if (!r || !p) continue; // another caller's answer
          this.#pending.delete(r.id);
          if (r.ok) p.resolve(r.value);
          else p.reject(new RpcError(r.error));
        }
      }
      this.#fail(new RpcError("the kernel lab agent closed the channel"));
    } catch (e) {
      this.#fail(new RpcError(`the kernel lab channel failed: ${(e as Error).message}`));
    }
  }

  #fail(e: Error): void {
    this.#closed ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }

  #write(bytes: Uint8Array): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    });
    return this.#writing;
  }

  /** Calls `op` with `args`; rejects with the agent's error, after `timeoutMs`, or when the channel closes. */
  call<T>(op: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = `${this.#prefix}-${this.#next++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RpcError(`${op}: no answer from the kernel lab agent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new RpcError(`${op}: ${e.message}`));
        },
      });
      this.#write(encodeLine({ id, op, args })).catch((e) => this.#fail(e as Error));
    });
  }

  /** Closes the connection; pending calls fail. */
  close(): void {
    this.#fail(new RpcError("closed"));
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}
