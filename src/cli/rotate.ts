/**
 * `dn42op keys rotate`: new private keys for the nodes whose keys a plan generates, written into the plan's key
 * Secret (raw 32 bytes per node, the format the plan controller keeps), after announcing their public keys on the plan
 * (annotation PLAN_ROTATED_KEYS_ANNOTATION): the plan controller trusts only keys it wrote, recorded or saw announced
 * by someone who may update the plan (docs/security.md). It re-reads that Secret on its next pass and hands the new
 * public key to the peers' interfaces, and each node agent re-reads its key within its resync period
 * (src/controllers/wg/keys.ts). Keys given inline or by privateKeyRef
 * belong to the user and are refused here. Key bytes are never printed; only public keys are.
 */
import { CONDITION_TYPES, PLAN_ROTATED_KEYS_ANNOTATION } from "../api/constants.ts";
import type { WireGuardInterface } from "../api/wireguard_interface.ts";
import type { WireGuardNetworkPlan } from "../api/wireguard_network_plan.ts";
import { isConflict, type KubeClient, type KubeObject } from "../kube/client.ts";
import { childSelector } from "../plan/child.ts";
import { keySources, planKeySecretName, secretDataKeyFor } from "../plan/keys.ts";
import { generatePrivateKey, publicKeyOf, WireGuardKey } from "../wireguard/key.ts";
import { INTERFACES, listAll, PLANS, SECRETS } from "./source.ts";

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** A rotation that cannot be done, with the reason. */
export class RotateError extends Error {
  override name = "RotateError";
}

/** The nodes to rotate (pure): `node`, or every node whose key the plan generates. */
export function rotationTargets(plan: WireGuardNetworkPlan, node?: string): string[] {
  const ns = plan.metadata.namespace ?? "default";
  const { sources } = keySources(plan.spec, ns);
  if (!node) {
    const generated = sources.filter((s) => s.kind === "generated").map((s) => s.node);
    if (!generated.length) {
      throw new RotateError(
        `plan ${ns}/${plan.metadata.name} generates no node key (every node has privateKey or privateKeyRef)`,
      );
    }
    return generated;
  }
  const s = sources.find((s) => s.node === node);
  if (!(plan.spec.nodes ?? []).some((n) => n.nodeName === node)) {
    throw new RotateError(`node ${node} is not declared in plan ${ns}/${plan.metadata.name}`);
  }
  if (!s) throw new RotateError(`node ${node}'s key reference is refused by the plan (see its conditions)`);
  if (s.kind === "inline") {
    throw new RotateError(`node ${node}'s key is given inline (${s.field}): change it in the plan`);
  }
  if (s.kind === "secret") {
    throw new RotateError(
      `node ${node}'s key is the user's Secret ${s.ref.namespace}/${s.ref.name} (${s.field}): rotate it there`,
    );
  }
  return [node];
}

/** One rotated node. */
export interface Rotated {
  node: string;
  oldPublicKey?: string;
  publicKey: string;
}

/**
 * Announces new keys for `nodes` on the plan, then writes them into the plan's key Secret (a conditional update;
 * retried once on a conflict). Throws when the Secret is missing or not the plan's.
 */
export async function rotateKeys(
  client: KubeClient,
  plan: WireGuardNetworkPlan,
  nodes: readonly string[],
  generate: () => Promise<WireGuardKey> = generatePrivateKey,
): Promise<Rotated[]> {
  const ns = plan.metadata.namespace ?? "default";
  const name = planKeySecretName(plan.metadata.name ?? "");
  const fresh = await Promise.all(nodes.map(async () => await generate()));
  const announced = Object.fromEntries(
    await Promise.all(nodes.map(async (n, i) => [n, (await publicKeyOf(fresh[i])).toBase64()])),
  );
  await client.patch(PLANS, ns, plan.metadata.name ?? "", "merge", {
    metadata: { annotations: { [PLAN_ROTATED_KEYS_ANNOTATION]: JSON.stringify(announced) } },
  });
  for (let attempt = 0;; attempt++) {
    const secret = await client.get<Secret>(SECRETS, ns, name).catch((e) => {
      throw (e as { code?: number }).code === 404
        ? new RotateError(`Secret ${ns}/${name} does not exist yet: the plan controller has not generated keys`)
        : e;
    });
    const owned = (secret.metadata.ownerReferences ?? []).some((r) => r.uid === plan.metadata.uid && r.controller);
    if (!owned) throw new RotateError(`Secret ${ns}/${name} is not owned by plan ${ns}/${plan.metadata.name}`);
    const data = { ...(secret.data ?? {}) };
    const out: Rotated[] = [];
    for (const [i, node] of nodes.entries()) {
      const key = secretDataKeyFor(node);
      const old = data[key] ? Uint8Array.fromBase64(data[key]) : undefined;
      const oldPublicKey = old?.length === 32
        ? (await publicKeyOf(WireGuardKey.fromBytes("private", old))).toBase64()
        : undefined;
      data[key] = fresh[i].toBytes().toBase64();
      out.push({
        node,
        publicKey: announced[node],
        ...(oldPublicKey ? { oldPublicKey } : {}),
      });
    }
    try {
      await client.replace(SECRETS, { ...secret, data }, { fieldManager: "dn42op" });
      return out;
    } catch (e) {
      if (!isConflict(e) || attempt > 0) throw e;
    }
  }
}

/** What --wait is still waiting for (empty: done), from the plan and its children as now read (pure). */
export function pendingRotation(
  plan: WireGuardNetworkPlan,
  children: readonly WireGuardInterface[],
  rotated: readonly Rotated[],
): string[] {
  const pending: string[] = [];
  for (const r of rotated) {
    const published = plan.status?.nodes?.find((n) => n.nodeName === r.node)?.publicKey;
    if (published !== r.publicKey) pending.push(`plan status: public key of ${r.node}`);
    for (const c of children) {
      const id = `${c.metadata.namespace}/${c.metadata.name}`;
      // Interfaces of a node without an agent (showconf's outside nodes) report nothing to wait for.
      if (c.spec.node === r.node && c.status && c.status.wireguard?.public_key !== r.publicKey) {
        pending.push(`${id} on ${r.node}: device key`);
      }
      const peersOld = c.spec.node !== r.node && r.oldPublicKey &&
        (c.spec.peers ?? []).some((p) => p.publicKey === r.oldPublicKey);
      if (peersOld) pending.push(`${id} on ${c.spec.node}: peer key of ${r.node}`);
    }
  }
  for (const c of children) {
    const ready = c.status?.conditions?.find((x) => x.type === CONDITION_TYPES.Ready)?.status === "True" &&
      c.status?.observedGeneration === c.metadata.generation;
    const touched = rotated.some((r) =>
      c.spec.node === r.node || (c.spec.peers ?? []).some((p) => p.publicKey === r.publicKey)
    );
    if (touched && c.status && !ready) pending.push(`${c.metadata.namespace}/${c.metadata.name}: Ready`);
  }
  return [...new Set(pending)];
}

/** The plan's children as the API server has them now. */
export function planChildren(client: KubeClient, plan: WireGuardNetworkPlan): Promise<WireGuardInterface[]> {
  return listAll<WireGuardInterface>(client, INTERFACES, plan.metadata.namespace, childSelector(plan.metadata.name!))
    .then((all) =>
      all.filter((c) => (c.metadata.ownerReferences ?? []).some((r) => r.uid === plan.metadata.uid && r.controller))
    );
}
