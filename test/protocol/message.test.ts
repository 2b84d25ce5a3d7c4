// RPC framing and errors: header/length word, limits, FrameReader on split input, and
// virNetMessageError bytes compared with replies captured from the real virtlockd 9.0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameError, FrameReader } from '../../src/client/frame-reader';
import {
  HEADER_END,
  MAX_FRAME_SIZE,
  MESSAGE_MAX,
  MIN_FRAME_SIZE,
  MessageStatus,
  MessageType,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  frameLengthProblem,
  readLength,
  replyHeader,
  type MessageHeader,
} from '../../src/shared/protocol/message';
import { LOCK_PROGRAM, LockProcedure } from '../../src/shared/protocol/lock-program';
import {
  VirError,
  VirErrorCode,
  VirErrorDomain,
  VirErrorLevel,
  errnoNumber,
  strerror,
} from '../../src/shared/protocol/vir-error';
import { XdrDecodeError, XdrReader } from '../../src/shared/protocol/xdr';

/** Joins annotated hex fields into bytes; whitespace is ignored. */
const bytes = (...fields: string[]): Buffer => Buffer.from(fields.join('').replace(/\s+/g, ''), 'hex');
/** Hex of ASCII text, to keep string fields readable in the vectors below. */
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

// REPLY to REGISTER (serial 1), status OK, empty payload. Captured from virtlockd 9.0.
const OK_REPLY = bytes(
  '0000001c', // length: 28 = length word + header, no payload
  '0ea7beef', // prog: VIR_LOCK_SPACE_PROTOCOL_PROGRAM
  '00000001', // vers: 1
  '00000001', // proc: 1 REGISTER
  '00000001', // type: 1 REPLY
  '00000001', // serial: 1
  '00000000', // status: 0 OK
);

// REPLY to ACQUIRE_RESOURCE (serial 3) with a full virNetMessageError. Captured from virtlockd 9.0.
const RESOURCE_BUSY_REPLY = bytes(
  '000000bc', // length: 188
  '0ea7beef', // prog
  '00000001', // vers
  '00000006', // proc: 6 ACQUIRE_RESOURCE
  '00000001', // type: REPLY
  '00000003', // serial: 3
  '00000001', // status: 1 ERROR
  // virNetMessageError
  '00000057', // code: 87 VIR_ERR_RESOURCE_BUSY
  '00000033', // domain: 51 VIR_FROM_LOCKSPACE
  '00000001', // message: present
  '00000030', //   length 48
  ascii("resource busy: Lockspace resource 'r1' is locked"), // (48 bytes, no padding)
  '00000002', // level: 2 VIR_ERR_ERROR
  '00000000', // dom: absent
  '00000001', // str1: present
  '00000011', //   length 17
  ascii('resource busy: %s'), '000000', // + 3 bytes padding
  '00000001', // str2: present
  '00000021', //   length 33
  ascii("Lockspace resource 'r1' is locked"), '000000', // + 3 bytes padding
  '00000000', // str3: absent
  'ffffffff', // int1: -1
  'ffffffff', // int2: -1
  '00000000', // net: absent
);

