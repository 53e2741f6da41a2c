import assert from "node:assert/strict";
import { AttrDecoder, AttrEncoder } from "../../src/netlink/attrs.ts";
import { isAlreadyExists, isNotFound, NetlinkError } from "../../src/netlink/errors.ts";
import { decodeFamily, genlMessage } from "../../src/netlink/genl.ts";
import {
  attrsAfter,
  decodeIfAddr,
  decodeIfInfo,
  IFINFOMSG_LEN,
  MessageEncoder,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ERROR,
  parseDone,
  parseError,
  parseMessages,
} from "../../src/netlink/message.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("GETFAMILY nlctrl encodes byte-exactly as the kernel expects", () => {
  const msg = genlMessage(16, 3, 1).string(2, "nlctrl").finish(1, 0, 0x5);
  assert.equal(
    hex(msg),
    "20 00 00 00 10 00 05 00 01 00 00 00 00 00 00 00 03 01 00 00 0b 00 02 00 6e 6c 63 74 72 6c 00 00",
  );
});

Deno.test("scalars, strings, flags and nests round-trip with 4-byte alignment", () => {
  const e = new AttrEncoder()
    .u8(1, 0xab).u16(2, 0xbeef).u32(3, 0xdeadbeef).u64(4, 0x0102030405060708n).i32(5, -7)
    .be16(6, 4789).be32(7, 0x0a000001, true).string(8, "veth0").flag(9).bytes(10, new Uint8Array([1, 2, 3]))
    .nested(11, (n) => n.u32(1, 42).nested(2, (m) => m.string(1, "deep")));
  const b = e.encode();
  assert.equal(b.length % 4, 0);
  const d = new AttrDecoder(b);
  const seen: Record<number, unknown> = {};
  while (d.next()) {
    switch (d.type) {
      case 1:
        seen[1] = d.u8();
        break;
      case 2:
        seen[2] = d.u16();
        break;
      case 3:
        seen[3] = d.u32();
        break;
      case 4:
        seen[4] = d.u64();
        break;
      case 5:
        seen[5] = d.i32();
        break;
      case 6:
        seen[6] = d.be16();
        break;
      case 7:
        assert.ok(d.netByteOrder);
        seen[7] = d.u32();
        break;
      case 8:
        seen[8] = d.string();
        break;
      case 9:
        seen[9] = d.length;
        break;
      case 10:
        seen[10] = [...d.bytes()];
        break;
      case 11:
        assert.ok(d.isNested);
        d.nested((n) => {
          while (n.next()) {
            if (n.type === 1) seen["11.1" as unknown as number] = n.u32();
            if (n.type === 2) {
              n.nested((m) => {
                while (m.next()) seen["11.2.1" as unknown as number] = m.string();
              });
            }
          }
        });
    }
  }
  d.done();
  assert.deepEqual(seen, {
    1: 0xab,
    2: 0xbeef,
    3: 0xdeadbeef,
    4: 0x0102030405060708n,
    5: -7,
    6: 4789,
    7: 0x0a000001,
    8: "veth0",
    9: 0,
    10: [1, 2, 3],
    "11.1": 42,
    "11.2.1": "deep",
  });
  // "veth0": nla_len 10 (4 + 5 + NUL), padded with zeros to 12
  assert.equal(hex(new AttrEncoder().string(8, "veth0").encode()), "0a 00 08 00 76 65 74 68 30 00 00 00");
});

Deno.test("array of nests encodes index-typed children and decodes back in order", () => {
  const peers = ["a", "bb", "ccc"];
  const b = new AttrEncoder().array(1, peers, (e, p, i) => e.string(1, p).u32(2, i)).encode();
  const d = new AttrDecoder(b);
  const got: [number, string, number][] = [];
  while (d.next()) {
    d.array((item, idx) => {
      let s = "", n = -1;
      while (item.next()) item.type === 1 ? (s = item.string()) : (n = item.u32());
      got.push([idx, s, n]);
    });
  }
  d.done();
  assert.deepEqual(got, [[1, "a", 0], [2, "bb", 1], [3, "ccc", 2]]);
});

