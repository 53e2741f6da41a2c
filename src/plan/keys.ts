/**
 * Node keys of a plan. The reference copied every node's private key inline into each generated child (docs/reference.md#inline-keys)
 * and had no key generation. Here the children always reference a Secret in their own namespace:
 * - `privateKeyRef` → the user's Secret itself (it must be in the plan's namespace; other namespaces are refused);
 * - inline `privateKey` → copied into the plan's own key Secret;
 * - neither → a key generated once and kept in the plan's own key Secret (owned by the plan, so garbage collection
 *   removes it with the plan).
 * Keys are {@link WireGuardKey} values, which never print their bytes; problems name the field, never the key.
 */
import { PLAN_ROTATED_KEYS_ANNOTATION } from "../api/constants.ts";
import { generatePrivateKey, publicKeyOf, WireGuardKey } from "../wireguard/key.ts";
import type { NodeKey, PlanProblem } from "./expand.ts";
import { objectNameFor, shortHash } from "./names.ts";
import type { SecretKeyRef, WireGuardNetworkPlanSpec } from "./types.ts";

/** Where a node's private key comes from. */
export type KeySource =
  | { node: string; field: string; kind: "secret"; ref: Required<SecretKeyRef> }
  | { node: string; field: string; kind: "inline"; text: string }
  | { node: string; field: string; kind: "generated" };

/** Name of the Secret a plan keeps inline and generated keys in. */
export function planKeySecretName(planName: string): string {
  return objectNameFor(`${planName}-wgplan-keys`);
}

/** The data key of a node in the plan's key Secret (Secret data keys allow `-._a-zA-Z0-9`). */
export function secretDataKeyFor(node: string): string {
  return /^[-._a-zA-Z0-9]{1,253}$/.test(node) ? node : `node-${shortHash(node, 16)}`;
}

/** Decides each node's key source (first declaration of a node name wins); refs into other namespaces are refused. */
export function keySources(
  spec: WireGuardNetworkPlanSpec,
  namespace: string,
): { sources: KeySource[]; problems: PlanProblem[] } {
  const sources: KeySource[] = [];
  const problems: PlanProblem[] = [];
  const seen = new Set<string>();
  for (const [i, n] of (spec.nodes ?? []).entries()) {
    if (seen.has(n.nodeName)) continue;
    seen.add(n.nodeName);
    if (n.privateKey) {
      sources.push({ node: n.nodeName, field: `spec.nodes[${i}].privateKey`, kind: "inline", text: n.privateKey });
    } else if (n.privateKeyRef) {
      const field = `spec.nodes[${i}].privateKeyRef`;
      const refNs = n.privateKeyRef.namespace || namespace;
      if (refNs !== namespace) {
        problems.push({
          reason: "SecretNamespaceForbidden",
          message: `${field}.namespace: Secret ${refNs}/${n.privateKeyRef.name} is outside the plan's namespace ` +
            `${namespace}; only Secrets in the plan's own namespace may be referenced`,
        });
        continue;
      }
      sources.push({ node: n.nodeName, field, kind: "secret", ref: { ...n.privateKeyRef, namespace } });
    } else {
      sources.push({ node: n.nodeName, field: `spec.nodes[${i}]`, kind: "generated" });
    }
  }
  return { sources, problems };
}

/** Secret data as raw bytes per key (undefined: the Secret does not exist). */
export type SecretData = Record<string, Uint8Array> | undefined;

/** Result of {@link resolveKeys}. */
export interface ResolvedKeys {
  /** Usable keys of the nodes, for the expansion. */
  keys: Map<string, NodeKey>;
  problems: PlanProblem[];
  /** Wanted content of the plan's key Secret (raw 32-byte keys, the reference's Secret format). */
  planSecretData: Record<string, Uint8Array>;
  /** True when planSecretData differs from what the plan's key Secret holds. */
  planSecretChanged: boolean;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Resolves every node's private key and derives its public key. `userSecrets` holds the referenced Secrets by name
 * (read in the plan's namespace), `planSecret` the plan's own key Secret. Generates missing keys.
 */
export async function resolveKeys(
  sources: KeySource[],
  namespace: string,
  secretName: string,
  planSecret: SecretData,
  userSecrets: ReadonlyMap<string, SecretData>,
  generate: () => Promise<WireGuardKey> = generatePrivateKey,
): Promise<ResolvedKeys> {
  const keys = new Map<string, NodeKey>();
  const problems: PlanProblem[] = [];
  const planSecretData: Record<string, Uint8Array> = {};
  for (const s of sources) {
    let key: WireGuardKey;
    let secretRef: Required<SecretKeyRef>;
    try {
      if (s.kind === "secret") {
        const data = userSecrets.get(s.ref.name);
        const raw = data?.[s.ref.key];
        if (!raw) {
          problems.push({
            reason: "SecretNotFound",
            message: `${s.field}: ${data ? `key ${s.ref.key} not found in` : "no"} Secret ${namespace}/${s.ref.name}`,
          });
          continue;
        }
        key = WireGuardKey.parse("private", raw, s.field);
        secretRef = s.ref;
      } else {
        const dataKey = secretDataKeyFor(s.node);
        const stored = planSecret?.[dataKey];
        if (s.kind === "inline") key = WireGuardKey.parse("private", s.text, s.field);
        else key = stored?.length === 32 ? WireGuardKey.fromBytes("private", stored) : await generate();
        planSecretData[dataKey] = key.toBytes();
        secretRef = { name: secretName, key: dataKey, namespace };
      }
      const inPlanSecret = s.kind !== "secret" ? { inPlanSecret: true } : {};
      keys.set(s.node, { publicKey: (await publicKeyOf(key)).toBase64(), secretRef, ...inPlanSecret });
    } catch (e) {
      // Key parse errors name the field and the expected format only (src/wireguard/key.ts never quotes the input).
      problems.push({ reason: "InvalidKey", message: (e as Error).message });
    }
  }
  const old = planSecret ?? {};
  const planSecretChanged = Object.keys(old).length !== Object.keys(planSecretData).length ||
    Object.entries(planSecretData).some(([k, v]) => !sameBytes(old[k], v));
  return { keys, problems, planSecretData, planSecretChanged };
}

/** The public keys a rotation announced on the plan (annotation PLAN_ROTATED_KEYS_ANNOTATION), by node; pure. */
export function announcedKeys(annotations: Record<string, string> | undefined): Map<string, string> {
  try {
    const v: unknown = JSON.parse(annotations?.[PLAN_ROTATED_KEYS_ANNOTATION] ?? "{}");
    if (typeof v !== "object" || v === null || Array.isArray(v)) return new Map();
    return new Map(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === "string"));
  } catch {
    return new Map(); // not JSON: announces nothing
  }
}