/** More replies captured from virtlockd 9.0, each with the VirError holdfast must produce. */
const CAPTURED: Array<{ what: string; frame: string; error: () => VirError }> = [
  {
    what: 'unsupported flags (ACQUIRE with flags 7)',
    error: () => VirError.unsupportedFlags(4, 'virLockSpaceProtocolDispatchAcquireResource'),
    frame: '000000d80ea7beef00000001000000060000000100000004000000010000000800000007000000010000004f756e737570706f7274656420666c61677320283078342920696e2066756e6374696f6e207669724c6f636b537061636550726f746f636f6c4469737061746368416371756972655265736f75726365000000000200000000000000010000002b7669724c6f636b537061636550726f746f636f6c4469737061746368416371756972655265736f75726365000000000100000005666c61677300000000000000000000000000000000000000',
  },
  {
    what: 'system error, LOCKSPACE domain (open ENOENT)',
    error: () => VirError.systemError(VirErrorDomain.LOCKSPACE, 'ENOENT', 'Unable to open resource /nonexistent/x'),
    frame: '000000e00ea7beef000000010000000600000001000000050000000100000026000000330000000100000041556e61626c6520746f206f70656e207265736f75726365202f6e6f6e6578697374656e742f783a204e6f20737563682066696c65206f72206469726563746f727900000000000002000000000000000100000002257300000000000100000041556e61626c6520746f206f70656e207265736f75726365202f6e6f6e6578697374656e742f783a204e6f20737563682066696c65206f72206469726563746f72790000000000000000000002ffffffff00000000',
  },
  {
    what: 'system error, NONE domain (virFileTouch)',
    error: () => VirError.systemError(VirErrorDomain.NONE, 2, "cannot create file '/nonexistent/x'"),
    frame: '000000d80ea7beef00000001000000040000000100000006000000010000002600000000000000010000003e63616e6e6f74206372656174652066696c6520272f6e6f6e6578697374656e742f78273a204e6f20737563682066696c65206f72206469726563746f727900000000000200000000000000010000000225730000000000010000003e63616e6e6f74206372656174652066696c6520272f6e6f6e6578697374656e742f78273a204e6f20737563682066696c65206f72206469726563746f727900000000000000000002ffffffff00000000',
  },
  {
    what: 'internal error',
    error: () => VirError.internalError('Lockspace for path /nx does not exist'),
    frame: '000000c80ea7beef000000010000000600000001000000070000000100000001000000070000000100000035696e7465726e616c206572726f723a204c6f636b737061636520666f722070617468202f6e7820646f6573206e6f7420657869737400000000000002000000000000000100000012696e7465726e616c206572726f723a202573000000000001000000254c6f636b737061636520666f722070617468202f6e7820646f6573206e6f7420657869737400000000000000ffffffffffffffff00000000',
  },
  {
    what: 'unknown procedure',
    error: () => VirError.rpcError('unknown procedure: 99'),
    frame: '000000880ea7beef000000010000006300000001000000080000000100000027000000070000000100000015756e6b6e6f776e2070726f6365647572653a20393900000000000002000000000000000100000002257300000000000100000015756e6b6e6f776e2070726f6365647572653a20393900000000000000ffffffffffffffff00000000',
  },
  {
    what: 'unknown program (reply carries the caller\'s prog 1234)',
    error: () => VirError.rpcError('Cannot find program 1234 version 1'),
    frame: '000000a0000004d200000001000000010000000100000009000000010000002700000007000000010000002243616e6e6f742066696e642070726f6772616d20313233342076657273696f6e203100000000000200000000000000010000000225730000000000010000002243616e6e6f742066696e642070726f6772616d20313233342076657273696f6e2031000000000000ffffffffffffffff00000000',
  },
  {
    what: 'undecodable payload',
    error: () => VirError.rpcError('Unable to decode message payload'),
    frame: '000000980ea7beef0000000100000001000000010000000a0000000100000027000000070000000100000020556e61626c6520746f206465636f6465206d657373616765207061796c6f616400000002000000000000000100000002257300000000000100000020556e61626c6520746f206465636f6465206d657373616765207061796c6f616400000000ffffffffffffffff00000000',
  },
  {
    what: 'operation denied (restricted)',
    error: () => VirError.operationDenied('lock manager connection has been restricted'),
    frame: '000000d80ea7beef0000000100000008000000010000000d000000010000001d0000000700000001000000406f7065726174696f6e20666f7262696464656e3a206c6f636b206d616e6167657220636f6e6e656374696f6e20686173206265656e2072657374726963746564000000020000000000000001000000176f7065726174696f6e20666f7262696464656e3a20257300000000010000002b6c6f636b206d616e6167657220636f6e6e656374696f6e20686173206265656e20726573747269637465640000000000ffffffffffffffff00000000',
  },
  {
    what: 'operation invalid (not registered)',
    error: () => VirError.operationInvalid('lock owner details have not been registered'),
    frame: '000000f40ea7beef00000001000000020000000100000000000000010000003700000007000000010000004d526571756573746564206f7065726174696f6e206973206e6f742076616c69643a206c6f636b206f776e65722064657461696c732068617665206e6f74206265656e207265676973746572656400000000000002000000000000000100000024526571756573746564206f7065726174696f6e206973206e6f742076616c69643a202573000000010000002b6c6f636b206f776e65722064657461696c732068617665206e6f74206265656e20726567697374657265640000000000ffffffffffffffff00000000',
  },
];

