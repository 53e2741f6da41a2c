/**
 * Names of generated objects and links. The reference uses `wg-<from>-<to>-<idx>` as both the Linux interface name and
 * the object name without checking either (docs/reference.md#plan-names). Here every name is checked against its grammar and, when it
 * does not fit, replaced by a deterministic shortened form that ends in a hash of the full name, so the same input
 * always yields the same name and different inputs practically never collide (collisions are still detected by the
 * expansion).
 */
import { createHash } from "node:crypto";

/** Linux IFNAMSIZ minus the terminating NUL. */
export const MAX_IFNAME_BYTES = 15;
/** Maximum length of a DNS-1123 subdomain (object names). */
export const MAX_OBJECT_NAME = 253;
/** Maximum length of a label value. */
export const MAX_LABEL_VALUE = 63;

const encoder = new TextEncoder();

/** Lowercase hex SHA-256 of the text, cut to `chars` characters. */
export function shortHash(text: string, chars: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, chars);
}

/** The reference's name of the link from `from` to `to` with index `idx`. */
export function fullLinkName(from: string, to: string, idx: number): string {
  return `wg-${from}-${to}-${idx}`;
}

/** The reference's resource id of a link (the `resource-id` label before bounding). */
export function resourceId(from: string, to: string, idx: number): string {
  return `${from}-${to}-${idx}`;
}

/** True if the kernel accepts the name as an interface name (1–15 bytes, no '/', ':' or whitespace, not . or ..). */
export function isValidInterfaceName(name: string): boolean {
  const bytes = encoder.encode(name).length;
  return bytes >= 1 && bytes <= MAX_IFNAME_BYTES && !/[/:\s]/.test(name) && name !== "." && name !== "..";
}

/**
 * The interface name of a link: the full name when the kernel accepts it, else `wg-<up to 5 chars of toNode>-<6 hex
 * of SHA-256(full name)>` (at most 15 bytes).
 */
export function interfaceNameFor(fullName: string, toNode: string): string {
  if (isValidInterfaceName(fullName)) return fullName;
  const prefix = toNode.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 5);
  return prefix ? `wg-${prefix}-${shortHash(fullName, 6)}` : `wg-${shortHash(fullName, 12)}`;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** True for a valid Kubernetes object name (DNS-1123 subdomain). */
export function isValidObjectName(name: string): boolean {
  return name.length <= MAX_OBJECT_NAME && DNS1123_SUBDOMAIN.test(name);
}

/** Keeps only `allowed` characters (others become '-'), collapses dashes and trims non-alphanumerics at both ends. */
function sanitize(text: string, invalid: RegExp, maxLen: number): string {
  return text.replace(invalid, "-").replace(/-+/g, "-").slice(0, maxLen).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** The object name for a full name: itself when valid, else a sanitized lowercase form plus `-<8 hex>`. */
export function objectNameFor(fullName: string): string {
  if (isValidObjectName(fullName)) return fullName;
  const base = sanitize(fullName.toLowerCase(), /[^a-z0-9.-]|\.(?=\.)/g, MAX_OBJECT_NAME - 9);
  return base ? `${base}-${shortHash(fullName, 8)}` : `wg-${shortHash(fullName, 8)}`;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** True for a valid label value (at most 63 characters of the label grammar). */
export function isValidLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value);
}

/** A label value for any text: itself when valid, else a sanitized prefix plus `-<8 hex>` (at most 63 characters). */
export function labelValueFor(text: string): string {
  if (isValidLabelValue(text)) return text;
  const base = sanitize(text, /[^-A-Za-z0-9_.]/g, MAX_LABEL_VALUE - 9);
  return base ? `${base}-${shortHash(text, 8)}` : shortHash(text, 8);
}
