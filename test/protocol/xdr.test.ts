// XDR primitives: exact bytes of each type, padding, limits, truncation and libvirt-compatible leniency.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdrDecodeError, XdrReader, XdrWriter, isValidUtf8, xdrOpaqueSize, xdrPadding } from '../../src/shared/protocol/xdr';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('integers are big-endian 4 or 8 bytes', () => {
  const bytes = new XdrWriter()
    .u32(0xdeadbeef) // de ad be ef
    .i32(-2) //          ff ff ff fe
    .u64(0x0102030405060708n) // 01..08
    .i64(-1) //          ff x8
    .bool(true) //       00 00 00 01
    .bool(false) //      00 00 00 00
    .finish();
  assert.deepEqual(bytes, hex('deadbeef fffffffe 0102030405060708 ffffffffffffffff 00000001 00000000'));
  const r = new XdrReader(bytes);
  assert.equal(r.u32(), 0xdeadbeef);
  assert.equal(r.i32(), -2);
  assert.equal(r.u64(), 0x0102030405060708n);
  assert.equal(r.i64(), -1n);
  assert.equal(r.bool(), true);
  assert.equal(r.bool(), false);
  r.assertConsumed();
});

test('strings carry a length word and zero padding to 4 bytes', () => {
  const cases: Array<[string, string]> = [
    ['', '00000000'],
    ['a', '00000001 61000000'],
    ['ab', '00000002 61620000'],
    ['abc', '00000003 61626300'],
    ['abcd', '00000004 61626364'],
    ['abcde', '00000005 61626364 65000000'],
    ['é', '00000002 c3a90000'], // UTF-8: two bytes
  ];
  for (const [s, expected] of cases) {
    const bytes = new XdrWriter().string(s).finish();
    assert.deepEqual(bytes, hex(expected), `encoding ${JSON.stringify(s)}`);
    assert.equal(bytes.length, xdrOpaqueSize(Buffer.byteLength(s)));
    const r = new XdrReader(bytes);
    assert.equal(r.string(100), s);
    r.assertConsumed();
  }
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(xdrPadding), [0, 3, 2, 1, 0, 3]);
});

test('a Buffer string is sent byte for byte and read back raw', () => {
  const raw = Buffer.from([0x2f, 0xff, 0x00, 0x61, 0xc3]); // '/', invalid UTF-8, NUL, 'a', truncated sequence
  const bytes = new XdrWriter().string(raw).finish();
  assert.deepEqual(bytes, hex('00000005 2fff0061 c3000000'));
  assert.deepEqual(new XdrReader(bytes).stringBytes(10), raw);
  assert.equal(isValidUtf8(raw), false);
  assert.equal(isValidUtf8(Buffer.from('fine')), true);
});

test('fixed opaque has no length word and is padded', () => {
  const bytes = new XdrWriter().fixedOpaque(Buffer.from([1, 2, 3, 4, 5]), 5).u32(7).finish();
  assert.deepEqual(bytes, hex('01020304 05000000 00000007'));
  const r = new XdrReader(bytes);
  assert.deepEqual(r.fixedOpaque(5), Buffer.from([1, 2, 3, 4, 5]));
  assert.equal(r.u32(), 7);
  assert.throws(() => new XdrWriter().fixedOpaque(Buffer.alloc(15), 16), RangeError);
});

test('variable opaque and optional values', () => {
  const bytes = new XdrWriter()
    .opaque(Buffer.from([9, 8, 7]))
    .optional<string>(null, (w, v) => w.string(v))
    .optional('x', (w, v) => w.string(v))
    .finish();
  assert.deepEqual(bytes, hex('00000003 09080700  00000000  00000001 00000001 78000000'));
  const r = new XdrReader(bytes);
  assert.deepEqual(r.opaque(3), Buffer.from([9, 8, 7]));
  assert.equal(r.optional((x) => x.string(10)), null);
  assert.equal(r.optional((x) => x.string(10)), 'x');
  r.assertConsumed();
});

test('non-zero padding is accepted, as glibc xdr_opaque skips it unchecked', () => {
  const r = new XdrReader(hex('00000001 61ffffff 00000002'));
  assert.equal(r.string(10), 'a');
  assert.equal(r.u32(), 2);
});