test('OK reply: golden bytes both ways', () => {
  const header: MessageHeader = {
    prog: LOCK_PROGRAM, vers: 1, proc: LockProcedure.REGISTER,
    type: MessageType.REPLY, serial: 1, status: MessageStatus.OK,
  };
  assert.deepEqual(encodeMessage(header), OK_REPLY);
  assert.deepEqual(decodeHeader(OK_REPLY), header);
  assert.equal(readLength(OK_REPLY), 28);
  assert.equal(decodeMessage(OK_REPLY).payload.length, 0);
});

test('error reply: golden virNetMessageError decodes to every field and re-encodes identically', () => {
  const { header, payload } = decodeMessage(RESOURCE_BUSY_REPLY);
  assert.deepEqual(header, {
    prog: LOCK_PROGRAM, vers: 1, proc: LockProcedure.ACQUIRE_RESOURCE,
    type: MessageType.REPLY, serial: 3, status: MessageStatus.ERROR,
  });
  const err = VirError.decode(payload);
  assert.deepEqual(err.toJSON(), {
    code: VirErrorCode.RESOURCE_BUSY,
    domain: VirErrorDomain.LOCKSPACE,
    message: "resource busy: Lockspace resource 'r1' is locked",
    level: VirErrorLevel.ERROR,
    str1: 'resource busy: %s',
    str2: "Lockspace resource 'r1' is locked",
    str3: null,
    int1: -1,
    int2: -1,
  });
  const built = VirError.resourceBusy("Lockspace resource 'r1' is locked");
  assert.deepEqual(encodeMessage(header, built.encode()), RESOURCE_BUSY_REPLY);
  assert.ok(built instanceof Error);
  assert.equal(built.message, "resource busy: Lockspace resource 'r1' is locked");
});

for (const { what, frame, error } of CAPTURED) {
  test(`VirError constructor matches virtlockd byte for byte: ${what}`, () => {
    const captured = Buffer.from(frame, 'hex');
    const { header, payload } = decodeMessage(captured);
    assert.equal(header.status, MessageStatus.ERROR);
    assert.deepEqual(error().encode(), payload);
    assert.deepEqual(VirError.decode(payload).toJSON(), error().toJSON());
    assert.deepEqual(encodeMessage(header, error().encode()), captured);
  });
}

test('constructors follow libvirt field conventions', () => {
  const flags = VirError.unsupportedFlags(0xfffffffc, 'virLockSpaceProtocolDispatchRestrict');
  assert.equal(flags.message, 'unsupported flags (0xfffffffc) in function virLockSpaceProtocolDispatchRestrict');
  assert.deepEqual([flags.code, flags.domain, flags.str1, flags.str2, flags.int1, flags.int2],
    [VirErrorCode.INVALID_ARG, VirErrorDomain.RPC, 'virLockSpaceProtocolDispatchRestrict', 'flags', 0, 0]);

  const sys = VirError.systemError(VirErrorDomain.LOCKSPACE, -21, 'Unable to delete lockspace resource /l/x');
  assert.equal(sys.message, 'Unable to delete lockspace resource /l/x: Is a directory');
  assert.deepEqual([sys.code, sys.str1, sys.str2, sys.int1, sys.int2],
    [VirErrorCode.SYSTEM_ERROR, '%s', sys.message, 21, -1]);

  const inv = VirError.invalidArg('bad');
  assert.deepEqual([inv.code, inv.message, inv.str1, inv.str2], [VirErrorCode.INVALID_ARG, 'invalid argument: bad', 'invalid argument: %s', 'bad']);
  // A detail containing replacement patterns is inserted literally.
  assert.equal(VirError.internalError("path $& $' $1").message, "internal error: path $& $' $1");
  assert.throws(() => VirError.report(VirErrorCode.OK, 0, 'x'), RangeError);
});

