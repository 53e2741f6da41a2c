/**
 * Docker Engine API client for container placement: resolves a container name to its init PID (and so to
 * `/proc/<pid>/ns/net`) over a unix socket, and streams container events so a restarted container is noticed
 * promptly. Works against Docker and against podman's Docker-compatible API (`podman system service`).
 *
 * Only unversioned endpoints are used (`/containers/<name>/json`, `/events`, `/_ping`): Docker ≥ 29 rejects API
 * versions below 1.44 while podman 4.x offers at most 1.41, and both serve the unversioned paths.
 *
 * Leaf module: it imports nothing from the rest of the project.
 */

/** Socket used when neither an explicit path nor `DOCKER_HOST` is given (the Docker SDK default). */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

/** Default time limit for one request (until the whole response is read; for event streams, until headers). */
export const DEFAULT_TIMEOUT_MS = 5000;

/** What went wrong, for callers that switch on it. */
export type DockerErrorCode =
  | "invalid-argument" // bad container name or DOCKER_HOST
  | "not-found" // the daemon answered: no such container
  | "not-running" // the container exists but has no running init process
  | "unreachable" // nothing answers on the socket (missing, refused, or timed out)
  | "api"; // the daemon answered with an unexpected status or body

/** Every error of this module; `code` says which case, `operation` what was attempted. */
export class DockerError extends Error {
  override name = "DockerError";
  /** HTTP status from the daemon, when there was a response. */
  readonly status?: number;
  constructor(
    readonly code: DockerErrorCode,
    readonly operation: string,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(`${operation}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}

/** The daemon reports no container with this name or ID. */
export class ContainerNotFoundError extends DockerError {
  override name = "ContainerNotFoundError";
  constructor(readonly container: string, operation: string, detail: string) {
    super("not-found", operation, `container "${container}" not found (${detail})`, { status: 404 });
  }
}

/** The container exists but is not running, so it has no network namespace to act in. */
export class ContainerNotRunningError extends DockerError {
  override name = "ContainerNotRunningError";
  constructor(readonly container: string, operation: string, readonly containerStatus: string) {
    super("not-running", operation, `container "${container}" is not running (status ${containerStatus})`);
  }
}

/** Nothing answers on the socket: the daemon is down, the path is wrong, or the request timed out. */
export class DockerUnreachableError extends DockerError {
  override name = "DockerUnreachableError";
  constructor(
    readonly socketPath: string,
    operation: string,
    detail: string,
    cause?: unknown,
    /** Whether the daemon was reached but did not answer in time. */
    readonly timedOut = false,
  ) {
    super("unreachable", operation, `Docker API at unix://${socketPath} unreachable: ${detail}`, { cause });
  }
}

/** State of a container as the daemon reports it. */
export interface ContainerState {
  /** Full container ID. */
  id: string;
  /** Name without Docker's leading slash. */
  name: string;
  /** Whether the init process runs. */
  running: boolean;
  /** `created`, `running`, `exited`, … as reported. */
  status: string;
  /** Init process PID in the daemon's PID namespace; 0 when not running. */
  pid: number;
  /** Start time as reported (RFC 3339); changes on every restart. */
  startedAt: string;
  /** The container's labels (`Config.Labels`). */
  labels: Record<string, string>;
}

/** Labels the kubelet puts on a Pod's containers (dockershim, cri-dockerd): the Pod's namespace and name. */
export const POD_LABELS = { namespace: "io.kubernetes.pod.namespace", name: "io.kubernetes.pod.name" } as const;
/** Label value cri-dockerd gives a Pod's sandbox (the container holding the Pod's network namespace). */
const SANDBOX = { label: "io.kubernetes.docker.type", value: "podsandbox" } as const;

/** A container lifecycle event from `GET /events`. */
export interface ContainerEvent {
  /** `start`, `die`, `stop`, `restart`, `destroy`, … */
  action: string;
  /** Container ID. */
  id: string;
  /** Container name, when the daemon sends it. */
  name: string;
  /** `namespace/name` of the Pod the container belongs to (from its kubelet labels), or "". */
  pod: string;
  /** Event time (millisecond precision; the epoch if the daemon sent none). */
  time: Date;
}

/** Options of {@link DockerClient}. */
export interface DockerClientOptions {
  /** Socket path; wins over `dockerHost`. */
  socketPath?: string;
  /** A `DOCKER_HOST` value (`unix:///path`); defaults to the environment variable. */
  dockerHost?: string;
  /** Per-request time limit in milliseconds. */
  timeoutMs?: number;
}

/**
 * Picks the socket path: explicit path, else `DOCKER_HOST` (only `unix://` is supported), else the default.
 * Throws a DockerError with code "invalid-argument" for any other DOCKER_HOST scheme.
 */
export function resolveDockerSocket(opts: { socketPath?: string; dockerHost?: string }): string {
  if (opts.socketPath) return opts.socketPath;
  const host = opts.dockerHost?.trim();
  if (!host) return DEFAULT_DOCKER_SOCKET;
  const m = /^unix:\/\/(\/.+)$/.exec(host);
  if (!m) {
    throw new DockerError(
      "invalid-argument",
      "resolve DOCKER_HOST",
      `"${host}" is not supported: only unix:///absolute/path sockets are`,
    );
  }
  return m[1];
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}$/;

/** Throws a DockerError "invalid-argument" unless `name` is a valid Docker container name or ID. */
export function validateContainerName(name: string, operation: string): string {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw new DockerError(
      "invalid-argument",
      operation,
      `invalid container name ${JSON.stringify(name)}: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*`,
    );
  }
  return name.replace(/^\//, "");
}

/** Decodes the `State` part of a `GET /containers/<name>/json` body; throws DockerError "api" if malformed. */
export function parseContainerState(body: unknown, operation: string): ContainerState {
  const b = body as {
    Id?: unknown;
    Name?: unknown;
    State?: Record<string, unknown>;
    Config?: { Labels?: unknown };
  } | null;
  const s = b?.State;
  if (
    typeof b?.Id !== "string" || typeof s !== "object" || s === null || typeof s.Pid !== "number" ||
    typeof s.Running !== "boolean"
  ) {
    throw new DockerError("api", operation, "unexpected inspect response: missing Id, State.Pid or State.Running");
  }
  return {
    id: b.Id,
    name: typeof b.Name === "string" ? b.Name.replace(/^\//, "") : "",
    running: s.Running,
    status: typeof s.Status === "string" ? s.Status : (s.Running ? "running" : "unknown"),
    pid: s.Pid,
    startedAt: typeof s.StartedAt === "string" ? s.StartedAt : "",
    labels: stringRecord(b.Config?.Labels),
  };
}

/** The string entries of a JSON object (labels); anything else is empty. */
function stringRecord(v: unknown): Record<string, string> {
  if (typeof v !== "object" || v === null) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/**
 * The ID of the container that stands for Pod `namespace`/`name` in a `GET /containers/json` body: one whose labels
 * name exactly that Pod, the sandbox preferred (it holds the network namespace), else the oldest. Null if none.
 */
export function pickPodContainer(body: unknown, namespace: string, name: string): string | null {
  if (!Array.isArray(body)) return null;
  const mine = body.map((c) => ({ id: c?.Id, created: Number(c?.Created) || 0, labels: stringRecord(c?.Labels) }))
    .filter((c) =>
      typeof c.id === "string" && c.labels[POD_LABELS.namespace] === namespace && c.labels[POD_LABELS.name] === name
    )
    .sort((a, b) =>
      Number(b.labels[SANDBOX.label] === SANDBOX.value) - Number(a.labels[SANDBOX.label] === SANDBOX.value) ||
      a.created - b.created
    );
  return mine[0]?.id ?? null;
}

/** Decodes one line of the `/events` stream; returns null for non-container or malformed events. */
export function parseContainerEvent(line: string): ContainerEvent | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof e !== "object" || e === null) return null;
  const type = e.Type ?? e.type;
  if (type !== undefined && type !== "container") return null;
  const actor = (e.Actor ?? {}) as { ID?: unknown; Attributes?: Record<string, unknown> };
  const action = typeof e.Action === "string" ? e.Action : typeof e.status === "string" ? e.status : "";
  const id = typeof actor.ID === "string" ? actor.ID : typeof e.id === "string" ? e.id : "";
  if (!action || !id) return null;
  const attrs = actor.Attributes ?? {};
  const name = attrs.name;
  const podNs = attrs[POD_LABELS.namespace], podName = attrs[POD_LABELS.name];
  const pod = typeof podNs === "string" && typeof podName === "string" ? `${podNs}/${podName}` : "";
  const ms = typeof e.timeNano === "number"
    ? Math.floor(e.timeNano / 1e6)
    : typeof e.time === "number"
    ? e.time * 1000
    : 0;
  return { action, id, name: typeof name === "string" ? name : "", pod, time: new Date(ms) };
}

/** The innermost useful message of a fetch error ("fetch failed" hides the OS error in `cause`). */
function causeMessage(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  const inner = (e as Error)?.cause as Error | undefined;
  if (!inner?.message) return msg;
  const m = /client error \(Connect\): (.*)$/.exec(inner.message);
  return m ? `connect: ${m[1]}` : inner.message;
}

async function errorDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const j = JSON.parse(text);
    if (typeof j?.message === "string") return j.message;
  } catch { /* not JSON */ }
  return text.trim().slice(0, 300) || res.statusText;
}

