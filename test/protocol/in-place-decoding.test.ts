// The daemon's in-place readers against the reference decoders they stand in for: the resource args read
// where they lie in a frame (ResourceArgsView) against decodeResourceArgs, a reply written from the call's
// header (encodeReply) against encodeMessage, and the one-pass exact name against exactName. Each property
// fails as soon as the two disagree on a single input, refusals (and their error replies) included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LOCK_STRING_MAX, decodeResourceArgs, encodeResourceArgs } from '../../src/shared/protocol/lock-program';
import { MessageStatus, encodeMessage, encodeReply, replyHeader, type MessageHeader } from '../../src/shared/protocol/message';
import { ResourceArgsView } from '../../src/worker/lock/resource-args-view';
import { XdrWriter } from '../../src/shared/protocol/xdr';
import { exactName, exactNameIn } from '../../src/worker/lock/exact-name';
import { VirError } from '../../src/shared/protocol/vir-error';

const RUNS = 3000;
const u32 = fc.integer({ min: 0, max: 0xffffffff });

// What the reference decoder makes of payload = frame[offset..], in the view's terms.
function reference(frame: Buffer, offset: number): { path: Buffer; name: Buffer; flags: number } | 'refused' {
  try {
    const args = decodeResourceArgs(frame.subarray(offset));
    return { path: args.pathBytes, name: args.nameBytes, flags: args.flags };
  } catch {
    return 'refused';
  }
}

function inPlace(frame: Buffer, offset: number): { path: Buffer; name: Buffer; flags: number } | 'refused' {
  let view: ResourceArgsView;
  try {
    view = new ResourceArgsView().locate(frame, offset);
  } catch {
    return 'refused';
  }
  return { path: Buffer.from(view.pathBytes()), name: Buffer.from(view.nameBytes()), flags: view.flags };
}

// Resource args as a client would send them, then perhaps cut short, padded, or with a length word lied about.
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const nearLimit = fc.integer({ min: LOCK_STRING_MAX - 2, max: LOCK_STRING_MAX + 2 });
const encodedArgs = fc
  .record({ path: bytes, name: bytes, flags: u32, trailing: bytes, cut: fc.nat({ max: 60 }), lie: fc.option(fc.tuple(fc.boolean(), fc.oneof(u32, nearLimit))) })
  .map(({ path, name, flags, trailing, cut, lie }) => {
    let payload = Buffer.concat([encodeResourceArgs({ path, name, flags }), trailing]);
    if (cut > 0 && cut <= payload.length && cut % 3 === 0) payload = payload.subarray(0, payload.length - cut);
    if (lie !== null && payload.length >= 4) {
      const [onName, length] = lie;
      const at = onName ? 4 + path.length + ((4 - (path.length & 3)) & 3) : 0;
      if (at + 4 <= payload.length) payload.writeUInt32BE(length, at);
    }
    return payload;
  });
const anyPayload = fc.oneof(encodedArgs, bytes, fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)));

test('resource args read in place: taken and refused exactly as decodeResourceArgs, at any offset', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 36 }), anyPayload, (prefix, payload) => {
      const frame = Buffer.concat([Buffer.from(prefix), payload]);
      assert.deepEqual(inPlace(frame, prefix.length), reference(frame, prefix.length));
    }),
    { numRuns: RUNS },
  );
});

test('resource args read in place: an offset past the frame (CALL_WITH_FDS on a bare header) is refused as the reference refuses it', () => {
  const frame = Buffer.alloc(28);
  assert.equal(inPlace(frame, 32), 'refused');
  assert.equal(reference(frame, 32), 'refused');
});

test('resource args read in place: strings of exactly LOCK_STRING_MAX bytes are taken, one more refused', () => {
  for (const length of [LOCK_STRING_MAX, LOCK_STRING_MAX + 1]) {
    const payload = new XdrWriter().string(Buffer.alloc(length, 0x61)).string('x').u32(2).finish();
    assert.deepEqual(inPlace(payload, 0), reference(payload, 0), `length ${length}`);
    assert.equal(inPlace(payload, 0) === 'refused', length > LOCK_STRING_MAX);
  }
});

const header: fc.Arbitrary<MessageHeader> = fc.record({
  prog: u32,
  vers: u32,
  proc: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  type: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  serial: u32,
  status: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
});

test('a reply written from the call header is byte for byte encodeMessage(replyHeader(call), payload)', () => {
  fc.assert(
    fc.property(header, fc.constantFrom(MessageStatus.OK, MessageStatus.ERROR), fc.uint8Array({ maxLength: 64 }), (call, status, payload) => {
      assert.deepEqual(encodeReply(call, status, payload), encodeMessage(replyHeader(call, status), payload));
    }),
    { numRuns: RUNS },
  );
});

// Names with the troublesome bytes: NUL, stray continuation bytes, overlong forms, surrogates, U+FFFD itself.
const nameBytes = fc
  .array(
    fc.oneof(
      fc.constantFrom([0x00], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xef, 0xbf, 0xbd], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xc3, 0xa9], [0xf0, 0x9f, 0x94, 0x92]),
      fc.integer({ min: 0x20, max: 0x7e }).map((b) => [b]),
      fc.integer({ min: 0, max: 255 }).map((b) => [b]),
    ),
    { maxLength: 24 },
  )
  .map((parts) => Buffer.from(parts.flat()));

function outcomeOf(f: () => string): string {
  try {
    return `ok:${f()}`;
  } catch (err) {
    assert.ok(err instanceof VirError);
    return `refused:${err.code}:${err.message}`;
  }
}

test('a name checked in one pass is taken or refused (with the same message) exactly as exactName', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), nameBytes, fc.uint8Array({ maxLength: 8 }), (before, name, after) => {
      const frame = Buffer.concat([Buffer.from(before), name, Buffer.from(after)]);
      const start = before.length;
      assert.equal(
        outcomeOf(() => exactNameIn(frame, start, start + name.length, 'resource name')),
        outcomeOf(() => exactName(name, 'resource name')),
      );
    }),
    { numRuns: RUNS },
  );
});
