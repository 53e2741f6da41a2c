/**
 * Key I/O of one plan: reads the referenced Secrets and the plan's own key Secret (only in the plan's namespace),
 * resolves the keys (src/plan/keys.ts) and writes the plan's key Secret when it must change. The Secret is owned by
 * the plan (controller owner reference), so garbage collection removes it with the plan.
 *
 * Trust: the generated keys come from that Secret, and anyone who may create or update Secrets in the namespace could
 * plant one under its name (owner reference included) or change its data. So a stored generated key is used only
 * when its public key is the one this controller recorded in the plan's status (`status.nodes`, which only the
 * controller writes), or announced on the plan itself as a rotation (annotation PLAN_ROTATED_KEYS_ANNOTATION, which
 * only who may update the plan can set), or — before any was recorded — when this process wrote the Secret itself.
 * Otherwise the Secret is not used and not overwritten: the plan reports KeySecretNotTrusted and those nodes' links
 * are held.
 */
import { isAlreadyExists, isNotFound, type KubeClient } from "../../kube/client.ts";
import { controlledByValue, LABEL_CONTROLLED_BY, type PlanIdentity } from "../../plan/child.ts";
import type { PlanProblem } from "../../plan/expand.ts";
import { keySources, planKeySecretName, type ResolvedKeys, resolveKeys, type SecretData } from "../../plan/keys.ts";
import type { WireGuardNetworkPlanSpec } from "../../plan/types.ts";
import { type SecretObject, SECRETS } from "./resources.ts";
import { API_VERSION, KINDS } from "../../api/constants.ts";
import { Lru } from "../../kube/correlator.ts";
import { publicKeyOf, WireGuardKey } from "../../wireguard/key.ts";
import { secretDataKeyFor } from "../../plan/keys.ts";

/** Keys of a plan plus every problem found on the way. */
export interface PlanKeys extends ResolvedKeys {
  /** Public keys of the nodes, in spec order (no entry for nodes whose key is unusable). */
  nodes: { nodeName: string; publicKey?: string }[];
}

function decode(secret: SecretObject | undefined): SecretData {
  if (!secret) return undefined;
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Uint8Array.fromBase64(v)]));
}