test('strerror uses glibc texts and accepts names or (negative) numbers', () => {
  assert.equal(strerror('ENOENT'), 'No such file or directory');
  assert.equal(strerror(2), 'No such file or directory');
  assert.equal(strerror(-13), 'Permission denied');
  assert.equal(strerror('EAGAIN'), 'Resource temporarily unavailable');
  assert.equal(strerror('EWOULDBLOCK'), 'Resource temporarily unavailable');
  assert.equal(strerror('ELOOP'), 'Too many levels of symbolic links');
  assert.equal(strerror('ENAMETOOLONG'), 'File name too long');
  assert.equal(strerror('EMFILE'), 'Too many open files');
  assert.equal(strerror(9999), 'Unknown error 9999');
  assert.equal(errnoNumber('EISDIR'), 21);
  assert.throws(() => errnoNumber('ENOTANERRNO'), TypeError);
});

test('VirError.decode skips dom and net when present and maps an absent message to ""', () => {
  const payload = bytes(
    '00000001', '00000007', // code, domain
    '00000000', //             message: absent
    '00000002', //             level
    '00000001', '00000002', ascii('vm'), '0000', ascii('0123456789abcdef'), '00000005', // dom {name, uuid, id}
    '00000000', '00000000', '00000000', // str1..3 absent
    '00000003', '00000004', // int1, int2
    '00000001', '00000001', ascii('n'), '000000', ascii('0123456789abcdef'), // net {name, uuid}
    'deadbeef', // trailing bytes are ignored, as libvirt does
  );
  const err = VirError.decode(payload);
  assert.deepEqual(err.toJSON(), {
    code: 1, domain: 7, message: '', level: 2, str1: null, str2: null, str3: null, int1: 3, int2: 4,
  });
  const r = new XdrReader(payload);
  VirError.decode(r);
  assert.equal(r.remaining, 4);
  assert.throws(() => VirError.decode(payload.subarray(0, 20)), XdrDecodeError);
});

test('limits are libvirt 9.0\'s: 28 <= length <= 4 + 32 MiB', () => {
  assert.equal(MIN_FRAME_SIZE, 28);
  assert.equal(HEADER_END, 28);
  assert.equal(MESSAGE_MAX, 33554432);
  assert.equal(MAX_FRAME_SIZE, 33554436);
  for (const bad of [0, 3, 4, 5, 27, MAX_FRAME_SIZE + 1, 0xffffffff]) {
    assert.notEqual(frameLengthProblem(bad), null, `length ${bad}`);
  }
  for (const good of [28, 29, 65536, MAX_FRAME_SIZE]) assert.equal(frameLengthProblem(good), null, `length ${good}`);
});

test('encodeMessage refuses frames over the maximum and bad header values; decodeHeader needs 28 bytes', () => {
  const header: MessageHeader = { prog: 1, vers: 1, proc: 1, type: MessageType.CALL, serial: 0, status: MessageStatus.OK };
  assert.throws(() => encodeMessage(header, Buffer.alloc(MAX_FRAME_SIZE - 27)), RangeError);
  assert.equal(encodeMessage(header, Buffer.alloc(8)).length, 36);
  assert.throws(() => encodeMessage({ ...header, serial: -1 }), RangeError);
  assert.throws(() => decodeHeader(OK_REPLY.subarray(0, 27)), XdrDecodeError);
  // Like libvirt, any type/status/proc is decoded without complaint.
  const odd = encodeMessage({ prog: 0xffffffff, vers: 7, proc: -5, type: 42 as MessageType, serial: 0xffffffff, status: 9 as MessageStatus });
  assert.deepEqual(decodeHeader(odd), { prog: 0xffffffff, vers: 7, proc: -5, type: 42, serial: 0xffffffff, status: 9 });
});

