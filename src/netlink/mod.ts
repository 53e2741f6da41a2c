/**
 * The netlink layer — public API.
 *
 * Raw codec (pure, no FFI; `attrs.ts`, `message.ts`):
 *   - `AttrEncoder`: `u8/u16/u32/i32/u64/be16/be32/string/bytes/flag`, `reserve(type, size)` (payload filled in
 *     place), `nested(type, e => …)`, `array(type, items, (e, item, i) => …)`, `mark()/rollback()`; sticky `error`;
 *     64 KiB attribute/nest limit.
 *   - `AttrDecoder`: `while (d.next()) switch (d.type) { … d.u32() … d.nested(c => …) … d.array((c, i) => …) }`,
 *     then `d.done()`; `netByteOrder`/`isNested` flags; malformed input → sticky `NetlinkError` (EBADMSG).
 *     Zero-copy: nested decoders share the parent's buffer; `view()` (valid while the datagram is),
 *     `u16At/u32At/i64At(offset)` struct fields, `isZero()`, `copyTo(dst, offset)`; only `bytes()`/`string()` copy.
 *   - `MessageEncoder(type, flags, op)` extends AttrEncoder with one fixed header (`genl`, `ifinfo`, `ifaddr`,
 *     `fixed`) and `finish(seq, pid)`; `parseMessages`, `parseError` (errno + extended ACK), `parseDone`,
 *     `decodeIfInfo/decodeIfAddr/decodeGenl`, `attrsAfter(payload, fixedLen)`.
 * Errors (`errors.ts`): `NetlinkError {op, errno, errnoName, extAck, offset, notFound, alreadyExists}`,
 *   `isNotFound(e)`, `isAlreadyExists(e)`.
 * Socket (`socket.ts`): `NetlinkSocket.open(NETLINK_ROUTE | NETLINK_GENERIC, {groups, rcvbuf})`,
 *   `request(msg, op)` → replies before the ACK, `dump(msg, op)` → all parts (DUMP_INTR retried); one request in
 *   flight per socket; `receiveNow()` / `waitReadable()` for event loops; `strictCheck` (rtnetlink dump filters honoured),
 *   `received` (messages so far). Open sockets for other namespaces only through a `Netns` handle.
 * Namespaces (`netns.ts`, the only setns caller): `Netns.host()`, `Netns.byPid(pid)`, `Netns.byPath(path)`,
 *   `Netns.byName(name)`; `handle.route`, `handle.generic` (sockets opened inside), `handle.fd` (move links),
 *   `handle.open(() => resource)` (sync opener run inside the namespace, closed with the handle),
 *   `handle.families.get(name)` / `.invalidate(name)` / `.withFamily(name, fn)`, `handle.close()`.
 * Generic netlink (`genl.ts`): `genlMessage(familyId, cmd, version)`, `resolveFamily(sock, name)`,
 *   `decodeFamily(payload)`, `FamilyCache`.
 *
 * Links (`link.ts`; libnl writes, raw reads): `createLink(ns, spec)` for veth (peer optionally in another namespace),
 *   bridge, vxlan, macvlan, vlan, dummy, wireguard; `setLink(ns, ref, {mtu, up, master, group, alias, name, netns})`;
 *   `deleteLink(ns, ref)`; `getLink(ns, ref)` → `Link | null`; `listLinks(ns, {master?})`; `linkIndex(ns, ref)`;
 *   `deleteLinkGroup(ns, group)` and `setLinkGroupUp(ns, group, up)` (one request each).
 * Addresses (`addr.ts`): `addAddress(ns, link, {local, peer?, nodad?, noprefixroute?})`, `deleteAddress`,
 *   `listAddresses(ns, link?)` → `Address[]` (one link: a kernel-filtered dump).
 * Events (`events.ts`): `NetlinkMonitor.start(ns, onEvent, {groups, rcvbuf})` → link/address events and `resync`
 *   after ENOBUFS; `await monitor.stop()`.
 */
export * from "./addr.ts";
export * from "./attrs.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./genl.ts";
export * from "./link.ts";
export * from "./message.ts";
export * from "./netns.ts";
export * from "./socket.ts";