Deno.test("encoder errors are sticky and typed: oversized attribute, oversized nest, bad values", () => {
  const big = new AttrEncoder("t").bytes(1, new Uint8Array(65532)).u32(2, 1);
  assert.ok(big.error instanceof NetlinkError);
  assert.equal(big.error.errnoName, "E2BIG");
  assert.throws(() => big.encode(), (e: NetlinkError) => e.errno === 7 && /attribute 1/.test(e.message));
  assert.equal(new AttrEncoder().bytes(1, new Uint8Array(65531)).error, null); // 65535 exactly is fine

  const nest = new AttrEncoder().nested(5, (e) => {
    for (let i = 0; i < 20; i++) e.bytes(1, new Uint8Array(4000));
  });
  assert.match(String(nest.error), /nested attribute 5.*65535/);

  assert.match(String(new AttrEncoder().u8(1, 256).error), /not a u8/);
  assert.match(String(new AttrEncoder().u16(1, -1).error), /not a u16/);
  assert.match(String(new AttrEncoder().u32(1, 1.5).error), /not a u32/);
  assert.match(String(new AttrEncoder().u32(0x4000, 1).error), /type 16384/);
  assert.match(String(new AttrEncoder().string(1, "a\0b").error), /NUL/);
  const sticky = new AttrEncoder().u8(1, 999).u32(2, 5);
  assert.equal(sticky.length, 0, "calls after the first error are no-ops");
});

Deno.test("mark/rollback drops what was written after the mark", () => {
  const e = new AttrEncoder().u32(1, 1);
  const m = e.mark();
  e.u32(2, 2).string(3, "xyz");
  e.rollback(m);
  const d = new AttrDecoder(e.encode());
  const types: number[] = [];
  while (d.next()) types.push(d.type);
  assert.deepEqual(types, [1]);
});

Deno.test("decoder: malformed attributes set a typed error and stop, never throw while iterating", () => {
  const cases: [string, number[]][] = [
    ["truncated attribute header", [8, 0]],
    ["length 2 at offset 0", [2, 0, 1, 0]],
    ["length 12 at offset 0", [12, 0, 1, 0, 0, 0, 0, 0]],
  ];
  for (const [want, bytes] of cases) {
    const d = new AttrDecoder(new Uint8Array(bytes), "decode test");
    while (d.next()) { /* consume */ }
    assert.ok(d.error instanceof NetlinkError, want);
    assert.equal(d.error.errnoName, "EBADMSG");
    assert.match(d.error.message, new RegExp(want));
    assert.throws(() => d.done(), NetlinkError);
  }
  // wrong payload size for the getter
  const d = new AttrDecoder(new AttrEncoder().u16(1, 7).encode());
  d.next();
  assert.equal(d.u32(), 0);
  assert.match(String(d.error), /u32 needs 4 bytes, got 2/);
  // a broken child nest makes the parent fail
  const bad = new Uint8Array([12, 0, 1, 0x80, 40, 0, 1, 0, 0, 0, 0, 0]);
  const p = new AttrDecoder(bad);
  while (p.next()) {
    p.nested((c) => {
      while (c.next()) c.u32();
    });
  }
  assert.ok(p.error);
});

Deno.test("encoder: reserve() appends a zeroed, padded attribute whose payload the caller fills in place", () => {
  const e = new AttrEncoder("reserve test", 8); // small capacity: the reserved view must survive no later growth
  const p = e.reserve(7, 3);
  assert.deepEqual([...p], [0, 0, 0]);
  p.set([1, 2, 3]);
  e.u16(8, 0xabcd);
  assert.equal(hex(e.encode()), "07 00 07 00 01 02 03 00 06 00 08 00 cd ab 00 00");
  const cases: [string, number, RegExp][] = [
    ["negative size", -1, /payload size -1 is not a byte count/],
    ["fractional size", 1.5, /payload size 1.5 is not a byte count/],
    ["too large", 0x10000, /65535-byte netlink attribute limit/],
  ];
  for (const [name, size, why] of cases) {
    const x = new AttrEncoder();
    assert.equal(x.reserve(1, size).length, 0, name);
    assert.match(String(x.error), why, name);
    assert.equal(x.reserve(2, 4).length, 0, `${name}: later reserves are no-ops`);
    assert.throws(() => x.encode(), NetlinkError, name);
  }
});

