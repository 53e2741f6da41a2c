/**
 * deploy/admission-tenants.yaml and deploy/admission-secret-refs.yaml against the real API server, with a real
 * non-administrator: a client certificate whose user may create, change and delete the three kinds in one namespace
 * (and get one Secret), nothing more. Every attempt is a server-side dry run, so admission runs in full but nothing
 * is stored. The policies are the base's, renamed per test and bound to the test's namespace only.
 */
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { clientNode } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { type Identity, kubectl, mintIdentity } from "../../kit/cluster.ts";
import { until } from "../../kit/wait.ts";
import {
  apply,
  baseFor,
  type CallOutcome,
  deleteClusterScoped,
  type Namespaces,
  type Obj,
  statusOf,
  withNamespaces,
} from "../../kit/deploy.ts";
import { ADOPT_ANNOTATION, PRIVILEGES, TENANT_ANNOTATIONS } from "../../src/api/admission.ts";

const G = "networking.dn42.io";
const KEY = "mCe+zbjoXyqeHI9bV47fL9CGqyMqtVF8Imjo9D8K1UA=";
const PEER = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PLURAL = { NetlinkInterface: "netlinkinterfaces", WireGuardInterface: "wireguardinterfaces" } as const;

/** The objects' plural from their kind. */
function plural(o: Obj): string {
  return o.kind === "WireGuardNetworkPlan" ? "wireguardnetworkplans" : PLURAL[o.kind as keyof typeof PLURAL];
}

/** A user and its client. */
interface Caller {
  api: k8s.CustomObjectsApi;
  /** Server-side dry-run create of `o`. */
  tryCreate(o: Obj): Promise<CallOutcome>;
  /** Real create. */
  create(o: Obj): Promise<Obj>;
  /** Real replace of `o` (as read plus changes). */
  replace(o: Obj): Promise<CallOutcome>;
}

async function caller(kc: k8s.KubeConfig, namespace: string): Promise<Caller> {
  const k8s = await clientNode();
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const res = (o: Obj) => ({ group: G, version: "v1alpha1", namespace, plural: plural(o) });
  return {
    api,
    tryCreate: (o) => statusOf(api.createNamespacedCustomObject({ ...res(o), body: o, dryRun: "All" })),
    create: (o) => api.createNamespacedCustomObject({ ...res(o), body: o }),
    replace: (o) => statusOf(api.replaceNamespacedCustomObject({ ...res(o), name: o.metadata.name, body: o })),
  };
}

const nl = (namespace: string, name: string, spec: Obj): Obj => ({
  apiVersion: `${G}/v1alpha1`,
  kind: "NetlinkInterface",
  metadata: { name, namespace },
  spec: { node: "lax1", interfaceName: name.slice(0, 15), type: "bridge", ...spec },
});
const wgi = (namespace: string, name: string, spec: Obj): Obj => ({
  apiVersion: `${G}/v1alpha1`,
  kind: "WireGuardInterface",
  metadata: { name, namespace },
  spec: { node: "lax1", interfaceName: name.slice(0, 15), privateKey: KEY, ...spec },
});
const plan = (namespace: string, name: string, nodes: Obj[], extra: Obj = {}): Obj => ({
  apiVersion: `${G}/v1alpha1`,
  kind: "WireGuardNetworkPlan",
  metadata: { name, namespace },
  spec: { defaultPortRange: { start: 51820, end: 51829 }, nodes, ...extra },
});
const POD = { pod: { name: "router-0" } };

/** The tenant's Role: the three kinds (explicit verbs, no `*`) and one Secret. */
function tenantRole(namespace: string, user: string, extra: Obj[] = []): Obj[] {
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "tenant", namespace },
      rules: [
        {
          apiGroups: [G],
          resources: ["netlinkinterfaces", "wireguardinterfaces", "wireguardnetworkplans"],
          verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        { apiGroups: [""], resources: ["secrets"], resourceNames: ["tenant-key"], verbs: ["get"] },
        ...extra,
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "tenant", namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  ];
}

/** Grants the tenant privileges (verb use on privileges.networking.dn42.io by resourceName). */
function grant(ns: string, user: string, ...privileges: string[]): Promise<void> {
  return apply(tenantRole(ns, user, [{
    apiGroups: [G],
    resources: ["privileges"],
    resourceNames: privileges,
    verbs: ["use"],
  }]));
}

