/**
 * Key material of one WireGuardInterface: the inline private key, or Secrets fetched one by one where the spec
 * references them — only in the object's own namespace (a reference elsewhere is refused; no cluster-wide Secret
 * cache exists). Secret values may be the raw 32 key bytes (the reference's format) or base64 text. Errors name
 * the field and the Secret, never the key.
 */
import { Buffer } from "node:buffer";
import { CONDITION_REASONS } from "../../api/constants.ts";
import type { SecretKeyRef } from "../../api/common.ts";
import { resolveSecretRef, wireGuardKeyFromSecretData } from "../../api/secret_ref.ts";
import type { WireGuardInterfaceSpec } from "../../api/wireguard_interface.ts";
import { isNotFound, type KubeClient, type KubeObject } from "../../kube/client.ts";
import type { WgKeys } from "../../node/wireguard/desired.ts";
import { type KeyKind, WireGuardKey } from "../../wireguard/key.ts";

/** Why the keys of an object cannot be had; `reason` is a condition reason. */
export class KeyMaterialError extends Error {
  override name = "KeyMaterialError";
  constructor(
    readonly reason:
      | typeof CONDITION_REASONS.SecretNamespaceForbidden
      | typeof CONDITION_REASONS.SecretNotFound
      | typeof CONDITION_REASONS.InvalidKey,
    message: string,
  ) {
    super(message);
  }
}

const SECRETS = { group: "", version: "v1", plural: "secrets" };

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

async function fromSecret(
  client: KubeClient,
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
    secret = await client.get<Secret>(SECRETS, r.namespace, r.name, signal);
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

/** The keys of `obj`: inline private key or its Secret, and each referenced preshared key. */
export async function readKeys(
  client: KubeClient,
  obj: { metadata: { namespace?: string }; spec: WireGuardInterfaceSpec },
  signal?: AbortSignal,
): Promise<WgKeys> {
  const ns = obj.metadata.namespace ?? "default";
  const spec = obj.spec;
  let privateKey: WireGuardKey;
  if (spec.privateKey) {
    try {
      privateKey = WireGuardKey.parse("private", spec.privateKey, "spec.privateKey");
    } catch (e) {
      throw new KeyMaterialError(CONDITION_REASONS.InvalidKey, (e as Error).message);
    }
  } else if (spec.privateKeySecretRef) {
    privateKey = await fromSecret(client, spec.privateKeySecretRef, ns, "spec.privateKeySecretRef", "private", signal);
  } else {
    throw new KeyMaterialError(CONDITION_REASONS.InvalidKey, "spec: a private key is required");
  }
  const presharedKeys = await Promise.all(
    (spec.peers ?? []).map((p, i) =>
      p.presharedKeySecretRef
        ? fromSecret(client, p.presharedKeySecretRef, ns, `spec.peers[${i}].presharedKeySecretRef`, "preshared", signal)
        : undefined
    ),
  );
  return { privateKey, presharedKeys };
}