Deno.test("decoder: view() reads in place, bytes() and copyTo() copy, nested decoders stay in their bounds", () => {
  const buf = new AttrEncoder()
    .bytes(1, Uint8Array.of(1, 2, 3))
    .nested(2, (e) => e.u32(1, 7).bytes(2, Uint8Array.of(9, 9)))
    .u16(3, 0xbeef)
    .encode();
  const datagram = new Uint8Array(buf.length + 8);
  datagram.set(buf, 8);
  const d = new AttrDecoder(datagram.subarray(8));
  assert.ok(d.next());
  const v = d.view();
  assert.deepEqual([...v], [1, 2, 3]);
  assert.equal(v.buffer, datagram.buffer, "view shares the datagram's memory");
  assert.equal(v.byteOffset, 8 + 4);
  const copy = d.bytes();
  assert.notEqual(copy.buffer, datagram.buffer);
  const dst = new Uint8Array(6);
  assert.equal(d.copyTo(dst, 3), 3);
  assert.deepEqual([...dst], [0, 0, 0, 1, 2, 3]);
  datagram[12] = 42;
  assert.deepEqual([...v, ...copy], [42, 2, 3, 1, 2, 3], "the view follows the datagram, the copy does not");
  assert.ok(d.next());
  const seen: [number, number][] = [];
  d.nested((c) => {
    while (c.next()) seen.push([c.type, c.length]);
    // the child ends at its nest: the parent's u16 attribute 3 is out of its reach
  });
  assert.deepEqual(seen, [[1, 4], [2, 2]]);
  assert.ok(d.next());
  assert.equal(d.type, 3);
  assert.equal(d.u16(), 0xbeef);
  assert.equal(d.next(), false);
  d.done();
});

Deno.test("decoder: struct-field getters, isZero and copyTo (table)", () => {
  // payload: u16 LE 0x0102 | u16 BE 0x0304 | u32 LE 0x05060708 | s64 LE -2
  const payload = new Uint8Array(16);
  const pv = new DataView(payload.buffer);
  pv.setUint16(0, 0x0102, true);
  pv.setUint16(2, 0x0304, false);
  pv.setUint32(4, 0x05060708, true);
  pv.setBigInt64(8, -2n, true);
  const cases: {
    name: string;
    payload: Uint8Array;
    read: (d: AttrDecoder) => unknown;
    want: unknown;
    error?: RegExp;
  }[] = [
    { name: "u16At LE", payload, read: (d) => d.u16At(0), want: 0x0102 },
    { name: "u16At BE", payload, read: (d) => d.u16At(2, true), want: 0x0304 },
    { name: "u32At LE", payload, read: (d) => d.u32At(4), want: 0x05060708 },
    { name: "u32At BE", payload, read: (d) => d.u32At(4, true), want: 0x08070605 },
    { name: "i64At", payload, read: (d) => d.i64At(8), want: -2n },
    { name: "u16At last field", payload, read: (d) => d.u16At(14), want: 0xffff },
    { name: "u16At past the end", payload, read: (d) => d.u16At(15), want: 0, error: /u16 field at offset 15/ },
    { name: "u32At negative", payload, read: (d) => d.u32At(-1), want: 0, error: /offset -1 outside/ },
    { name: "i64At fractional", payload, read: (d) => d.i64At(0.5), want: 0n, error: /offset 0.5/ },
    { name: "i64At short payload", payload: new Uint8Array(4), read: (d) => d.i64At(0), want: 0n, error: /4-byte/ },
    { name: "isZero all zero", payload: new Uint8Array(32), read: (d) => d.isZero(), want: true },
    { name: "isZero empty", payload: new Uint8Array(0), read: (d) => d.isZero(), want: true },
    { name: "isZero last byte set", payload: Uint8Array.of(0, 0, 0, 1), read: (d) => d.isZero(), want: false },
    {
      name: "copyTo fits exactly",
      payload: Uint8Array.of(7, 8),
      read: (d) => {
        const dst = new Uint8Array(4);
        return [d.copyTo(dst, 2), ...dst];
      },
      want: [2, 0, 0, 7, 8],
    },
    {
      name: "copyTo does not fit",
      payload: Uint8Array.of(7, 8),
      read: (d) => {
        const dst = new Uint8Array(4);
        return [d.copyTo(dst, 3), ...dst];
      },
      want: [0, 0, 0, 0, 0],
      error: /2-byte payload does not fit at offset 3 of 4 bytes/,
    },
  ];
  for (const c of cases) {
    // inside a nest, behind a sibling, so offsets are relative to the payload and not to the buffer
    const buf = new AttrEncoder().u32(9, 0xffffffff).nested(1, (e) => e.u8(5, 1).bytes(2, c.payload)).encode();
    const d = new AttrDecoder(buf);
    d.next();
    d.next();
    let got: unknown;
    d.nested((n) => {
      n.next();
      n.next();
      got = c.read(n);
    });
    assert.deepEqual(got, c.want, c.name);
    if (c.error) assert.match(String(d.error), c.error, c.name);
    else assert.equal(d.error, null, c.name);
  }
});

