/**
 * The admission policies that keep a namespace's users inside their namespace (ValidatingAdmissionPolicy with CEL,
 * no webhook), generated into deploy/ by `deno task crds`. docs/security.md explains the model.
 *
 *   - dn42op-secret-refs: an object may reference only Secrets its author may `get` (authorizer check), so nobody
 *     deploys a key they cannot read.
 *   - dn42op-tenants: placing links in the node's namespace, reaching other network namespaces of the node
 *     (container.docker, container.netns), addresses and ports outside the namespace's ranges, and letting the
 *     operator take over links it did not create each need a privilege an administrator grants through RBAC: verb
 *     `use` on resource `privileges` of networking.dn42.io, by resourceName ({@link PRIVILEGES}). Cluster
 *     administrators (`*` on `*`) hold them all, so the reference's manifests apply unchanged for them.
 *
 * Both check an object only when its spec (or the adoption annotation) changes, so the node agents' status and
 * finalizer writes and the plan controller's bookkeeping are never refused by them.
 */
import { stringify } from "yaml";
import { GROUP, KINDS } from "./constants.ts";

/** Privileges (resourceNames of `privileges.networking.dn42.io`, verb `use`). */
export const PRIVILEGES = {
  /** Place links in the node's own network namespace (no container; WireGuard without moveToContainer). */
  hostNetns: "host-netns",
  /** Place links by container.netns (pid, name, path) or container.docker: any network namespace on the node. */
  nodeNetns: "node-netns",
  /** Addresses and ports outside the namespace's tenant ranges. */
  anyAddress: "any-address",
  /** Set the adoption annotation: let the operator change links it did not create. */
  adoptLinks: "adopt-links",
} as const;

/** The RBAC resource the privileges are checked on. */
export const PRIVILEGE_RESOURCE = "privileges";

/** Namespace annotations (set by an administrator) with the ranges non-privileged users may use there. */
export const TENANT_ANNOTATIONS = {
  /** CIDRs, separated by spaces or commas, e.g. "10.64.0.0/24 fd42:64::/64". fe80::/10 is always allowed. */
  addresses: "networking.dn42.io/tenant-addresses",
  /** Ports and ranges, separated by spaces or commas, e.g. "21000-21099 4789". */
  ports: "networking.dn42.io/tenant-ports",
} as const;

/** Object annotation listing the links (comma-separated names) the operator may take over although it did not create them. */
export const ADOPT_ANNOTATION = "networking.dn42.io/adopt-links";

/** Link-local IPv6 is scoped to its link: always allowed. */
const ALWAYS_ALLOWED = ["fe80::/10"];

const RESOURCES = [KINDS.NetlinkInterface.plural, KINDS.WireGuardInterface.plural, KINDS.WireGuardNetworkPlan.plural];

// ---- CEL building blocks (strings) ----------------------------------------------------------------------------

/** `has()` of every step of a dotted path below `root`, e.g. has(object.spec) && has(object.spec.veth). */
function hasPath(root: string, path: string): string {
  const parts = path.split(".");
  return parts.map((_, i) => `has(${[root, ...parts.slice(0, i + 1)].join(".")})`).join(" && ");
}

/** The list at `root.path`, or an empty list. */
function listAt(root: string, path: string): string {
  return `(${hasPath(root, path)} ? ${root}.${path} : [])`;
}

/** The placement kind a container block selects: docker, pod, netns or host. */
function placementKind(c: string): string {
  return `(has(${c}.docker) ? 'docker' : has(${c}.pod) ? 'pod' : has(${c}.netns) ? 'netns' : 'host')`;
}

/** The privilege check for the requesting user in the object's namespace. */
function may(privilege: string): string {
  return `authorizer.group('${GROUP}').resource('${PRIVILEGE_RESOURCE}').namespace(request.namespace)` +
    `.name('${privilege}').check('use').allowed()`;
}

/** An annotation's value on object `o` (which may be null), or ''. */
function annotation(o: string, key: string): string {
  return `(${o} != null && has(${o}.metadata.annotations) && '${key}' in ${o}.metadata.annotations ? ` +
    `${o}.metadata.annotations['${key}'] : '')`;
}