test('a string of exactly the maximum decodes; one byte more is refused before reading it', () => {
  const max = 8;
  const ok = new XdrWriter().string('x'.repeat(max)).finish();
  assert.equal(new XdrReader(ok).string(max), 'x'.repeat(max));
  const long = new XdrWriter().string('x'.repeat(max + 1)).finish();
  const r = new XdrReader(long);
  assert.throws(() => r.string(max), (err: unknown) => err instanceof XdrDecodeError && err.offset === 0);
  assert.equal(r.offset, 0, 'a failed read leaves the position unchanged');
  // Declared length over the maximum with no data behind it: still "too long", not "truncated".
  assert.throws(() => new XdrReader(hex('ffffffff')).stringBytes(max), /exceeds max/);
});

test('every truncation of an encoded value is an XdrDecodeError', () => {
  const full = new XdrWriter().string('hello').u32(1).u64(2n).fixedOpaque(Buffer.alloc(16, 1), 16).finish();
  const decode = (b: Buffer): void => {
    const r = new XdrReader(b);
    r.string(100);
    r.u32();
    r.u64();
    r.fixedOpaque(16);
  };
  decode(full);
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => decode(full.subarray(0, cut)), XdrDecodeError, `cut at ${cut}`);
  }
});

test('missing padding after the last string byte is truncation', () => {
  assert.throws(() => new XdrReader(hex('00000001 61')).string(10), /truncated/);
});

test('booleans other than 0 and 1 are refused', () => {
  assert.throws(() => new XdrReader(hex('00000002')).bool(), XdrDecodeError);
  assert.throws(() => new XdrReader(hex('00000002 00000000')).optional((r) => r.u32()), XdrDecodeError);
});

test('assertConsumed reports trailing bytes; a region limits the reader', () => {
  const r = new XdrReader(hex('00000001 00000002'));
  r.u32();
  assert.throws(() => r.assertConsumed(), /4 trailing bytes/);
  const region = new XdrReader(hex('aaaaaaaa 00000005 bbbbbbbb'), 4, 8);
  assert.equal(region.u32(), 5);
  assert.equal(region.remaining, 0);
  assert.throws(() => region.u32(), XdrDecodeError);
  assert.throws(() => new XdrReader(Buffer.alloc(4), 2, 8), RangeError);
});

test('writer range checks and growth', () => {
  assert.throws(() => new XdrWriter().u32(-1), RangeError);
  assert.throws(() => new XdrWriter().u32(2 ** 32), RangeError);
  assert.throws(() => new XdrWriter().u32(1.5), RangeError);
  assert.throws(() => new XdrWriter().i32(2 ** 31), RangeError);
  assert.throws(() => new XdrWriter().u64(-1n), RangeError);
  assert.throws(() => new XdrWriter().string('abc', 2), RangeError);

  const w = new XdrWriter(16);
  const big = 'q'.repeat(100_003);
  for (let i = 0; i < 3; i++) w.string(big).u32(i);
  const bytes = w.finish();
  assert.equal(bytes.length, 3 * (xdrOpaqueSize(100_003) + 4));
  const r = new XdrReader(bytes);
  for (let i = 0; i < 3; i++) {
    assert.equal(r.string(200_000), big);
    assert.equal(r.u32(), i);
  }
  assert.throws(() => w.u32(1), /after finish/);
});

test('writer growth keeps every primitive written across reallocations', () => {
  const w = new XdrWriter(16);
  for (let i = 0; i < 1000; i++) w.u32(i).i32(0 - i || 0).u64(BigInt(i)).i64(BigInt(-i)).bool(i % 2 === 0).raw(Buffer.from([0, 0, 0, i & 0xff]));
  const r = new XdrReader(w.finish());
  for (let i = 0; i < 1000; i++) {
    assert.equal(r.u32(), i);
    assert.equal(r.i32(), 0 - i || 0);
    assert.equal(r.u64(), BigInt(i));
    assert.equal(r.i64(), BigInt(-i));
    assert.equal(r.bool(), i % 2 === 0);
    assert.equal(r.u32(), i & 0xff);
  }
  r.assertConsumed();
});

test('raw() appends pre-encoded bytes', () => {
  const inner = new XdrWriter().u32(3).finish();
  assert.deepEqual(new XdrWriter().u32(1).raw(inner).finish(), hex('00000001 00000003'));
});