Deno.test("parseMessages splits datagrams and rejects truncated headers and bad lengths", () => {
  const a = new MessageEncoder(18, 0).ifinfo({ index: 3, flags: 1 }).u32(4, 1400).finish(7, 99);
  const b = new MessageEncoder(20, 0).ifaddr({ family: 2, prefixlen: 24, index: 3 }).finish(8, 99);
  const dgram = new Uint8Array(a.length + b.length);
  dgram.set(a);
  dgram.set(b, a.length);
  const ms = parseMessages(dgram);
  assert.deepEqual(ms.map((m) => [m.type, m.seq, m.pid]), [[18, 7, 99], [20, 8, 99]]);
  assert.deepEqual(decodeIfInfo(ms[0].payload), { family: 0, type: 0, index: 3, flags: 1, change: 0 });
  const at = attrsAfter(ms[0].payload, IFINFOMSG_LEN);
  assert.ok(at.next());
  assert.equal(at.u32(), 1400);
  assert.deepEqual(decodeIfAddr(ms[1].payload), { family: 2, prefixlen: 24, flags: 0, scope: 0, index: 3 });

  assert.throws(() => parseMessages(dgram.subarray(0, 10)), /truncated message header/);
  const bad = dgram.slice();
  new DataView(bad.buffer).setUint32(0, 4000, true);
  assert.throws(
    () => parseMessages(bad),
    (e: NetlinkError) => e.errnoName === "EBADMSG" && /length 4000/.test(e.message),
  );
  new DataView(bad.buffer).setUint32(0, 3, true);
  assert.throws(() => parseMessages(bad), /length 3/);
  assert.throws(() => decodeIfInfo(new Uint8Array(4)), /ifinfomsg needs 16/);
  assert.throws(() => decodeIfAddr(new Uint8Array(4)), /ifaddrmsg needs 8/);
});

Deno.test("fixed header must be first", () => {
  const m = new MessageEncoder(16, 0).u32(1, 1).ifinfo({});
  assert.throws(() => m.finish(1, 1), /fixed header must come first/);
});

/** An NLMSG_ERROR datagram: errno, echoed request header (+ `echoed` payload bytes unless capped), extack TLVs. */
function errorDatagram(errno: number, capped: boolean, tlvs: Uint8Array | null, echoed = 0): Uint8Array {
  const body = 4 + 16 + (capped ? 0 : echoed);
  const total = 16 + body + (tlvs?.length ?? 0);
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  v.setUint32(0, total, true);
  v.setUint16(4, NLMSG_ERROR, true);
  v.setUint16(6, (capped ? NLM_F_CAPPED : 0) | (tlvs ? NLM_F_ACK_TLVS : 0), true);
  v.setInt32(16, -errno, true);
  v.setUint32(20, 16 + echoed, true);
  v.setUint16(24, 16, true); // echoed request type RTM_NEWLINK
  if (tlvs) b.set(tlvs, 16 + body);
  return b;
}