test('replyHeader echoes the call', () => {
  const call = decodeHeader(Buffer.from(CAPTURED[5]!.frame, 'hex'));
  assert.deepEqual(replyHeader({ ...call, type: MessageType.CALL, status: 0 }, MessageStatus.ERROR), call);
});

/** Three frames of different sizes back to back. */
function stream(): { all: Buffer; frames: Buffer[] } {
  const frames = [
    OK_REPLY,
    RESOURCE_BUSY_REPLY,
    encodeMessage({ prog: 1, vers: 2, proc: 3, type: 0, serial: 4, status: 0 }, Buffer.alloc(5, 0xab)),
  ];
  return { all: Buffer.concat(frames), frames };
}

function drain(reader: FrameReader): Buffer[] {
  const out: Buffer[] = [];
  for (let f = reader.next(); f !== null; f = reader.next()) out.push(f);
  return out;
}

test('FrameReader: input split at every byte boundary yields the same frames', () => {
  const { all, frames } = stream();
  for (let cut = 0; cut <= all.length; cut++) {
    const reader = new FrameReader();
    reader.push(all.subarray(0, cut));
    const got = drain(reader);
    reader.push(all.subarray(cut));
    got.push(...drain(reader));
    assert.deepEqual(got, frames, `split at ${cut}`);
    assert.equal(reader.buffered, 0);
  }
});

test('FrameReader: input split at every pair of boundaries yields the same frames', () => {
  const { all, frames } = stream();
  for (let a = 0; a <= all.length; a += 3) {
    for (let b = a; b <= all.length; b++) {
      const reader = new FrameReader();
      const got: Buffer[] = [];
      for (const part of [all.subarray(0, a), all.subarray(a, b), all.subarray(b)]) {
        reader.push(part);
        got.push(...drain(reader));
      }
      assert.deepEqual(got, frames, `split at ${a}, ${b}`);
    }
  }
});

test('FrameReader: one byte at a time', () => {
  const { all, frames } = stream();
  const reader = new FrameReader();
  const got: Buffer[] = [];
  for (let i = 0; i < all.length; i++) {
    reader.push(all.subarray(i, i + 1));
    got.push(...drain(reader));
  }
  assert.deepEqual(got, frames);
});

test('FrameReader: a frame inside one chunk is returned without copying', () => {
  const { all } = stream();
  const reader = new FrameReader();
  reader.push(all);
  const first = reader.next()!;
  assert.equal(first.buffer, all.buffer);
  assert.equal(first.byteOffset, all.byteOffset);
});

test('FrameReader: an out-of-bounds length is a sticky FrameError', () => {
  for (const length of [0, 4, 27, MAX_FRAME_SIZE + 1]) {
    const reader = new FrameReader();
    const word = Buffer.alloc(4);
    word.writeUInt32BE(length);
    reader.push(OK_REPLY); // a good frame first: still delivered
    reader.push(word.subarray(0, 2));
    assert.deepEqual(reader.next(), OK_REPLY);
    assert.equal(reader.next(), null, 'half a length word is not judged yet');
    reader.push(word.subarray(2));
    assert.throws(() => reader.next(), (err: unknown) => err instanceof FrameError && err.length === length);
    reader.push(OK_REPLY);
    assert.throws(() => reader.next(), FrameError, 'the stream stays unusable');
  }
});

test('FrameReader: a maximum-length frame is accepted and awaited', () => {
  const reader = new FrameReader();
  const word = Buffer.alloc(4);
  word.writeUInt32BE(MAX_FRAME_SIZE);
  reader.push(word);
  assert.equal(reader.next(), null);
  assert.equal(reader.buffered, 4);
});