/**
 * Runs `fn` with the base's admission policies bound to a fresh namespace, a tenant identity with its Role there,
 * and callers for the tenant and the admin; waits until the policies are enforced.
 */
function withTenant(
  fn: (t: { ns: string; tenant: Caller; admin: Caller; user: Identity; names: Namespaces }) => Promise<void>,
) {
  return withNamespaces(async (names, { namespace, kc }) => {
    const policies = await baseFor(names, ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);
    const user = await mintIdentity(`dn42op-ten-tenant-${crypto.randomUUID().slice(0, 6)}`);
    try {
      await apply([...policies, ...tenantRole(namespace, user.user)]);
      const tenant = await caller(user.kc, namespace);
      const admin = await caller(kc, namespace);
      // In force once the tenant's host-namespace link is refused (until then dry runs may pass).
      await until(
        "the tenant policies to be enforced",
        async () => {
          const r = await tenant.tryCreate(nl(namespace, "probe", {}));
          return r.code === 403 && /host-netns/.test(r.message) ? true : undefined;
        },
        60_000,
        250,
      );
      await fn({ ns: namespace, tenant, admin, user, names });
    } finally {
      await deleteClusterScoped(policies);
      await Deno.remove(user.kubeconfigPath).catch(() => {});
    }
  });
}

/** Asserts a refusal (403) whose message matches every pattern. */
function refused(r: CallOutcome, ...patterns: RegExp[]): void {
  assert.equal(r.code, 403, `expected a refusal, got ${r.code} ${r.message}`);
  for (const p of patterns) assert.match(r.message, p);
}

/** Asserts acceptance. */
function accepted(r: CallOutcome): void {
  assert.equal(r.code, 200, r.message);
}

/** Retries until `attempt` is accepted (RBAC and namespace changes reach admission after a short delay). */
async function eventuallyAccepted(what: string, attempt: () => Promise<CallOutcome>): Promise<void> {
  let last: CallOutcome | undefined;
  await until(what, async () => (last = await attempt()).code === 200 ? true : undefined, 30_000, 250)
    .catch((e) => {
      throw new Error(`${(e as Error).message}; last answer ${last?.code} ${last?.message}`);
    });
}

const ignore = skipUnless("cluster");

Deno.test({
  name: "tenants: a non-admin may place links only into Pods of its namespace unless granted host-netns/node-netns",
  ignore,
  fn: () =>
    withTenant(async ({ ns, tenant, admin, user }) => {
      refused(
        await tenant.tryCreate(nl(ns, "host", {})),
        /node's own network namespace/,
        new RegExp(`privilege host-netns .* in namespace ${ns}`),
        /container\.pod/,
      );
      refused(await tenant.tryCreate(nl(ns, "named", { container: { netns: { name: "blue" } } })), /node-netns/);
      refused(await tenant.tryCreate(nl(ns, "bypid", { container: { netns: { pid: 4242 } } })), /node-netns/);
      refused(await tenant.tryCreate(nl(ns, "docker", { container: { docker: { name: "agent1" } } })), /node-netns/);
      // A veth end without its own container falls back to spec.container, i.e. to the host.
      refused(
        await tenant.tryCreate(nl(ns, "veth", { type: "veth", veth: { local: { container: POD } } })),
        /host-netns/,
      );
      accepted(await tenant.tryCreate(nl(ns, "vethpod", { type: "veth", container: POD })));
      accepted(await tenant.tryCreate(nl(ns, "inpod", { container: POD, addresses: [{ ipcidr: "fe80::1/64" }] })));
      refused(await tenant.tryCreate(wgi(ns, "wg-host", {})), /host-netns/);
      refused(
        await tenant.tryCreate(wgi(ns, "wg-docker", { moveToContainer: true, container: { docker: { name: "x" } } })),
        /node-netns/,
      );
      accepted(await tenant.tryCreate(wgi(ns, "wg-pod", { moveToContainer: true, container: POD })));
      refused(await tenant.tryCreate(plan(ns, "p1", [{ nodeName: "lax1", privateKey: KEY }])), /host-netns/);
      // The administrator (system:masters) is not restricted: the reference's examples apply unchanged.
      accepted(await admin.tryCreate(nl(ns, "host", {})));
      accepted(await admin.tryCreate(nl(ns, "docker", { container: { docker: { name: "agent1" } } })));
      accepted(await admin.tryCreate(plan(ns, "p1", [{ nodeName: "lax1", privateKey: KEY }])));
      // Granted through RBAC, per namespace.
      await grant(ns, user.user, PRIVILEGES.hostNetns);
      await eventuallyAccepted("host-netns granted", () => tenant.tryCreate(nl(ns, "host", {})));
      refused(await tenant.tryCreate(nl(ns, "docker", { container: { docker: { name: "agent1" } } })), /node-netns/);
      await grant(ns, user.user, PRIVILEGES.hostNetns, PRIVILEGES.nodeNetns);
      await eventuallyAccepted(
        "node-netns granted",
        () => tenant.tryCreate(nl(ns, "docker", { container: { docker: { name: "agent1" } } })),
      );
    }),
});

