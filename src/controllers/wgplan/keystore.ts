/**
 * Key I/O of one plan: reads the referenced Secrets and the plan's own key Secret (only in the plan's namespace),
 * resolves the keys (src/plan/keys.ts) and writes the plan's key Secret when it must change. The Secret is owned by
 * the plan (controller owner reference), so garbage collection removes it with the plan.
 */
import { isNotFound, type KubeClient } from "../../kube/client.ts";
import { controlledByValue, LABEL_CONTROLLED_BY, type PlanIdentity } from "../../plan/child.ts";
import type { PlanProblem } from "../../plan/expand.ts";
import { keySources, planKeySecretName, type ResolvedKeys, resolveKeys, type SecretData } from "../../plan/keys.ts";
import type { WireGuardNetworkPlanSpec } from "../../plan/types.ts";
import { type SecretObject, SECRETS } from "./resources.ts";
import { API_VERSION, KINDS } from "../../api/constants.ts";

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

/** Resolves the plan's keys, generating and storing missing ones; writes nothing when nothing changed. */
export async function loadPlanKeys(
  client: KubeClient,
  plan: PlanIdentity,
  spec: WireGuardNetworkPlanSpec,
  fieldManager: string,
): Promise<PlanKeys> {
  const { sources, problems } = keySources(spec, plan.namespace);
  const secretName = planKeySecretName(plan.name);
  // The plan's own Secret and the referenced ones are read at once: one API round trip per pass, not one per Secret.
  const userNames = [...new Set(sources.flatMap((s) => s.kind === "secret" ? [s.ref.name] : []))];
  const [own, ...userSecrets] = await Promise.all(
    [secretName, ...userNames].map((name) => getSecret(client, plan.namespace, name)),
  );
  const foreign = own !== undefined && !ownedBy(own, plan.uid);
  const users = new Map<string, SecretData>(userNames.map((name, i) => [name, decode(userSecrets[i])]));
  const resolved = await resolveKeys(sources, plan.namespace, secretName, foreign ? undefined : decode(own), users);
  const allProblems: PlanProblem[] = [...problems, ...resolved.problems];
  if (foreign && Object.keys(resolved.planSecretData).length) {
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
    if (own) await client.replace(SECRETS, body, { fieldManager });
    else await client.create(SECRETS, plan.namespace, body, fieldManager);
  }
  const nodes = (spec.nodes ?? [])
    .filter((n, i, all) => all.findIndex((m) => m.nodeName === n.nodeName) === i)
    .map((n) => ({ nodeName: n.nodeName, publicKey: resolved.keys.get(n.nodeName)?.publicKey }));
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