/** The entries of a space/comma separated list string. */
function entries(text: string): string {
  return `${text}.replace(',', ' ').split(' ').filter(s, s != '')`;
}

/** Whether CIDR string `c` lies inside one of the allowed ranges. */
function inRanges(c: string): string {
  return `variables.ranges.exists(r, cidr(r).containsCIDR(cidr(${c})))`;
}

/** The host prefix of a bare IP string. */
function hostCidr(ip: string): string {
  return `${ip} + (ip(${ip}).family() == 4 ? '/32' : '/128')`;
}

/** A NetlinkInterface address {ipcidr, peerCidr?} inside the ranges. */
function netlinkAddressOk(a: string): string {
  return `(has(${a}.peerCidr) ? ${inRanges(hostCidr(`${a}.ipcidr`))} && ${inRanges(`${a}.peerCidr`)} : ` +
    `${inRanges(`${a}.ipcidr`)})`;
}

/** A WireGuard-style address {local, peer?, prefixlen} inside the ranges. */
function wireGuardAddressOk(a: string): string {
  return `(has(${a}.peer) ? ${inRanges(hostCidr(`${a}.local`))} && ` +
    `${inRanges(`${a}.peer + '/' + string(${a}.prefixlen)`)} : ${
      inRanges(`${a}.local + '/' + string(${a}.prefixlen)`)
    })`;
}

/** Port `p` inside the allowed ports. */
function portOk(p: string): string {
  return `variables.ports.exists(r, r[0] <= ${p} && ${p} <= r[1])`;
}

/** Port range `r` ({start, end}) inside one allowed range. */
function portRangeOk(r: string): string {
  return `variables.ports.exists(x, x[0] <= ${r}.start && ${r}.end <= x[1])`;
}

/** A Secret reference as {namespace, name}. */
function secretRef(r: string): string {
  return `{'namespace': has(${r}.namespace) ? ${r}.namespace : request.namespace, 'name': ${r}.name}`;
}

const IS = {
  nl: `request.resource.resource == '${KINDS.NetlinkInterface.plural}'`,
  wgi: `request.resource.resource == '${KINDS.WireGuardInterface.plural}'`,
};

/** The spec changed (or the object is new): the content checks apply. */
const SPEC_CHANGED = {
  name: "specChanged",
  expression: "oldObject == null || !has(oldObject.spec) || object.spec != oldObject.spec",
};

// ---- the policies --------------------------------------------------------------------------------------------

const mainContainer = `(${hasPath("object", "spec.container")} ? ${placementKind("object.spec.container")} : 'host')`;
const vethEnd = (end: string) =>
  `(${hasPath("object", `spec.veth.${end}.container`)} ? ${placementKind(`object.spec.veth.${end}.container`)} : ` +
  `${mainContainer})`;

