/**
 * Reusable field schemas for the CRDs, built with TypeBox so each one yields both the OpenAPI v3 schema (with
 * descriptions, bounds and CEL rules the API server enforces at admission) and the static TypeScript type.
 *
 * CEL rules use raw string literals (r'...') so regular expressions need no double escaping. Every string that a
 * rule reads has a maxLength, and every list a maxItems, so the API server's cost estimate stays bounded.
 */
import { type TSchema, Type } from "@sinclair/typebox";

/** One CEL rule in `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  /** JSONPath-like path (relative to the schema the rule sits on) the error is reported at, e.g. `.mtu`. */
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
}

/** Options object fragment carrying CEL rules. */
export function rules(...list: CelRule[]): { "x-kubernetes-validations": CelRule[] } {
  return { "x-kubernetes-validations": list };
}

/** A rule on a parent object that makes its required child `field` immutable (not evaluated on create). */
export function immutableField(field: string, what: string): CelRule {
  return {
    rule: `self.${field} == oldSelf.${field}`,
    message: `${what} is immutable; delete and recreate the object to change it`,
    fieldPath: `.${field}`,
  };
}

/**
 * A rule on a parent object that makes the optional child `field` immutable, including adding or removing it
 * (a rule on the child itself would not see it appear or disappear).
 */
export function immutableOptional(field: string, what: string): CelRule {
  return {
    rule: `has(self.${field}) == has(oldSelf.${field}) && (!has(self.${field}) || self.${field} == oldSelf.${field})`,
    message: `${what} is immutable (it may not be added, removed or changed); delete and recreate the object`,
    fieldPath: `.${field}`,
  };
}

/** The same schema (rules included) with another description, for reusing shared shapes. */
export function describe<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}

/** A string restricted to the given values (OpenAPI `enum`). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description: string; default?: T[number] },
) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/** CEL: `self` is a lowercase RFC 1123 DNS subdomain (the shape of node, Secret and most object names). */
export const DNS1123_SUBDOMAIN = String
  .raw`self.matches(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`;

/** Kubernetes node name: an RFC 1123 DNS subdomain (lowercase). */
export function NodeName(description: string, maxLength = 253) {
  return Type.String({
    description,
    minLength: 1,
    maxLength,
    ...rules({
      rule: DNS1123_SUBDOMAIN,
      message: "must be a Kubernetes node name: lowercase letters, digits, '-' and '.', " +
        "starting and ending with a letter or digit",
    }),
  });
}

/** The CEL rule for a Linux interface name (kernel dev_valid_name, restricted to printable ASCII). */
export const INTERFACE_NAME_RULE: CelRule = {
  // printable ASCII without '/' (0x2f) and ':' (0x3a); space and other whitespace are outside the class
  rule: String.raw`self.matches(r'^[!-.0-9;-~]+$') && self != '.' && self != '..'`,
  message: "must be a Linux interface name: 1-15 printable ASCII characters without '/', ':' or whitespace, " +
    "and not '.' or '..'",
};

/** Linux interface name, 1–15 bytes (IFNAMSIZ - 1). */
export function InterfaceName(description: string) {
  return Type.String({ description, minLength: 1, maxLength: 15, ...rules(INTERFACE_NAME_RULE) });
}

/** The CEL rule for a WireGuard key; the message never echoes the value. */
export const WIREGUARD_KEY_RULE: CelRule = {
  rule: String.raw`self.matches(r'^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$')`,
  message: "must be a WireGuard key: 44 characters of standard base64 encoding exactly 32 bytes " +
    "(the output of `wg genkey` or `wg pubkey`)",
};

/** A WireGuard key in its standard base64 text form (44 characters). */
export function WireGuardKey(description: string) {
  return Type.String({ description, maxLength: 44, ...rules(WIREGUARD_KEY_RULE) });
}

/** An IPv4 or IPv6 address without zone or prefix. */
export function IPAddress(description: string) {
  return Type.String({
    description,
    maxLength: 45,
    ...rules({ rule: "isIP(self)", message: "must be an IPv4 or IPv6 address such as 10.4.0.1 or fe80::1" }),
  });
}

/** An address with prefix length; host bits may be set (10.2.3.1/24 is an address on a /24). */
export function CIDR(description: string) {
  return Type.String({
    description,
    maxLength: 49,
    ...rules({
      rule: "isCIDR(self)",
      message: "must be an address or network with prefix length, such as 10.2.3.1/24 or fd00::1/64",
    }),
  });
}

/** A DNS name or IP address. */
export function HostName(description: string) {
  return Type.String({
    description,
    minLength: 1,
    maxLength: 253,
    ...rules({
      rule: String
        .raw`isIP(self) || self.matches(r'^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*[.]?$')`,
      message: "must be an IP address or a DNS name",
    }),
  });
}

/** `host:port` with an IPv4 address, a DNS name or a bracketed IPv6 address, and a port 1–65535. */
export function Endpoint(description: string) {
  return Type.String({
    description,
    maxLength: 261,
    ...rules({
      rule: String.raw`self.matches(r'^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$')` +
        String.raw` && (!self.startsWith('[') || isIP(self.substring(1, self.lastIndexOf(']'))))` +
        " && int(self.substring(self.lastIndexOf(':') + 1)) >= 1" +
        " && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",
      message: "must be host:port with an IPv4 address, a DNS name or a bracketed IPv6 address " +
        "([fd00::1]:51820) and a port 1-65535",
    }),
  });
}

/** A UDP/TCP port 1–65535. */
export function Port(description: string) {
  return Type.Integer({ description, minimum: 1, maximum: 65535 });
}

/** A port 0–65535 where 0 means "unset". */
export function PortOrZero(description: string) {
  return Type.Integer({ description, minimum: 0, maximum: 65535 });
}

/** A link MTU 68–65535; with `allowZero`, 0 means "use the default"; `defaultValue` is filled in by the server. */
export function Mtu(description: string, allowZero: boolean, defaultValue?: number) {
  return allowZero
    ? Type.Integer({
      description,
      ...(defaultValue === undefined ? {} : { default: defaultValue }),
      minimum: 0,
      maximum: 65535,
      ...rules({ rule: "self == 0 || self >= 68", message: "must be 0 (default) or between 68 and 65535" }),
    })
    : Type.Integer({ description, minimum: 68, maximum: 65535 });
}

/** A 64-bit integer (counters, generations, timestamps). */
export function Int64(description: string, minimum = 0) {
  return Type.Integer({ description, format: "int64", minimum });
}

/** A list treated as a set (`x-kubernetes-list-type: set`) of scalars. */
export function SetOf<T extends TSchema>(item: T, description: string, maxItems: number) {
  return Type.Array(item, { description, maxItems, "x-kubernetes-list-type": "set" });
}

/** A list of objects merged by key (`x-kubernetes-list-type: map`); the key must be required in the item. */
export function MapListOf<T extends TSchema>(item: T, key: string, description: string, maxItems: number) {
  return Type.Array(item, {
    description,
    maxItems,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": [key],
  });
}
