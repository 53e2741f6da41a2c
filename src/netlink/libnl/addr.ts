/**
 * libnl-backed address operations (IPv4 and IPv6 addresses, IPv4 point-to-point). Objects are put in `finally`;
 * no pointer leaves this module. IPv6 point-to-point addresses are refused by libnl and go through the raw codec
 * (`addr.ts`).
 */
import { libnlRoute } from "../../../ffi/libnl.ts";
import { NetlinkError } from "../errors.ts";
import type { IpPrefix } from "../ip.ts";
import { checkNl, type LibnlSocket, withNlAddr } from "./socket.ts";

const NLM_F_EXCL = 0x200;

/** A validated address request. */
export interface AddrRequest {
  index: number;
  local: IpPrefix;
  peer?: IpPrefix;
  /** IFA_F_* flags (nodad, noprefixroute). */
  flags: number;
}

function text(p: IpPrefix): string {
  return `${p.address}/${p.prefixlen}`;
}

function withAddrObject<T>(req: AddrRequest, op: string, fn: (a: Deno.PointerObject) => T): T {
  const rt = libnlRoute();
  const a = rt.rtnl_addr_alloc();
  if (a === null) throw new NetlinkError({ op, errno: 12, detail: "libnl allocation failed" });
  try {
    rt.rtnl_addr_set_ifindex(a, req.index);
    // Point-to-point: local without prefix first, then the peer (which sets the prefix length).
    const local = req.peer ? req.local.address : text(req.local);
    withNlAddr(local, req.local.family, op, (l) => checkNl(rt.rtnl_addr_set_local(a, l), `${op}: local`));
    if (req.peer) {
      withNlAddr(text(req.peer), req.peer.family, op, (p) => checkNl(rt.rtnl_addr_set_peer(a, p), `${op}: peer`));
    }
    if (req.flags) rt.rtnl_addr_set_flags(a, req.flags);
    return fn(a);
  } finally {
    rt.rtnl_addr_put(a);
  }
}

/** Adds an address (NLM_F_EXCL: an existing one is EEXIST). */
export function addAddress(sock: LibnlSocket, req: AddrRequest, op: string): Promise<void> {
  return sock.use(
    op,
    (sk) => withAddrObject(req, op, (a) => checkNl(libnlRoute().rtnl_addr_add(sk, a, NLM_F_EXCL), op)),
  );
}

/** Deletes an address. */
export function deleteAddress(sock: LibnlSocket, req: AddrRequest, op: string): Promise<void> {
  return sock.use(op, (sk) => withAddrObject(req, op, (a) => checkNl(libnlRoute().rtnl_addr_delete(sk, a, 0), op)));
}