const tenantVariables = [
  SPEC_CHANGED,
  {
    name: "placements",
    expression: `${IS.nl} ? (object.spec.type == 'veth' ? [${vethEnd("local")}, ${vethEnd("peer")}] : ` +
      `[${mainContainer}]) : ${IS.wgi} ? [${hasPath("object", "spec.moveToContainer")} && ` +
      `object.spec.moveToContainer && ${hasPath("object", "spec.container")} ? ` +
      `${placementKind("object.spec.container")} : 'host'] : ${listAt("object", "spec.nodes")}.map(n, ` +
      `has(n.moveToContainer) && n.moveToContainer && has(n.container) ? ${placementKind("n.container")} : 'host')`,
  },
  {
    name: "ranges",
    expression: `${entries(annotation("namespaceObject", TENANT_ANNOTATIONS.addresses))}.filter(r, isCIDR(r)) + ` +
      `[${ALWAYS_ALLOWED.map((r) => `'${r}'`).join(", ")}]`,
  },
  {
    name: "ports",
    expression: `${entries(annotation("namespaceObject", TENANT_ANNOTATIONS.ports))}` +
      `.filter(s, s.matches('^[0-9]{1,5}(-[0-9]{1,5})?$')).map(s, s.contains('-') ? ` +
      `[int(s.split('-')[0]), int(s.split('-')[1])] : [int(s), int(s)])`,
  },
  {
    name: "badAddresses",
    expression: `${IS.nl} ? ` +
      ["spec.addresses", "spec.veth.local.addresses", "spec.veth.peer.addresses"]
        .map((p) => `${listAt("object", p)}.filter(a, !${netlinkAddressOk("a")}).map(a, a.ipcidr)`).join(" + ") +
      ` : ${IS.wgi} ? ${listAt("object", "spec.addresses")}.filter(a, !${wireGuardAddressOk("a")})` +
      `.map(a, a.local) : ${listAt("object", "spec.nodes")}.filter(n, has(n.addresses) && ` +
      `n.addresses.exists(a, !${wireGuardAddressOk("a")})).map(n, 'spec.nodes[' + n.nodeName + '].addresses') + ` +
      `${listAt("object", "spec.links")}.filter(l, l.toNodes.exists(t, has(t.addresses) && ` +
      `t.addresses.exists(a, !${wireGuardAddressOk("a")}))).map(l, 'spec.links[' + l.fromNode + '].toNodes')`,
  },
  {
    name: "badPorts",
    expression: `${IS.nl} ? (${hasPath("object", "spec.vxlan.port")} && object.spec.vxlan.port != 0 && ` +
      `!${portOk("object.spec.vxlan.port")} ? ['spec.vxlan.port ' + string(object.spec.vxlan.port)] : []) : ` +
      `${IS.wgi} ? (${hasPath("object", "spec.listenPort")} && object.spec.listenPort != 0 && ` +
      `!${portOk("object.spec.listenPort")} ? ['spec.listenPort ' + string(object.spec.listenPort)] : []) : ` +
      `(${portRangeOk("object.spec.defaultPortRange")} ? [] : ['spec.defaultPortRange']) + ` +
      `${listAt("object", "spec.nodes")}.filter(n, has(n.underlay) && has(n.underlay.portRange) && ` +
      `!${portRangeOk("n.underlay.portRange")}).map(n, 'spec.nodes[' + n.nodeName + '].underlay.portRange')`,
  },
  {
    name: "adoptionChanged",
    expression: `${annotation("object", ADOPT_ANNOTATION)} != '' && ` +
      `${annotation("object", ADOPT_ANNOTATION)} != ${annotation("oldObject", ADOPT_ANNOTATION)}`,
  },
];

const privilegeHint = (p: string) =>
  `the privilege ${p} (verb use on ${PRIVILEGE_RESOURCE}.${GROUP}, resourceName ${p}) in namespace ' + ` +
  `request.namespace + '`;

const tenantValidations = [
  {
    expression: `!variables.specChanged || !('host' in variables.placements) || ${may(PRIVILEGES.hostNetns)}`,
    messageExpression: `'links without a container (a NetlinkInterface without spec.container, a ` +
      `WireGuardInterface or plan node without moveToContainer: true) go into the node\\'s own network namespace, ` +
      `which needs ${privilegeHint(PRIVILEGES.hostNetns)}; put the link into a Pod of this namespace with ` +
      `container.pod'`,
    reason: "Forbidden",
  },
  {
    expression: `!variables.specChanged || !variables.placements.exists(p, p == 'docker' || p == 'netns') || ` +
      may(PRIVILEGES.nodeNetns),
    messageExpression: `'container.docker and container.netns reach any network namespace on the node, which ` +
      `needs ${privilegeHint(PRIVILEGES.nodeNetns)}; use container.pod (a Pod of this namespace)'`,
    reason: "Forbidden",
  },
  {
    expression: `!variables.specChanged || size(variables.badAddresses) == 0 || ${may(PRIVILEGES.anyAddress)}`,
    messageExpression: `variables.badAddresses.join(', ') + ': addresses must lie within ' + ` +
      `variables.ranges.join(', ') + ' (annotation ${TENANT_ANNOTATIONS.addresses} of namespace ' + ` +
      `request.namespace + ') unless you hold ${privilegeHint(PRIVILEGES.anyAddress)}'`,
    reason: "Forbidden",
  },
  {
    expression: `!variables.specChanged || size(variables.badPorts) == 0 || ${may(PRIVILEGES.anyAddress)}`,
    messageExpression: `variables.badPorts.join(', ') + ': ports must lie within the ranges of annotation ` +
      `${TENANT_ANNOTATIONS.ports} of namespace ' + request.namespace + ' (' + ` +
      `(size(variables.ports) == 0 ? 'none' : variables.ports.map(r, string(r[0]) + '-' + string(r[1])).join(', ')) + ` +
      `') unless you hold ${privilegeHint(PRIVILEGES.anyAddress)}'`,
    reason: "Forbidden",
  },
  {
    expression: `!variables.adoptionChanged || ${may(PRIVILEGES.adoptLinks)}`,
    messageExpression: `'annotation ${ADOPT_ANNOTATION} lets the operator change links it did not create; ` +
      `setting it needs ${privilegeHint(PRIVILEGES.adoptLinks)}'`,
    reason: "Forbidden",
  },
];