/**
 * A client of one Docker Engine API socket. Holds one HTTP client (keep-alive connections); call
 * {@link DockerClient.close} (or use `using`) when done.
 */
export class DockerClient {
  /** The unix socket this client talks to. */
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #http: Deno.HttpClient;

  constructor(opts: DockerClientOptions = {}) {
    let dockerHost = opts.dockerHost;
    if (dockerHost === undefined && !opts.socketPath) {
      try {
        dockerHost = Deno.env.get("DOCKER_HOST");
      } catch { /* no env permission: use the default */ }
    }
    this.socketPath = resolveDockerSocket({ socketPath: opts.socketPath, dockerHost });
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socketPath } });
  }

  /**
   * Sends a GET. The timer covers the whole exchange unless `streaming`, where it stops once headers arrive.
   * A transport error is retried once (a pooled keep-alive connection may have been closed by a restarted
   * daemon); connection failures and timeouts become DockerUnreachableError.
   */
  async #get(path: string, operation: string, signal?: AbortSignal, streaming = false) {
    try {
      return await this.#getOnce(path, operation, signal, streaming);
    } catch (e) {
      if (!(e instanceof DockerUnreachableError) || e.timedOut || signal?.aborted) throw e;
      return await this.#getOnce(path, operation, signal, streaming);
    }
  }

  async #getOnce(path: string, operation: string, signal: AbortSignal | undefined, streaming: boolean) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new DOMException("timed out", "TimeoutError")), this.#timeoutMs);
    const onAbort = () => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    try {
      const res = await fetch(`http://docker${path}`, { client: this.#http, signal: ctl.signal });
      if (streaming) clearTimeout(timer);
      return { res, ctl, cleanup };
    } catch (e) {
      cleanup();
      if (signal?.aborted) throw signal.reason ?? e;
      const timedOut = ctl.signal.aborted;
      const detail = timedOut ? `no answer within ${this.#timeoutMs} ms` : causeMessage(e);
      throw new DockerUnreachableError(this.socketPath, operation, detail, e, timedOut);
    }
  }

  async #json(path: string, operation: string, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
    const { res, ctl, cleanup } = await this.#get(path, operation, signal);
    try {
      if (!res.ok) return { status: res.status, body: await errorDetail(res) };
      return { status: res.status, body: await res.json() };
    } catch (e) {
      if (signal?.aborted) throw signal.reason ?? e;
      if (ctl.signal.aborted) {
        throw new DockerUnreachableError(this.socketPath, operation, `no answer within ${this.#timeoutMs} ms`, e, true);
      }
      throw new DockerError("api", operation, `unreadable response: ${(e as Error).message}`, { cause: e });
    } finally {
      cleanup();
    }
  }

  /** Checks that the daemon answers `GET /_ping`. */
  async ping(signal?: AbortSignal): Promise<void> {
    const op = "docker ping";
    const { res, cleanup } = await this.#get("/_ping", op, signal);
    try {
      const text = await res.text();
      if (!res.ok) throw new DockerError("api", op, `HTTP ${res.status}: ${text.trim()}`, { status: res.status });
    } finally {
      cleanup();
    }
  }

  /** Returns the container's state; throws ContainerNotFoundError for an unknown name. */
  async inspect(name: string, signal?: AbortSignal): Promise<ContainerState> {
    const op = `inspect container ${JSON.stringify(name)}`;
    const n = validateContainerName(name, op);
    const { status, body } = await this.#json(`/containers/${encodeURIComponent(n)}/json`, op, signal);
    if (status === 404) throw new ContainerNotFoundError(n, op, String(body));
    if (status !== 200) throw new DockerError("api", op, `HTTP ${status}: ${body}`, { status });
    return parseContainerState(body, op);
  }

  /**
   * Returns the init PID of a running container, looked up afresh on every call so a restarted container
   * (new PID, new network namespace) is followed. Throws ContainerNotRunningError when it is stopped.
   */
  async pid(name: string, signal?: AbortSignal): Promise<number> {
    const st = await this.inspect(name, signal);
    if (!st.running || st.pid <= 0) {
      throw new ContainerNotRunningError(
        st.name || name,
        `resolve PID of container ${JSON.stringify(name)}`,
        st.status,
      );
    }
    return st.pid;
  }

  /**
   * The init PID of a running container of Pod `namespace`/`name`, found by the kubelet's labels (running containers
   * only). The labels are checked again on the inspected container, so only a Pod of `namespace` is ever returned.
   * Throws ContainerNotFoundError when no running container carries them.
   */
  async podPid(namespace: string, name: string, signal?: AbortSignal): Promise<number> {
    const pod = `${namespace}/${name}`;
    const op = `find the containers of pod ${pod}`;
    if (!namespace || !name) throw new DockerError("invalid-argument", op, "pod namespace and name are required");
    const filters = JSON.stringify({ label: [`${POD_LABELS.namespace}=${namespace}`, `${POD_LABELS.name}=${name}`] });
    const { status, body } = await this.#json(`/containers/json?filters=${encodeURIComponent(filters)}`, op, signal);
    if (status !== 200) throw new DockerError("api", op, `HTTP ${status}: ${body}`, { status });
    const id = pickPodContainer(body, namespace, name);
    if (!id) throw new ContainerNotFoundError(pod, op, "no running container carries the labels of this pod");
    const st = await this.inspect(id, signal);
    if (st.labels[POD_LABELS.namespace] !== namespace || st.labels[POD_LABELS.name] !== name) {
      throw new ContainerNotFoundError(pod, op, `container ${id.slice(0, 12)} no longer carries the pod's labels`);
    }
    if (!st.running || st.pid <= 0) throw new ContainerNotRunningError(st.name || id, op, st.status);
    return st.pid;
  }

  /** The network namespace path of a running container: `/proc/<pid>/ns/net`. */
  async netnsPath(name: string, signal?: AbortSignal): Promise<string> {
    return `/proc/${await this.pid(name, signal)}/ns/net`;
  }

  /**
   * Streams container events (optionally only for the given names and actions, and replaying those since a
   * time so none is lost between a PID lookup and the stream opening) until `signal` aborts, the daemon closes
   * the stream, or the caller stops iterating. Throws DockerUnreachableError if it cannot start.
   */
  async *events(
    opts: { containers?: string[]; actions?: string[]; since?: Date; signal?: AbortSignal } = {},
  ): AsyncGenerator<ContainerEvent> {
    const op = "watch container events";
    const filters: Record<string, string[]> = { type: ["container"] };
    if (opts.containers?.length) filters.container = opts.containers.map((c) => validateContainerName(c, op));
    if (opts.actions?.length) filters.event = opts.actions;
    let q = `filters=${encodeURIComponent(JSON.stringify(filters))}`;
    if (opts.since) q += `&since=${(opts.since.getTime() / 1000).toFixed(3)}`;
    const { res, ctl, cleanup } = await this.#get(`/events?${q}`, op, opts.signal, true);
    try {
      if (!res.ok || !res.body) {
        throw new DockerError("api", op, `HTTP ${res.status}: ${await errorDetail(res)}`, { status: res.status });
      }
      let buf = "";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        while (true) {
          let chunk: ReadableStreamReadResult<string>;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (opts.signal?.aborted) return;
            throw new DockerUnreachableError(this.socketPath, op, `event stream broke: ${(e as Error).message}`, e);
          }
          if (chunk.done) return;
          buf += chunk.value;
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            const ev = line ? parseContainerEvent(line) : null;
            if (ev) yield ev;
          }
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    } finally {
      ctl.abort();
      cleanup();
    }
  }

  /** Releases the HTTP client's connections. */
  close(): void {
    this.#http.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
