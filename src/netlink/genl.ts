/**
 * Generic netlink: message helper and family resolution through nlctrl (CTRL_CMD_GETFAMILY), with a per-socket
 * cache that forgets a family when the kernel says it is gone (module reload changes the id).
 */
import { AttrDecoder } from "./attrs.ts";
import { isNotFound } from "./errors.ts";
import { attrsAfter, decodeGenl, GENL_HDRLEN, MessageEncoder } from "./message.ts";
import type { NetlinkSocket } from "./socket.ts";

/** nlctrl constants (`linux/genetlink.h`). */
export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_MCAST_GROUPS = 7;
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;

/** A resolved generic-netlink family. */
export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  hdrsize: number;
  maxattr: number;
  /** Multicast group name → id. */
  groups: Map<string, number>;
}

/** A generic-netlink message for family `familyId`: nlmsghdr + genlmsghdr; add attributes, then send. */
export function genlMessage(familyId: number, cmd: number, version: number, flags = 0, op?: string): MessageEncoder {
  return new MessageEncoder(familyId, flags, op ?? `genl family ${familyId} cmd ${cmd}`).genl(cmd, version);
}

/** Decodes a CTRL_CMD_NEWFAMILY payload. */
export function decodeFamily(payload: Uint8Array): GenlFamily {
  const op = "decode genl family";
  decodeGenl(payload, op);
  const f: GenlFamily = { id: 0, name: "", version: 0, hdrsize: 0, maxattr: 0, groups: new Map() };
  const d: AttrDecoder = attrsAfter(payload, GENL_HDRLEN, op);
  while (d.next()) {
    switch (d.type) {
      case CTRL_ATTR_FAMILY_ID:
        f.id = d.u16();
        break;
      case CTRL_ATTR_FAMILY_NAME:
        f.name = d.string();
        break;
      case CTRL_ATTR_VERSION:
        f.version = d.u32();
        break;
      case CTRL_ATTR_HDRSIZE:
        f.hdrsize = d.u32();
        break;
      case CTRL_ATTR_MAXATTR:
        f.maxattr = d.u32();
        break;
      case CTRL_ATTR_MCAST_GROUPS:
        d.array((g) => {
          let name = "", id = 0;
          while (g.next()) {
            if (g.type === CTRL_ATTR_MCAST_GRP_NAME) name = g.string();
            else if (g.type === CTRL_ATTR_MCAST_GRP_ID) id = g.u32();
          }
          if (name) f.groups.set(name, id);
        });
        break;
    }
  }
  d.done();
  return f;
}

/**
 * Resolves a generic-netlink family by name on `sock` (a NETLINK_GENERIC socket). An unknown family throws a
 * NetlinkError with `notFound` true (ENOENT).
 */
export async function resolveFamily(sock: NetlinkSocket, name: string): Promise<GenlFamily> {
  const op = `resolve genl family ${name}`;
  const msg = genlMessage(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, op).string(CTRL_ATTR_FAMILY_NAME, name);
  const replies = await sock.request(msg, op);
  if (replies.length === 0) throw new Error(`${op}: kernel sent no family`);
  return decodeFamily(replies[0].payload);
}

/** Per-namespace cache of resolved families; {@link invalidate} after ENOENT from the family. */
export class FamilyCache {
  readonly #cache = new Map<string, Promise<GenlFamily>>();

  constructor(readonly socket: NetlinkSocket) {}

  /** The family `name`, resolved once and cached (a failed resolution is not cached). */
  get(name: string): Promise<GenlFamily> {
    let p = this.#cache.get(name);
    if (!p) {
      p = resolveFamily(this.socket, name);
      this.#cache.set(name, p);
      p.catch(() => this.#cache.delete(name));
    }
    return p;
  }

  /** Forgets `name` so the next {@link get} asks the kernel again. */
  invalidate(name: string): void {
    this.#cache.delete(name);
  }

  /**
   * Runs `fn` with the family's id; if it fails with ENOENT (the family was reloaded and got a new id), resolves
   * again and retries once.
   */
  async withFamily<T>(name: string, fn: (family: GenlFamily) => Promise<T>): Promise<T> {
    const f = await this.get(name);
    try {
      return await fn(f);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.invalidate(name);
      const again = await this.get(name);
      if (again.id === f.id) throw e;
      return await fn(again);
    }
  }
}