const secretVariables = [
  SPEC_CHANGED,
  {
    name: "refs",
    expression: `${IS.wgi} ? (${hasPath("object", "spec.privateKeySecretRef")} ? ` +
      `[${secretRef("object.spec.privateKeySecretRef")}] : []) + ${listAt("object", "spec.peers")}` +
      `.filter(p, has(p.presharedKeySecretRef)).map(p, ${secretRef("p.presharedKeySecretRef")}) : ` +
      `${listAt("object", "spec.nodes")}.filter(n, has(n.privateKeyRef)).map(n, ${secretRef("n.privateKeyRef")})`,
  },
  {
    name: "unreadable",
    expression: "variables.refs.filter(r, !authorizer.group('').resource('secrets').namespace(r.namespace)" +
      ".name(r.name).check('get').allowed())",
  },
];

function policy(name: string, resources: string[], variables: unknown[], validations: unknown[]) {
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [{ apiGroups: [GROUP], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources }],
        },
        variables,
        validations,
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name },
      spec: { policyName: name, validationActions: ["Deny"] },
    },
  ];
}

/** The policy and binding of dn42op-secret-refs. */
export function secretRefsPolicy(): unknown[] {
  return policy(
    "dn42op-secret-refs",
    [KINDS.WireGuardInterface.plural, KINDS.WireGuardNetworkPlan.plural],
    secretVariables,
    [
      {
        expression: "!variables.specChanged || size(variables.unreadable) == 0",
        // Message expressions have no authorizer: the message lists every referenced Secret, not only the refused.
        messageExpression: "'you may not get every Secret this object references (' + " +
          "variables.refs.map(r, string(r.namespace) + '/' + string(r.name)).join(', ') + " +
          "'): an object may only reference Secrets its author can read'",
        reason: "Forbidden",
      },
    ],
  );
}

/** The policy and binding of dn42op-tenants. */
export function tenantsPolicy(): unknown[] {
  return policy("dn42op-tenants", RESOURCES, tenantVariables, tenantValidations);
}

/** deploy/ file name → YAML text of each policy file. */
export function renderPolicyFiles(): Map<string, string> {
  const render = (header: string, objs: unknown[]) =>
    "# Generated by `deno task crds` from src/api/admission.ts. Do not edit; change the TypeScript instead.\n" +
    header + objs.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
  return new Map([
    [
      "admission-secret-refs.yaml",
      render(
        "# An object may reference only Secrets its author may get (docs/security.md).\n",
        secretRefsPolicy(),
      ),
    ],
    [
      "admission-tenants.yaml",
      render(
        "# Host namespace, other namespaces of the node, address/port ranges and link adoption need privileges an\n" +
          "# administrator grants through RBAC (docs/security.md).\n",
        tenantsPolicy(),
      ),
    ],
  ]);
}
