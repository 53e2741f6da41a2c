/** The reference NetlinkInterface examples (docs/reference.md#the-examples) with placements chosen by the test. */
import type { Container } from "../../../src/api/common.ts";
import type { NetlinkInterfaceSpec } from "../../../src/api/netlink_interface.ts";

/** veth.yaml: veth1-a (fe80::eeee:1/64) in `local`, veth1-b (fe80::eeee:2/64) in `peer`. */
export function vethExample(node: string, local: Container, peer: Container): NetlinkInterfaceSpec {
  return {
    node,
    interfaceName: "veth1-a",
    type: "veth",
    up: true,
    addresses: [{ ipcidr: "fe80::eeee:1/64" }],
    container: local,
    veth: { peer: { interfaceName: "veth1-b", container: peer, addresses: [{ ipcidr: "fe80::eeee:2/64" }] } },
  };
}

/** nl2-bridge.yaml: nl2-bridge with slaves v1, v2, two addresses, mtu 1420. */
export function bridgeExample(node: string, where: Container): NetlinkInterfaceSpec {
  return {
    node,
    interfaceName: "nl2-bridge",
    type: "bridge",
    bridge: { slaves: ["v1", "v2"] },
    addresses: [{ ipcidr: "10.2.4.0/24" }, { ipcidr: "10.100.3.1", peerCidr: "10.100.4.1/32" }],
    mtu: 1420,
    up: true,
    container: where,
  };
}
