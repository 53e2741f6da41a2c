/**
 * Key material of one WireGuardInterface: the inline private key, or Secrets fetched one by one where the spec
 * references them — only in the object's own namespace (a reference elsewhere is refused; no cluster-wide Secret
 * cache or watch exists, RBAC grants `get` only). Secret values may be the raw 32 key bytes (the reference's format)
 * or base64 text. Errors name the field and the Secret, never the key. {@link KeyCache} keeps what was read between
 * polls (its comment states when Secrets are read again).
 */
import { Buffer } from "node:buffer";
import { CONDITION_REASONS, PLAN_PUBLIC_KEY_ANNOTATION } from "../../api/constants.ts";
import type { SecretKeyRef } from "../../api/common.ts";
import { resolveSecretRef, wireGuardKeyFromSecretData } from "../../api/secret_ref.ts";
import type { WireGuardInterfaceSpec } from "../../api/wireguard_interface.ts";
import { isNotFound, type KubeClient, type KubeObject } from "../../kube/client.ts";
import type { PeerProblem, WgKeys } from "../../node/wireguard/desired.ts";
import { type KeyKind, publicKeyOf, WireGuardKey } from "../../wireguard/key.ts";

/** Why the keys of an object cannot be had; `reason` is a condition reason. */
export class KeyMaterialError extends Error {
  override name = "KeyMaterialError";
  constructor(
    readonly reason:
      | typeof CONDITION_REASONS.SecretNamespaceForbidden
      | typeof CONDITION_REASONS.SecretNotFound
      | typeof CONDITION_REASONS.InvalidKey
      | typeof CONDITION_REASONS.KeySecretNotTrusted,
    message: string,
  ) {
    super(message);
  }
}

const SECRETS = { group: "", version: "v1", plural: "secrets" };

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** Reads one Secret (namespace, name); rejects as {@link KubeClient.get} does. */
export type SecretGetter = (namespace: string, name: string, signal?: AbortSignal) => Promise<Secret>;

/**
 * Secret GETs of one agent where concurrent reads of the same Secret share one request: the objects of a plan on a
 * node all name the node's key Secret, and a plan's first pass reaches them at once (N−1 GETs of one Secret per node
 * in a full mesh). A read that joins a request in flight gets an answer at most one API round trip older than a GET
 * of its own; nothing is kept after the answer. `onGet` counts the requests sent.
 */
export class SharedSecretReads {
  readonly #inflight = new Map<string, Promise<Secret>>();

  constructor(private readonly client: KubeClient, private readonly onGet?: () => void) {}

  /** The Secret, from the request in flight for it or a new one; `signal` ends only this caller's wait. */
  get: SecretGetter = (namespace, name, signal) => {
    const key = `${namespace}/${name}`;
    let request = this.#inflight.get(key);
    if (!request) {
      this.onGet?.();
      request = this.client.get<Secret>(SECRETS, namespace, name);
      this.#inflight.set(key, request);
      const clear = () => this.#inflight.delete(key);
      request.then(clear, clear);
    }
    return signal ? untilAborted(request, signal) : request;
  };
}

/** `p`, or a rejection with the abort reason as soon as `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function fromSecret(
  getSecret: SecretGetter,
  ref: SecretKeyRef,
  objectNamespace: string,
  field: string,
  kind: KeyKind,
  signal?: AbortSignal,
): Promise<WireGuardKey> {
  const r = resolveSecretRef(ref, objectNamespace, field);
  if (!r.allowed) throw new KeyMaterialError(r.reason, r.message);
  let secret: Secret;
  try {
    secret = await getSecret(r.namespace, r.name, signal);
  } catch (e) {
    if (isNotFound(e)) {
      throw new KeyMaterialError(
        CONDITION_REASONS.SecretNotFound,
        `${field}: Secret ${r.namespace}/${r.name} not found`,
      );
    }
    throw e;
  }
  const value = secret.data?.[r.key];
  if (value === undefined) {
    throw new KeyMaterialError(
      CONDITION_REASONS.SecretNotFound,
      `${field}: Secret ${r.namespace}/${r.name} has no key "${r.key}"`,
    );
  }
  try {
    const text = wireGuardKeyFromSecretData(new Uint8Array(Buffer.from(value, "base64")), field);
    return WireGuardKey.parse(kind, text, field);
  } catch (e) {
    throw new KeyMaterialError(CONDITION_REASONS.InvalidKey, (e as Error).message);
  }
}

/** What {@link readKeys} needs of an object. */
export interface KeyedObject {
  metadata: { namespace?: string; generation?: number };
  spec: WireGuardInterfaceSpec;
}

/**
 * The keys of `obj`: inline private key or its Secret (read with `getSecret`), and each referenced preshared key. A
 * preshared key that cannot be had affects only its peer: it becomes a held {@link PeerProblem}; only the private key
 * is needed by the whole interface.
 */
