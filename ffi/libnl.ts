/**
 * libnl-3 / libnl-route-3 symbol tables (3.7 API, opaque pointers + accessors; no struct mirrored except
 * `ifla_vxlan_port_range` = two big-endian u16). Loaded by absolute path on first use. `*_nb` twins run on the FFI
 * thread pool for kernel operations that take milliseconds (link delete); the caller serializes all use of one
 * `nl_sock` because libnl sockets are not thread-safe.
 *
 * Only `src/netlink/libnl/*` may import this module: pointers never leave those modules.
 */
import { openLibrary } from "./load.ts";

const core = {
  nl_socket_alloc: { parameters: [], result: "pointer" },
  nl_socket_free: { parameters: ["pointer"], result: "void" },
  nl_connect: { parameters: ["pointer", "i32"], result: "i32" },
  nl_geterror: { parameters: ["i32"], result: "pointer" },
  nl_addr_parse: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  nl_addr_put: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const route = {
  rtnl_link_alloc: { parameters: [], result: "pointer" },
  rtnl_link_put: { parameters: ["pointer"], result: "void" },
  rtnl_link_add: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  rtnl_link_change: { parameters: ["pointer", "pointer", "pointer", "i32"], result: "i32" },
  rtnl_link_delete_nb: {
    name: "rtnl_link_delete",
    parameters: ["pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  rtnl_link_set_name: { parameters: ["pointer", "buffer"], result: "void" },
  rtnl_link_set_type: { parameters: ["pointer", "buffer"], result: "i32" },
  rtnl_link_set_ifindex: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_link_set_mtu: { parameters: ["pointer", "u32"], result: "void" },
  rtnl_link_set_flags: { parameters: ["pointer", "u32"], result: "void" },
  rtnl_link_unset_flags: { parameters: ["pointer", "u32"], result: "void" },
  rtnl_link_set_master: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_link_set_group: { parameters: ["pointer", "u32"], result: "void" },
  rtnl_link_set_ifalias: { parameters: ["pointer", "buffer"], result: "void" },
  rtnl_link_set_ns_fd: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_link_set_link: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_link_veth_alloc: { parameters: [], result: "pointer" },
  rtnl_link_veth_get_peer: { parameters: ["pointer"], result: "pointer" },
  rtnl_link_bridge_alloc: { parameters: [], result: "pointer" },
  rtnl_link_vxlan_alloc: { parameters: [], result: "pointer" },
  rtnl_link_vxlan_set_id: { parameters: ["pointer", "u32"], result: "i32" },
  rtnl_link_vxlan_set_group: { parameters: ["pointer", "pointer"], result: "i32" },
  rtnl_link_vxlan_set_local: { parameters: ["pointer", "pointer"], result: "i32" },
  rtnl_link_vxlan_set_link: { parameters: ["pointer", "u32"], result: "i32" },
  rtnl_link_vxlan_set_port: { parameters: ["pointer", "u32"], result: "i32" },
  rtnl_link_vxlan_set_learning: { parameters: ["pointer", "u8"], result: "i32" },
  rtnl_link_vxlan_set_ttl: { parameters: ["pointer", "u8"], result: "i32" },
  rtnl_link_vxlan_set_tos: { parameters: ["pointer", "u8"], result: "i32" },
  rtnl_link_vxlan_set_proxy: { parameters: ["pointer", "u8"], result: "i32" },
  rtnl_link_vxlan_set_ageing: { parameters: ["pointer", "u32"], result: "i32" },
  rtnl_link_vxlan_set_port_range: { parameters: ["pointer", "buffer"], result: "i32" },
  rtnl_link_macvlan_alloc: { parameters: [], result: "pointer" },
  rtnl_link_macvlan_set_mode: { parameters: ["pointer", "u32"], result: "i32" },
  rtnl_link_vlan_alloc: { parameters: [], result: "pointer" },
  rtnl_link_vlan_set_id: { parameters: ["pointer", "u16"], result: "i32" },
  rtnl_link_vlan_set_protocol: { parameters: ["pointer", "u16"], result: "i32" },
  rtnl_addr_alloc: { parameters: [], result: "pointer" },
  rtnl_addr_put: { parameters: ["pointer"], result: "void" },
  rtnl_addr_add: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  rtnl_addr_delete: { parameters: ["pointer", "pointer", "i32"], result: "i32" },
  rtnl_addr_set_ifindex: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_addr_set_local: { parameters: ["pointer", "pointer"], result: "i32" },
  rtnl_addr_set_peer: { parameters: ["pointer", "pointer"], result: "i32" },
  rtnl_addr_set_prefixlen: { parameters: ["pointer", "i32"], result: "void" },
  rtnl_addr_set_flags: { parameters: ["pointer", "u32"], result: "void" },
  rtnl_addr_set_scope: { parameters: ["pointer", "i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

let nl: Deno.DynamicLibrary<typeof core> | undefined;
let rt: Deno.DynamicLibrary<typeof route> | undefined;

/** libnl-3 symbols. */
export function libnl(): Deno.DynamicLibrary<typeof core>["symbols"] {
  nl ??= openLibrary("libnl-3.so.200", core);
  return nl.symbols;
}

/** libnl-route-3 symbols (loads libnl-3 first). */
export function libnlRoute(): Deno.DynamicLibrary<typeof route>["symbols"] {
  libnl();
  rt ??= openLibrary("libnl-route-3.so.200", route);
  return rt.symbols;
}
