/**
 * The netlink socket's request, dump and error paths against an in-process kernel (tests/doubles/netlink.ts): no
 * root, no kernel, milliseconds. The same socket against the real kernel: socket_test.ts, rtnl_test.ts.
 */
import assert from "node:assert/strict";
import { Errno, NetlinkError } from "../../src/netlink/errors.ts";
import { MessageEncoder, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLMSG_NOOP } from "../../src/netlink/message.ts";
import { decodeLink, dumpLinksRequest } from "../../src/netlink/rtnl.ts";
import { doneReply, errorReply, fakeSocket, type Reply } from "../doubles/netlink.ts";

const RTM_NEWLINK = 16, IFLA_IFNAME = 3, IFLA_MTU = 4;

/** An RTM_NEWLINK reply for link `name` (`index`, `mtu`) as part of a dump. */
function linkReply(index: number, name: string, mtu: number, flags = NLM_F_MULTI): Reply {
  const m = new MessageEncoder(RTM_NEWLINK).ifinfo({ index }).string(IFLA_IFNAME, name).u32(IFLA_MTU, mtu);
  const bytes = m.finish(0, 0);
  return { type: RTM_NEWLINK, flags, payload: bytes.slice(16) };
}

Deno.test("fake netlink: a request gets its ACK; an error carries errno, extended-ACK text and the operation", async () => {
  const { sock, conn } = fakeSocket((req) =>
    req.type === 1000
      ? [[errorReply(req, 0)]]
      : [[errorReply(req, Errno.EEXIST, { message: "link already exists", offset: 20 })]]
  );
  assert.deepEqual(await sock.request(new MessageEncoder(1000), "noop"), []);
  const err = await sock.request(new MessageEncoder(1001), "create link x").catch((e) => e);
  assert.ok(err instanceof NetlinkError);
  assert.equal(err.errno, Errno.EEXIST);
  assert.equal(err.extAck, "link already exists");
  assert.equal(err.offset, 20);
  assert.match(err.message, /^create link x: EEXIST: link already exists/);
  assert.ok(err.alreadyExists);
  assert.equal(conn.requests.length, 2);
  assert.notEqual(conn.requests[0].seq, conn.requests[1].seq, "each request has its own sequence number");
});

Deno.test("fake netlink: a dump over several datagrams, with stale replies and notifications ignored", async () => {
  const { sock, conn } = fakeSocket((req) => {
    conn.inject([{ type: RTM_NEWLINK, seq: req.seq - 1, pid: conn.portId }]); // a late reply to an older request
    conn.inject([{ type: RTM_NEWLINK, seq: 0, pid: 0, payload: linkReply(9, "noise", 1).payload }]); // multicast
    return [
      [linkReply(1, "lo", 65536), linkReply(2, "eth0", 1500)],
      [{ type: NLMSG_NOOP }, linkReply(3, "wg0", 1420)],
      [doneReply()],
    ];
  });
  const links = (await sock.dump(dumpLinksRequest())).map(decodeLink);
  assert.deepEqual(links.map((l) => [l.index, l.name, l.mtu]), [[1, "lo", 65536], [2, "eth0", 1500], [3, "wg0", 1420]]);
  assert.equal(conn.requests[0].flags & NLM_F_DUMP, NLM_F_DUMP);
});

Deno.test("fake netlink: an interrupted dump is repeated; one that stays interrupted fails with EINTR", async () => {
  let calls = 0;
  const flaky = fakeSocket(() => {
    calls++;
    const flags = calls < 3 ? NLM_F_MULTI | NLM_F_DUMP_INTR : NLM_F_MULTI;
    return [[linkReply(1, "lo", 65536, flags), doneReply(0, flags)]];
  });
  assert.equal((await flaky.sock.dump(dumpLinksRequest())).length, 1);
  assert.equal(calls, 3);
  const stuck = fakeSocket(() => [[linkReply(1, "lo", 65536, NLM_F_MULTI | NLM_F_DUMP_INTR), doneReply()]]);
  await assert.rejects(stuck.sock.dump(dumpLinksRequest(), "list links"), /list links: EINTR: dump interrupted/);
  assert.equal(stuck.conn.requests.length, 8);
});

Deno.test("fake netlink: a failed dump, a truncated datagram, no reply and a closed socket are typed errors", async () => {
  const failed = fakeSocket(() => [[doneReply(Errno.ENODEV)]]);
  await assert.rejects(failed.sock.dump(dumpLinksRequest(), "list addresses"), /list addresses: ENODEV/);

  const small = fakeSocket(() => [[linkReply(1, "a-long-name", 1500), doneReply()]], { recvBufferSize: 32 });
  await assert.rejects(small.sock.dump(dumpLinksRequest()), (e: NetlinkError) => e.errno === Errno.EMSGSIZE);

  const silent = fakeSocket(() => []);
  await assert.rejects(
    silent.sock.request(new MessageEncoder(1000), "set mtu", { timeoutMs: 20 }),
    (e: NetlinkError) => e.errno === Errno.ETIMEDOUT && /set mtu: ETIMEDOUT: no reply/.test(e.message),
  );

  const closed = fakeSocket(
    () => [[errorReply({ type: 1000, flags: 0, seq: 0, pid: 0, payload: new Uint8Array() }, 0)]],
  );
  closed.sock.close();
  assert.ok(closed.conn.closed);
  await assert.rejects(
    closed.sock.request(new MessageEncoder(1000), "after close"),
    /after close: EBADF: socket closed/,
  );
});