Deno.test({
  name: "tenants: addresses and ports of a non-admin must lie within its namespace's annotated ranges",
  ignore,
  fn: () =>
    withTenant(async ({ ns, tenant, user }) => {
      const inPod = (name: string, addresses: Obj[]) => nl(ns, name, { container: POD, addresses });
      refused(
        await tenant.tryCreate(inPod("a1", [{ ipcidr: "10.64.0.1/24" }])),
        /10\.64\.0\.1\/24: addresses must lie within fe80::\/10/,
        /any-address/,
      );
      await kubectl([
        "annotate",
        "namespace",
        ns,
        `${TENANT_ANNOTATIONS.addresses}=10.64.0.0/24, fd42:64::/64`,
        `${TENANT_ANNOTATIONS.ports}=51820-51829 4789`,
      ]);
      await eventuallyAccepted("the namespace's ranges", () =>
        tenant.tryCreate(inPod("a1", [{ ipcidr: "10.64.0.1/24" }])));
      accepted(await tenant.tryCreate(inPod("a2", [{ ipcidr: "10.64.0.2", peerCidr: "10.64.0.1/32" }])));
      accepted(await tenant.tryCreate(inPod("a3", [{ ipcidr: "fd42:64::1/64" }, { ipcidr: "fe80::1/64" }])));
      refused(await tenant.tryCreate(inPod("a4", [{ ipcidr: "10.64.0.1/16" }])), /10\.64\.0\.1\/16/);
      refused(await tenant.tryCreate(inPod("a5", [{ ipcidr: "0.0.0.0/0" }])), /0\.0\.0\.0\/0/);
      refused(await tenant.tryCreate(inPod("a6", [{ ipcidr: "10.64.0.2", peerCidr: "10.0.0.0/8" }])), /10\.64\.0\.2/);
      refused(
        await tenant.tryCreate(nl(ns, "v1", {
          type: "veth",
          container: POD,
          veth: { peer: { addresses: [{ ipcidr: "192.0.2.1/32" }] } },
        })),
        /192\.0\.2\.1\/32/,
      );
      refused(
        await tenant.tryCreate(nl(ns, "vx", { type: "vxlan", container: POD, vxlan: { vni: 7, port: 8472 } })),
        /spec\.vxlan\.port 8472: ports must lie within .*\(51820-51829, 4789-4789\)/,
      );
      accepted(await tenant.tryCreate(nl(ns, "vx", { type: "vxlan", container: POD, vxlan: { vni: 7, port: 4789 } })));
      const wg = (name: string, spec: Obj) =>
        wgi(ns, name, { moveToContainer: true, container: POD, ...spec });
      accepted(await tenant.tryCreate(wg("w1", { listenPort: 51820 })));
      refused(await tenant.tryCreate(wg("w2", { listenPort: 51830 })), /spec\.listenPort 51830/);
      accepted(
        await tenant.tryCreate(wg("w3", { addresses: [{ family: "inet", local: "10.64.0.5", prefixlen: 24 }] })),
      );
      refused(
        await tenant.tryCreate(wg("w4", {
          addresses: [{ family: "inet", local: "10.64.0.5", peer: "10.65.0.1", prefixlen: 32 }],
        })),
        /10\.64\.0\.5: addresses must lie within/,
      );
      const node = (addresses: Obj[]) => ({
        nodeName: "lax1",
        privateKey: KEY,
        moveToContainer: true,
        container: POD,
        addresses,
      });
      accepted(
        await tenant.tryCreate(plan(ns, "p1", [node([{ family: "inet6", local: "fd42:64::1", prefixlen: 64 }])])),
      );
      refused(
        await tenant.tryCreate(plan(ns, "p2", [node([{ family: "inet", local: "198.51.100.1", prefixlen: 24 }])])),
        /spec\.nodes\[lax1\]\.addresses/,
      );
      refused(
        await tenant.tryCreate(plan(ns, "p3", [node([])], { defaultPortRange: { start: 51825, end: 51835 } })),
        /spec\.defaultPortRange/,
      );
      await grant(ns, user.user, PRIVILEGES.anyAddress);
      await eventuallyAccepted("any-address granted", () => tenant.tryCreate(inPod("a5", [{ ipcidr: "0.0.0.0/0" }])));
      accepted(await tenant.tryCreate(wg("w2", { listenPort: 51830 })));
    }),
});

