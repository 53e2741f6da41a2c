/**
 * libnl-backed link operations. Takes validated specs with link references already resolved to ifindexes, builds
 * libnl objects (kind-specific setters only on objects allocated by that kind's `*_alloc`), sends them and puts every
 * object in `finally`. No pointer leaves this module.
 */
import { libnlRoute } from "../../../ffi/libnl.ts";
import { cstr } from "../../../ffi/mem.ts";
import { Errno, NetlinkError } from "../errors.ts";
import { AF_INET, AF_INET6, parseIp } from "../ip.ts";
import type { LinkBase, LinkChanges, LinkSpec, VethPeer, VxlanParams } from "../linkspec.ts";
import { IFF_UP } from "../rtnl.ts";
import { checkNl, type LibnlSocket, withNlAddr } from "./socket.ts";

const NLM_F_CREATE_EXCL = 0x400 | 0x200;
const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 } as const;

/** Link references of a spec, resolved to ifindexes by the caller. */
export interface ResolvedRefs {
  master?: number;
  /** vxlan underlay. */
  dev?: number;
  /** vlan/macvlan parent. */
  parent?: number;
}

/** Which link a change or delete addresses: by ifindex, else by name (resolved by the kernel). */
export type LinkTarget = { index: number } | { name: string };

type Ptr = Deno.PointerObject;

function alloc(p: Deno.PointerValue, op: string): Ptr {
  if (p === null) throw new NetlinkError({ op, errno: 12, detail: "libnl allocation failed" });
  return p;
}

function setCommon(l: Ptr, b: Pick<LinkBase, "mtu" | "up" | "group" | "alias">): void {
  const rt = libnlRoute();
  if (b.mtu !== undefined) rt.rtnl_link_set_mtu(l, b.mtu);
  if (b.up === true) rt.rtnl_link_set_flags(l, IFF_UP);
  if (b.up === false) rt.rtnl_link_unset_flags(l, IFF_UP);
  if (b.group !== undefined) rt.rtnl_link_set_group(l, b.group);
  if (b.alias !== undefined) rt.rtnl_link_set_ifalias(l, cstr(b.alias));
}

function setPeer(veth: Ptr, peer: VethPeer, op: string): void {
  const rt = libnlRoute();
  const p = alloc(rt.rtnl_link_veth_get_peer(veth), op);
  try {
    rt.rtnl_link_set_name(p, cstr(peer.name));
    // Only name, MTU and namespace: libnl drops the peer's group, the kernel its alias, and IFF_UP on the peer
    // fails with ENOTCONN; the caller sets those afterwards.
    if (peer.mtu !== undefined) rt.rtnl_link_set_mtu(p, peer.mtu);
    if (peer.netns) rt.rtnl_link_set_ns_fd(p, peer.netns.fd);
  } finally {
    rt.rtnl_link_put(p);
  }
}

function setVxlan(l: Ptr, v: VxlanParams, dev: number | undefined, op: string): void {
  const rt = libnlRoute();
  checkNl(rt.rtnl_link_vxlan_set_id(l, v.vni), `${op}: vni`);
  const addr = (text: string, set: (l: Ptr, a: Ptr) => number, what: string) => {
    const fam = parseIp(text, op, what).family === AF_INET ? AF_INET : AF_INET6;
    withNlAddr(text, fam, op, (a) => checkNl(set(l, a), `${op}: ${what}`));
  };
  if (v.local !== undefined) addr(v.local, rt.rtnl_link_vxlan_set_local, "vxlan.local");
  const remote = v.group ?? v.remote;
  if (remote !== undefined) addr(remote, rt.rtnl_link_vxlan_set_group, v.group ? "vxlan.group" : "vxlan.remote");
  if (dev !== undefined) checkNl(rt.rtnl_link_vxlan_set_link(l, dev), `${op}: dev`);
  if (v.port !== undefined) checkNl(rt.rtnl_link_vxlan_set_port(l, v.port), `${op}: port`);
  if (v.learning !== undefined) checkNl(rt.rtnl_link_vxlan_set_learning(l, v.learning ? 1 : 0), `${op}: learning`);
  if (v.ttl !== undefined) checkNl(rt.rtnl_link_vxlan_set_ttl(l, v.ttl), `${op}: ttl`);
  if (v.tos !== undefined) checkNl(rt.rtnl_link_vxlan_set_tos(l, v.tos), `${op}: tos`);
  if (v.proxy !== undefined) checkNl(rt.rtnl_link_vxlan_set_proxy(l, v.proxy ? 1 : 0), `${op}: proxy`);
  if (v.ageing !== undefined) checkNl(rt.rtnl_link_vxlan_set_ageing(l, v.ageing), `${op}: ageing`);
  if (v.portRange !== undefined) {
    const r = new Uint8Array(4); // struct ifla_vxlan_port_range { __be16 low, high; }
    new DataView(r.buffer).setUint16(0, v.portRange.low, false);
    new DataView(r.buffer).setUint16(2, v.portRange.high, false);
    checkNl(rt.rtnl_link_vxlan_set_port_range(l, r), `${op}: portRange`);
  }
}