async function getSecret(client: KubeClient, namespace: string, name: string): Promise<SecretObject | undefined> {
  try {
    return await client.get<SecretObject>(SECRETS, namespace, name);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function ownedBy(secret: SecretObject, uid: string): boolean {
  return (secret.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
}

/** The versions (resourceVersion by UID) of the key Secrets as this process created or replaced them (bounded). */
const written = new Lru<string, string>(4096);

/**
 * The generated nodes whose stored key is not trusted (see the module doc): its public key differs from the
 * recorded one, or none is recorded and this process did not write the Secret.
 */
async function untrustedNodes(
  own: SecretObject,
  data: Record<string, Uint8Array>,
  generated: string[],
  recorded: ReadonlyMap<string, string>,
  announced: ReadonlyMap<string, string>,
): Promise<string[]> {
  // Written by this process and unchanged since: the same object at the same version.
  const wroteIt = own.metadata.uid !== undefined && written.get(own.metadata.uid) === own.metadata.resourceVersion;
  const bad: string[] = [];
  for (const node of generated) {
    const stored = data[secretDataKeyFor(node)];
    if (stored?.length !== 32) continue;
    const pub = (await publicKeyOf(WireGuardKey.fromBytes("private", stored))).toBase64();
    const want = recorded.get(node);
    if (announced.get(node) === pub) continue;
    if (want === undefined ? !wroteIt : want !== pub) bad.push(node);
  }
  return bad;
}

/**
 * Resolves the plan's keys, generating and storing missing ones; writes nothing when nothing changed. `recorded`: the
 * nodes' public keys as this controller last wrote them into the plan's status; `announced`: those of a rotation
 * announced on the plan.
 *
 * A plan with no key recorded or announced yet (a new plan) normally has no key Secret: it is then created without
 * being read first, one API round trip less before the plan's children can be written. If one exists after all, the
 * creation is refused (409) and the keys are loaded again, reading it.
 */
export async function loadPlanKeys(
  client: KubeClient,
  plan: PlanIdentity,
  spec: WireGuardNetworkPlanSpec,
  fieldManager: string,
  recorded: ReadonlyMap<string, string> = new Map(),
  announced: ReadonlyMap<string, string> = new Map(),
): Promise<PlanKeys> {
  const args = [client, plan, spec, fieldManager, recorded, announced] as const;
  if (recorded.size > 0 || announced.size > 0) return await load(...args, true);
  try {
    return await load(...args, false);
  } catch (e) {
    if (!(e instanceof SecretExists)) throw e;
    return await load(...args, true);
  }
}

/** The plan's key Secret was to be created without reading it, and it exists. */
class SecretExists extends Error {}

async function load(
  client: KubeClient,
  plan: PlanIdentity,
  spec: WireGuardNetworkPlanSpec,
  fieldManager: string,
  recorded: ReadonlyMap<string, string>,
  announced: ReadonlyMap<string, string>,
  readOwn: boolean,
): Promise<PlanKeys> {
  const { sources, problems } = keySources(spec, plan.namespace);
  const secretName = planKeySecretName(plan.name);
  // The plan's own Secret and the referenced ones are read at once: one API round trip per pass, not one per Secret.
  const userNames = [...new Set(sources.flatMap((s) => s.kind === "secret" ? [s.ref.name] : []))];
  const [own, ...userSecrets] = await Promise.all([
    readOwn ? getSecret(client, plan.namespace, secretName) : undefined,
    ...userNames.map((name) => getSecret(client, plan.namespace, name)),
  ]);
  const generated = sources.filter((s) => s.kind === "generated").map((s) => s.node);
  const untrusted = own && ownedBy(own, plan.uid)
    ? await untrustedNodes(own, decode(own) ?? {}, generated, recorded, announced)
    : [];
  const foreign = own !== undefined && (!ownedBy(own, plan.uid) || untrusted.length > 0);
  const users = new Map<string, SecretData>(userNames.map((name, i) => [name, decode(userSecrets[i])]));
  const resolved = await resolveKeys(sources, plan.namespace, secretName, foreign ? undefined : decode(own), users);
  const allProblems: PlanProblem[] = [...problems, ...resolved.problems];
  if (untrusted.length) {
    allProblems.push({
      reason: "KeySecretNotTrusted",
      message: `Secret ${plan.namespace}/${secretName} holds keys of node(s) ${untrusted.join(", ")} that this ` +
        "controller did not write (their public keys are not the ones it recorded); it is neither used nor " +
        "overwritten: delete it to have new keys generated",
    });
    for (const s of sources) if (s.kind !== "secret") resolved.keys.delete(s.node);
  } else if (foreign && Object.keys(resolved.planSecretData).length) {
    // Someone else's Secret has our name: never overwrite it; the nodes stored there get no key.
    allProblems.push({
      reason: "NameConflict",
      message: `Secret ${plan.namespace}/${secretName} exists and is not owned by this plan; ` +
        "it cannot hold the plan's generated and inline keys",
    });
    for (const s of sources) if (s.kind !== "secret") resolved.keys.delete(s.node);
  } else if (resolved.planSecretChanged) {
    const body: SecretObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: secretName,
        namespace: plan.namespace,
        labels: { [LABEL_CONTROLLED_BY]: controlledByValue(plan.name) },
        ownerReferences: [{
          apiVersion: API_VERSION,
          kind: KINDS.WireGuardNetworkPlan.kind,
          name: plan.name,
          uid: plan.uid,
          controller: true,
          blockOwnerDeletion: true,
        }],
        ...(own ? { resourceVersion: own.metadata.resourceVersion } : {}),
      },
      type: "Opaque",
      data: Object.fromEntries(Object.entries(resolved.planSecretData).map(([k, v]) => [k, v.toBase64()])),
    };
    const stored = own
      ? await client.replace<SecretObject>(SECRETS, body, { fieldManager })
      : await client.create<SecretObject>(SECRETS, plan.namespace, body, fieldManager).catch((e) => {
        throw !readOwn && isAlreadyExists(e) ? new SecretExists() : e;
      });
    if (stored?.metadata?.uid && stored.metadata.resourceVersion) {
      written.set(stored.metadata.uid, stored.metadata.resourceVersion);
    }
  }
  const nodes = (spec.nodes ?? [])
    .filter((n, i, all) => all.findIndex((m) => m.nodeName === n.nodeName) === i)
    // A node held because of an untrusted Secret keeps its recorded key: the record is what later passes trust.
    .map((n) => ({
      nodeName: n.nodeName,
      publicKey: resolved.keys.get(n.nodeName)?.publicKey ?? (foreign ? recorded.get(n.nodeName) : undefined),
    }));
  return { ...resolved, problems: allProblems, nodes };
}

/** Deletes the plan's key Secret if this plan owns it (used when the plan is deleted and no GC runs). */
export async function deletePlanKeys(client: KubeClient, plan: PlanIdentity): Promise<void> {
  const own = await getSecret(client, plan.namespace, planKeySecretName(plan.name));
  if (!own || !ownedBy(own, plan.uid)) return;
  await client.delete(SECRETS, plan.namespace, planKeySecretName(plan.name)).catch((e) => {
    if (!isNotFound(e)) throw e;
  });
}