Deno.test({
  name: "secret refs: an object may reference only Secrets its author may get, for a tenant and for the admin",
  ignore,
  fn: () =>
    withTenant(async ({ ns, tenant, admin }) => {
      await kubectl(["annotate", "namespace", ns, `${TENANT_ANNOTATIONS.ports}=51820-51829`]);
      const key = (name: string) => ({ privateKeySecretRef: { name, key: "private" } });
      const w = (name: string, spec: Obj) => {
        const o = wgi(ns, name, { moveToContainer: true, container: POD, ...spec });
        delete o.spec.privateKey;
        return o;
      };
      refused(
        await tenant.tryCreate(w("s1", key("other-key"))),
        new RegExp(`you may not get every Secret this object references \\(${ns}/other-key\\): an object may only `),
      );
      accepted(await tenant.tryCreate(w("s2", key("tenant-key"))));
      refused(
        await tenant.tryCreate(w("s3", {
          ...key("tenant-key"),
          peers: [{ publicKey: PEER, presharedKeySecretRef: { name: "other-psk", key: "psk" } }],
        })),
        /other-psk/,
      );
      const nodeWithRef = (name: string) => ({
        nodeName: "lax1",
        privateKeyRef: { name, key: "private" },
        moveToContainer: true,
        container: POD,
      });
      // (The namespace's port range lets the tenant's plan through the tenants policy; this one refuses the key.)
      await eventuallyAccepted("the port range", () =>
        tenant.tryCreate(plan(ns, "p0", [{ ...nodeWithRef("x"), privateKeyRef: undefined }])));
      refused(await tenant.tryCreate(plan(ns, "p1", [nodeWithRef("other-key")])), /other-key/);
      await eventuallyAccepted("a plan with a readable key", () =>
        tenant.tryCreate(plan(ns, "p1", [nodeWithRef("tenant-key")])));
      // The Secret need not exist for the check: what counts is whether its author could read it.
      accepted(await admin.tryCreate(w("s1", key("other-key"))));
    }),
});

Deno.test({
  name: "adoption annotation: only an identity with adopt-links may set or change it; others may still edit",
  ignore,
  fn: () =>
    withTenant(async ({ ns, tenant, admin, user }) => {
      const withAnnotation = (name: string, value: string) => {
        const o = nl(ns, name, { container: POD });
        o.metadata.annotations = { [ADOPT_ANNOTATION]: value };
        return o;
      };
      refused(await tenant.tryCreate(withAnnotation("t1", "eth0")), new RegExp(`${ADOPT_ANNOTATION}.*adopt-links`));
      await admin.create(withAnnotation("t1", "v1"));
      const read = async () =>
        await tenant.api.getNamespacedCustomObject({
          group: G,
          version: "v1alpha1",
          namespace: ns,
          plural: "netlinkinterfaces",
          name: "t1",
        });
      const edited = await read();
      edited.spec.mtu = 1400;
      accepted(await tenant.replace(edited));
      const changed = await read();
      changed.metadata.annotations[ADOPT_ANNOTATION] = "v1,eth0";
      refused(await tenant.replace(changed), /adopt-links/);
      const removed = await read();
      delete removed.metadata.annotations[ADOPT_ANNOTATION];
      accepted(await tenant.replace(removed));
      await grant(ns, user.user, PRIVILEGES.adoptLinks);
      await eventuallyAccepted("adopt-links granted", () => tenant.tryCreate(withAnnotation("t2", "eth0")));
    }),
});