export async function readKeys(getSecret: SecretGetter, obj: KeyedObject, signal?: AbortSignal): Promise<WgKeys> {
  const ns = obj.metadata.namespace ?? "default";
  const spec = obj.spec;
  const secret = (ref: SecretKeyRef, field: string, kind: KeyKind) =>
    fromSecret(getSecret, ref, ns, field, kind, signal);
  let privateKey: WireGuardKey;
  if (spec.privateKey) {
    try {
      privateKey = WireGuardKey.parse("private", spec.privateKey, "spec.privateKey");
    } catch (e) {
      throw new KeyMaterialError(CONDITION_REASONS.InvalidKey, (e as Error).message);
    }
  } else if (spec.privateKeySecretRef) {
    privateKey = await secret(spec.privateKeySecretRef, "spec.privateKeySecretRef", "private");
  } else {
    throw new KeyMaterialError(CONDITION_REASONS.InvalidKey, "spec: a private key is required");
  }
  const peerProblems: PeerProblem[] = [];
  const presharedKeys = await Promise.all(
    (spec.peers ?? []).map(async (p, i) => {
      if (!p.presharedKeySecretRef) return undefined;
      try {
        return await secret(p.presharedKeySecretRef, `spec.peers[${i}].presharedKeySecretRef`, "preshared");
      } catch (e) {
        if (!(e instanceof KeyMaterialError)) throw e;
        peerProblems.push({ index: i, reason: e.reason, message: `peer ${p.publicKey}: ${e.message}`, hold: true });
        return undefined;
      }
    }),
  );
  return { privateKey, presharedKeys, peerProblems: peerProblems.sort((a, b) => a.index - b.index) };
}

/** Public keys of the private keys checked so far (a cached key object is derived once). */
const derived = new WeakMap<WireGuardKey, string>();

/**
 * Refuses a private key whose public key is not the one the object's plan recorded for it (annotation
 * {@link PLAN_PUBLIC_KEY_ANNOTATION}): the plan's key Secret was changed by someone else. Objects without the
 * annotation (every object not generated from a plan's own keys) are not checked.
 */
export async function checkPlanKey(
  annotations: Record<string, string> | undefined,
  spec: WireGuardInterfaceSpec,
  privateKey: WireGuardKey,
): Promise<void> {
  const want = annotations?.[PLAN_PUBLIC_KEY_ANNOTATION];
  if (!want) return;
  let have = derived.get(privateKey);
  if (!have) derived.set(privateKey, have = (await publicKeyOf(privateKey)).toBase64());
  if (have === want) return;
  const ref = spec.privateKeySecretRef;
  const source = ref ? `Secret ${ref.name} (key ${ref.key})` : "spec.privateKey";
  throw new KeyMaterialError(
    CONDITION_REASONS.KeySecretNotTrusted,
    `spec.privateKeySecretRef: the private key in ${source} has public key ${have}, not ${want} that the plan ` +
      `controller recorded (annotation ${PLAN_PUBLIC_KEY_ANNOTATION}): someone else changed it; the link keeps ` +
      "its key until the plan regenerates it (delete the Secret)",
  );
}

/** The Secret references of a spec, as one comparable string ("" when it references none). */
export function secretRefsOf(spec: WireGuardInterfaceSpec): string {
  const refs = [spec.privateKeySecretRef, ...(spec.peers ?? []).map((p) => p.presharedKeySecretRef)];
  return refs.some((r) => r !== undefined) ? JSON.stringify(refs) : "";
}

interface CachedKeys {
  /** Generation and Secret references the keys were read for. */
  fingerprint: string;
  keys: WgKeys;
  readAt: number;
}

/**
 * Keys read from Secrets, kept per object between polls, so a steady-state poll sends no Secret GET. Policy:
 * an object's Secrets are read again when
 * - its generation or its Secret references changed (any spec edit),
 * - the keys are older than `maxAgeMs` (wg-controller passes -default-resync-period, so a rotated Secret is applied
 *   within that period plus one poll: 30 s + 10 s with the defaults),
 * - the object's last pass failed ({@link forget}; a failure might come from stale keys),
 * - the object went away ({@link forget}).
 * A failed read is never kept (the next pass reads again); objects with inline keys only are never kept (nothing
 * is read for them). Key material stays in process memory only, as it did per pass.
 */
export class KeyCache {
  readonly #entries = new Map<string, CachedKeys>();

  constructor(private readonly maxAgeMs: number, private readonly now: () => number = () => performance.now()) {}

  /** The keys of object `key` (namespace/name): cached ones when still valid, else `read()`'s (then kept). */
  async get(key: string, obj: KeyedObject, read: () => Promise<WgKeys>): Promise<WgKeys> {
    const refs = secretRefsOf(obj.spec);
    if (!refs) {
      this.#entries.delete(key);
      return await read();
    }
    const fingerprint = `${obj.metadata.generation ?? ""}|${refs}`;
    const hit = this.#entries.get(key);
    if (hit && hit.fingerprint === fingerprint && this.now() - hit.readAt < this.maxAgeMs) return hit.keys;
    this.#entries.delete(key);
    const readAt = this.now();
    const keys = await read();
    if (!keys.peerProblems?.length) this.#entries.set(key, { fingerprint, keys, readAt }); // a failed read is not kept
    return keys;
  }

  /** Drops the keys of `key`: its next pass reads its Secrets again. */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  /** Objects whose keys are kept. */
  get size(): number {
    return this.#entries.size;
  }
}
