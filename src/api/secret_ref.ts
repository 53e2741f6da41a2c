/**
 * Secret references: which namespace a reference resolves to (the object's own; any other is refused), and how
 * the key bytes stored in a Secret become a WireGuard key.
 */
import { Buffer } from "node:buffer";
import { CONDITION_REASONS } from "./constants.ts";
import type { SecretKeyRef } from "./common.ts";

/** A reference resolved against the namespace of the object that holds it. */
export type ResolvedSecretRef =
  | { allowed: true; namespace: string; name: string; key: string }
  | { allowed: false; reason: typeof CONDITION_REASONS.SecretNamespaceForbidden; message: string };

/**
 * Resolves `ref` held by an object in `objectNamespace`. The namespace defaults to the object's own; a reference
 * into another namespace is refused (a controller must not read Secrets on behalf of whoever can create objects).
 * `field` names the reference in the message, e.g. "spec.privateKeySecretRef".
 */
export function resolveSecretRef(ref: SecretKeyRef, objectNamespace: string, field: string): ResolvedSecretRef {
  const namespace = ref.namespace ?? objectNamespace;
  if (namespace !== objectNamespace) {
    return {
      allowed: false,
      reason: CONDITION_REASONS.SecretNamespaceForbidden,
      message: `${field}.namespace is "${namespace}", but only Secrets in the object's own namespace ` +
        `"${objectNamespace}" may be referenced`,
    };
  }
  return { allowed: true, namespace, name: ref.name, key: ref.key };
}

/** Why key material from a Secret was refused. Never carries the key itself. */
export class KeyFormatError extends Error {
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "KeyFormatError";
  }
}

const KEY_TEXT = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

/** True when `text` is a WireGuard key in its standard base64 form (44 characters, 32 bytes). */
export function isWireGuardKey(text: string): boolean {
  return KEY_TEXT.test(text);
}

/**
 * The base64 WireGuard key held in a Secret's `data[key]` (already base64-decoded by the API client): either the
 * raw 32 bytes (the reference's format: `wg genkey` output placed under `data:`) or the 44-character base64 text
 * (e.g. placed under `stringData:`), surrounding whitespace ignored. Throws KeyFormatError naming `field`.
 */
export function wireGuardKeyFromSecretData(value: Uint8Array, field: string): string {
  if (value.length === 32) return Buffer.from(value).toString("base64");
  const text = new TextDecoder("utf-8", { fatal: false }).decode(value).trim();
  if (isWireGuardKey(text)) return text;
  throw new KeyFormatError(
    field,
    `expected 32 raw key bytes or 44 characters of base64 (a WireGuard key), got ${value.length} bytes`,
  );
}
