/** The networking.dn42.io/v1alpha1 API: constants, schemas and types of the three kinds, and pure helpers. */
export * from "./constants.ts";
export * from "./common.ts";
export * from "./wireguard_interface.ts";
export * from "./wireguard_network_plan.ts";
export * from "./netlink_interface.ts";
export * from "./addresses.ts";
export * from "./secret_ref.ts";
export * from "./placement.ts";
export * from "./conditions.ts";
export { KIND_DEFINITIONS, renderCrdFiles } from "./crds.ts";