/** Allocates the object of the spec's kind and applies the kind-specific settings. */
function allocKind(spec: LinkSpec, refs: ResolvedRefs, op: string): Ptr {
  const rt = libnlRoute();
  switch (spec.kind) {
    case "veth":
      return alloc(rt.rtnl_link_veth_alloc(), op);
    case "bridge":
      return alloc(rt.rtnl_link_bridge_alloc(), op);
    case "vxlan": {
      const l = alloc(rt.rtnl_link_vxlan_alloc(), op);
      try {
        setVxlan(l, spec.vxlan, refs.dev, op);
      } catch (e) {
        rt.rtnl_link_put(l);
        throw e;
      }
      return l;
    }
    case "macvlan": {
      const l = alloc(rt.rtnl_link_macvlan_alloc(), op);
      const rc = rt.rtnl_link_macvlan_set_mode(l, MACVLAN_MODE[spec.mode ?? "bridge"]);
      if (rc < 0) rt.rtnl_link_put(l);
      checkNl(rc, `${op}: mode`);
      return l;
    }
    case "vlan": {
      const l = alloc(rt.rtnl_link_vlan_alloc(), op);
      let rc = rt.rtnl_link_vlan_set_id(l, spec.vlanId);
      // libnl sends the protocol as given: it must already be in network byte order.
      if (rc >= 0 && spec.protocol) {
        rc = rt.rtnl_link_vlan_set_protocol(l, spec.protocol === "802.1ad" ? 0xa888 : 0x0081);
      }
      if (rc < 0) rt.rtnl_link_put(l);
      checkNl(rc, `${op}: vlan`);
      return l;
    }
    case "dummy":
    case "wireguard": {
      const l = alloc(rt.rtnl_link_alloc(), op);
      const rc = rt.rtnl_link_set_type(l, cstr(spec.kind));
      if (rc < 0) rt.rtnl_link_put(l);
      checkNl(rc, `${op}: kind`);
      return l;
    }
  }
}

/** Creates the link (NLM_F_CREATE|NLM_F_EXCL); the alias and the veth peer's up/group/alias are left to the caller. */
export function addLink(sock: LibnlSocket, spec: LinkSpec, refs: ResolvedRefs, op: string): Promise<void> {
  return sock.use(op, (sk) => {
    const rt = libnlRoute();
    const l = allocKind(spec, refs, op);
    try {
      rt.rtnl_link_set_name(l, cstr(spec.name));
      setCommon(l, { mtu: spec.mtu, up: spec.up, group: spec.group });
      if (refs.master !== undefined) rt.rtnl_link_set_master(l, refs.master);
      if (refs.parent !== undefined) rt.rtnl_link_set_link(l, refs.parent);
      if (spec.kind === "veth") setPeer(l, spec.peer, op);
      checkNl(rt.rtnl_link_add(sk, l, NLM_F_CREATE_EXCL), op);
    } finally {
      rt.rtnl_link_put(l);
    }
  });
}

function setTarget(l: Ptr, t: LinkTarget): void {
  const rt = libnlRoute();
  if ("index" in t) rt.rtnl_link_set_ifindex(l, t.index);
  else rt.rtnl_link_set_name(l, cstr(t.name));
}

/**
 * Changes a link. With a name target the request carries only the name (no lookup round trip); a rename needs an
 * index target. `master` 0 releases the link from its master.
 */
export function changeLink(
  sock: LibnlSocket,
  target: LinkTarget,
  ch: Omit<LinkChanges, "master">,
  master: number | undefined,
  op: string,
): Promise<void> {
  if (ch.name !== undefined && !("index" in target)) {
    return Promise.reject(new NetlinkError({ op, errno: Errno.EINVAL, detail: "rename needs an ifindex target" }));
  }
  return sock.use(op, (sk) => {
    const rt = libnlRoute();
    const orig = alloc(rt.rtnl_link_alloc(), op);
    try {
      const changes = alloc(rt.rtnl_link_alloc(), op);
      try {
        setTarget(orig, target);
        if ("name" in target) rt.rtnl_link_set_name(changes, cstr(target.name));
        if (ch.name !== undefined) rt.rtnl_link_set_name(changes, cstr(ch.name));
        setCommon(changes, ch);
        if (master !== undefined) rt.rtnl_link_set_master(changes, master);
        if (ch.netns) rt.rtnl_link_set_ns_fd(changes, ch.netns.fd);
        checkNl(rt.rtnl_link_change(sk, orig, changes, 0), op);
      } finally {
        rt.rtnl_link_put(changes);
      }
    } finally {
      rt.rtnl_link_put(orig);
    }
  });
}

/** Deletes a link; the kernel needs ~20 ms, so the call runs on the FFI thread pool. */
export function deleteLink(sock: LibnlSocket, target: LinkTarget, op: string): Promise<void> {
  return sock.use(op, async (sk) => {
    const rt = libnlRoute();
    const l = alloc(rt.rtnl_link_alloc(), op);
    try {
      setTarget(l, target);
      checkNl(await rt.rtnl_link_delete_nb(sk, l), op);
    } finally {
      rt.rtnl_link_put(l);
    }
  });
}