Deno.test("parseError: ACK, errno, extended ACK after capped and uncapped echo", () => {
  const ack = parseError(parseMessages(errorDatagram(0, true, null))[0]);
  assert.deepEqual(ack, { errno: 0, requestType: 16 });
  const tlvs = new AttrEncoder().string(1, "Unknown device type").u32(2, 36).encode();
  for (const capped of [true, false]) {
    const e = parseError(parseMessages(errorDatagram(95, capped, tlvs, 20))[0]);
    assert.deepEqual(e, { errno: 95, requestType: 16, extAck: "Unknown device type", offset: 36 });
  }
  // malformed: payload too short; TLV start beyond the payload
  const short = errorDatagram(22, true, null).slice(0, 24);
  new DataView(short.buffer).setUint32(0, 24, true);
  assert.throws(() => parseError(parseMessages(short)[0]), /error payload of 8 bytes/);
  const lying = errorDatagram(22, false, tlvs, 0);
  new DataView(lying.buffer).setUint32(20, 400, true);
  assert.throws(() => parseError(parseMessages(lying)[0]), /extended ACK starts at/);
});

Deno.test("parseDone reads the dump status", () => {
  const m = new MessageEncoder(3, 0).fixed(new Uint8Array([0xfe, 0xff, 0xff, 0xff])).finish(1, 1);
  assert.equal(parseDone(parseMessages(m)[0]).errno, 2);
});

Deno.test("decodeFamily reads id, name, version and multicast groups", () => {
  const payload = new MessageEncoder(16, 0).genl(1, 2)
    .u16(1, 16).string(2, "nlctrl").u32(3, 2).u32(4, 0).u32(5, 10)
    .array(7, [["notify", 16]] as const, (e, [n, id]) => e.u32(2, id).string(1, n))
    .finish(0, 0).subarray(16);
  const f = decodeFamily(payload);
  assert.deepEqual({ ...f, groups: [...f.groups] }, {
    id: 16,
    name: "nlctrl",
    version: 2,
    hdrsize: 0,
    maxattr: 10,
    groups: [["notify", 16]],
  });
});

Deno.test("NetlinkError: not-found / already-exists checks and message", () => {
  const e = new NetlinkError({ op: "link add x", errno: 17, extAck: "File exists" });
  assert.equal(e.message, "link add x: EEXIST: File exists");
  assert.ok(isAlreadyExists(e) && !isNotFound(e));
  for (const n of [2, 19]) assert.ok(isNotFound(new NetlinkError({ op: "x", errno: n })));
  assert.ok(!isNotFound(new Error("ENOENT")));
});

Deno.test("fuzz: random and mutated input never crashes the decoders, only typed errors", () => {
  let seed = 0x2545f491;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const valid = new MessageEncoder(16, 0).ifinfo({ index: 1 }).string(3, "veth0").u32(4, 1500)
    .nested(18, (e) => e.string(1, "vxlan").nested(2, (d) => d.u32(1, 42).be16(15, 4789))).finish(1, 1);
  const walk = (d: AttrDecoder, depth: number): void => {
    while (d.next()) {
      if (depth < 4 && d.length >= 4) d.nested((c) => walk(c, depth + 1));
      if (depth < 4 && d.length >= 4 && d.type % 2) d.array((c) => walk(c, depth + 1));
      d.u32();
      d.string();
      d.view();
      d.isZero();
      d.u16At(d.type % 8, true);
      d.i64At(d.type % 16);
      d.copyTo(new Uint8Array(16), d.type % 8);
    }
  };
  for (let i = 0; i < 5000; i++) {
    const b = i % 2 ? valid.slice() : new Uint8Array(Math.floor(rnd() * 96));
    for (let k = 0; k < (i % 2 ? 1 + Math.floor(rnd() * 4) : b.length); k++) {
      b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    const cut = b.subarray(0, Math.floor(rnd() * (b.length + 1)));
    try {
      for (const m of parseMessages(cut)) {
        if (m.type === NLMSG_ERROR) parseError(m);
        decodeIfInfo(m.payload);
        walk(attrsAfter(m.payload, IFINFOMSG_LEN), 0);
      }
    } catch (e) {
      assert.ok(e instanceof NetlinkError, `unexpected ${e}`);
    }
    walk(new AttrDecoder(cut), 0);
  }
});
