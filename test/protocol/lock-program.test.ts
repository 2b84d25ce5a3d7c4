// Lock program codecs: golden CALL frames, the procedure table, and decoding the way virtlockd
// does (NUL-cut strings, trailing bytes accepted, 65536-byte string limit).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcquireFlags,
  LOCK_PROCEDURES,
  LOCK_PROGRAM,
  LOCK_PROGRAM_VERSION,
  LOCK_STRING_MAX,
  LockProcedure,
  checkFlags,
  decodeCreateLockspaceArgs,
  decodeNewArgs,
  decodeRegisterArgs,
  decodeResourceArgs,
  decodeRestrictArgs,
  encodeRegisterArgs,
  encodeResourceArgs,
  lookupProcedure,
  type ProcedureEntry,
} from '../../src/shared/protocol/lock-program';
import { MessageStatus, MessageType, decodeMessage, encodeMessage } from '../../src/shared/protocol/message';
import { VirError, VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';
import { XdrDecodeError, XdrWriter } from '../../src/shared/protocol/xdr';

const bytes = (...fields: string[]): Buffer => Buffer.from(fields.join('').replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const UUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

// REGISTER call as libvirt's lock driver sends it (serial 0).
const REGISTER_CALL = bytes(
  '00000040', // length: 64
  '0ea7beef', // prog: VIR_LOCK_SPACE_PROTOCOL_PROGRAM
  '00000001', // vers: 1
  '00000001', // proc: 1 REGISTER
  '00000000', // type: 0 CALL
  '00000000', // serial: 0
  '00000000', // status: 0 OK
  // virLockSpaceProtocolRegisterArgs
  '00112233 44556677 8899aabb ccddeeff', // owner.uuid: 16 raw bytes, no length word
  '00000003', ascii('vm1'), '00', //         owner.name: length 3, "vm1", 1 byte padding
  '00000001', //                            owner.id: 1
  '000004d2', //                            owner.pid: 1234
  '00000000', //                            flags: 0
);

// ACQUIRE_RESOURCE call, shared + autocreate (serial 5).
const ACQUIRE_CALL = bytes(
  '00000034', // length: 52
  '0ea7beef', // prog
  '00000001', // vers
  '00000006', // proc: 6 ACQUIRE_RESOURCE
  '00000000', // type: CALL
  '00000005', // serial: 5
  '00000000', // status: OK
  // virLockSpaceProtocolAcquireResourceArgs
  '00000003', ascii('/ls'), '00', // path: "/ls" + 1 byte padding
  '00000008', ascii('disk.img'), //  name: "disk.img", no padding
  '00000003', //                     flags: SHARED | AUTOCREATE
);

const call = (proc: LockProcedure, serial: number) => ({
  prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc, type: MessageType.CALL, serial, status: MessageStatus.OK,
});

test('REGISTER call: golden bytes both ways', () => {
  const payload = encodeRegisterArgs({ owner: { uuid: UUID, name: 'vm1', id: 1, pid: 1234 }, flags: 0 });
  assert.deepEqual(encodeMessage(call(LockProcedure.REGISTER, 0), payload), REGISTER_CALL);
  const { header, payload: got } = decodeMessage(REGISTER_CALL);
  assert.deepEqual(header, call(LockProcedure.REGISTER, 0));
  const args = decodeRegisterArgs(got);
  assert.deepEqual(args.owner.uuid, UUID);
  assert.deepEqual({ ...args.owner, uuid: undefined, nameBytes: undefined }, { uuid: undefined, name: 'vm1', nameBytes: undefined, id: 1, pid: 1234 });
  assert.deepEqual(args.owner.nameBytes, Buffer.from('vm1'));
  assert.equal(args.flags, 0);
  const frame = Buffer.from(REGISTER_CALL);
  const copied = decodeRegisterArgs(decodeMessage(frame).payload);
  frame.fill(0);
  assert.deepEqual(copied.owner.uuid, UUID, 'the uuid is copied out of the frame');
  assert.deepEqual(copied.owner.nameBytes, Buffer.from('vm1'), 'so are the name bytes');
});

test('ACQUIRE_RESOURCE call: golden bytes both ways', () => {
  const payload = encodeResourceArgs({ path: '/ls', name: 'disk.img', flags: AcquireFlags.SHARED | AcquireFlags.AUTOCREATE });
  assert.deepEqual(encodeMessage(call(LockProcedure.ACQUIRE_RESOURCE, 5), payload), ACQUIRE_CALL);
  const args = decodeResourceArgs(decodeMessage(ACQUIRE_CALL).payload);
  assert.deepEqual(args, {
    path: '/ls', pathBytes: Buffer.from('/ls'), name: 'disk.img', nameBytes: Buffer.from('disk.img'), flags: 3,
  });
});

test('every procedure round-trips through its table entry', () => {
  const samples: { [P in LockProcedure]: Parameters<(typeof LOCK_PROCEDURES)[P]['encode']>[0] } = {
    [LockProcedure.REGISTER]: { owner: { uuid: UUID, name: 'guest', id: 7, pid: 0xffffffff }, flags: 0 },
    [LockProcedure.RESTRICT]: { flags: 0 },
    [LockProcedure.NEW]: { path: '/var/lib/libvirt/lockd/files', flags: 0 },
    [LockProcedure.CREATE_RESOURCE]: { path: '/l', name: 'a', flags: 0 },
    [LockProcedure.DELETE_RESOURCE]: { path: '/l', name: 'ab', flags: 0 },
    [LockProcedure.ACQUIRE_RESOURCE]: { path: '', name: '/images/vm.qcow2', flags: 2 },
    [LockProcedure.RELEASE_RESOURCE]: { path: '/l', name: 'abcd', flags: 0 },
    [LockProcedure.CREATE_LOCKSPACE]: { path: '' },
  };
  for (const proc of Object.values(LockProcedure).filter((v): v is LockProcedure => typeof v === 'number')) {
    const entry = LOCK_PROCEDURES[proc] as ProcedureEntry;
    const input = samples[proc];
    const decoded = entry.decode((entry.encode as (a: unknown) => Buffer)(input)) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(input)) {
      if (key === 'owner') {
        const owner = decoded.owner as Record<string, unknown>;
        for (const [k, v] of Object.entries(value as object)) assert.deepEqual(owner[k], v, `${entry.name}.owner.${k}`);
      } else {
        assert.deepEqual(decoded[key], value, `${entry.name}.${key}`);
      }
    }
  }
});

test('the table names each procedure as libvirt does and knows its allowed flags', () => {
  const rows = Object.values(LOCK_PROCEDURES).map((e: ProcedureEntry) => [e.proc, e.name, e.functionName, e.allowedFlags]);
  assert.deepEqual(rows, [
    [1, 'Register', 'virLockSpaceProtocolDispatchRegister', 0],
    [2, 'Restrict', 'virLockSpaceProtocolDispatchRestrict', 0],
    [3, 'New', 'virLockSpaceProtocolDispatchNew', 0],
    [4, 'CreateResource', 'virLockSpaceProtocolDispatchCreateResource', 0],
    [5, 'DeleteResource', 'virLockSpaceProtocolDispatchDeleteResource', 0],
    [6, 'AcquireResource', 'virLockSpaceProtocolDispatchAcquireResource', 3],
    [7, 'ReleaseResource', 'virLockSpaceProtocolDispatchReleaseResource', 0],
    [8, 'CreateLockSpace', 'virLockSpaceProtocolDispatchCreateLockSpace', null],
  ]);
  assert.equal(lookupProcedure(6), LOCK_PROCEDURES[LockProcedure.ACQUIRE_RESOURCE]);
  for (const unknown of [0, 9, -1, 99, 1.5, NaN]) assert.equal(lookupProcedure(unknown), undefined, `proc ${unknown}`);
  assert.equal(LOCK_PROGRAM, 0x0ea7beef);
  assert.equal(LOCK_STRING_MAX, 65536);
});

test('checkFlags reports only the unsupported bits, as virCheckFlags does', () => {
  const acquire = LOCK_PROCEDURES[LockProcedure.ACQUIRE_RESOURCE];
  checkFlags(acquire, 3);
  assert.throws(() => checkFlags(acquire, 7), (err: unknown) =>
    err instanceof VirError && err.code === VirErrorCode.INVALID_ARG && err.domain === VirErrorDomain.RPC &&
    err.message === 'unsupported flags (0x4) in function virLockSpaceProtocolDispatchAcquireResource');
  assert.throws(() => checkFlags(acquire, 0xffffffff), /unsupported flags \(0xfffffffc\)/);
  assert.throws(() => checkFlags(LOCK_PROCEDURES[LockProcedure.RELEASE_RESOURCE], 3),
    /^VirError: unsupported flags \(0x3\) in function virLockSpaceProtocolDispatchReleaseResource$/m);
  checkFlags(LOCK_PROCEDURES[LockProcedure.CREATE_LOCKSPACE], 0xffffffff); // no flags field: nothing to check
});

test('strings keep embedded NULs in their bytes (the daemon refuses them; virtlockd would cut there)', () => {
  const payload = new XdrWriter().string(Buffer.from('/nx\0abc')).string(Buffer.from('\0hidden')).u32(0).finish();
  const args = decodeResourceArgs(payload);
  assert.deepEqual(args.pathBytes, Buffer.from('/nx\0abc'));
  assert.deepEqual(args.nameBytes, Buffer.from('\0hidden'));
  assert.deepEqual(decodeCreateLockspaceArgs(new XdrWriter().string(Buffer.from('/a\0b')).finish()).pathBytes, Buffer.from('/a\0b'));
});

test('non-UTF-8 names keep their exact bytes', () => {
  const raw = Buffer.from([0x2f, 0x6e, 0xff, 0xfe]);
  const args = decodeNewArgs(new XdrWriter().string(raw).u32(0).finish());
  assert.deepEqual(args.pathBytes, raw);
  assert.equal(args.path, '/n\ufffd\ufffd');
});

test('trailing bytes after the args are accepted (virNetMessageDecodePayload does not check)', () => {
  const payload = Buffer.concat([decodeMessage(ACQUIRE_CALL).payload, Buffer.from('deadbeefdeadbeef', 'hex')]);
  assert.equal(decodeResourceArgs(payload).name, 'disk.img');
  assert.equal(decodeRestrictArgs(Buffer.from('0000000000000001', 'hex')).flags, 0);
});

test('strings up to 65536 bytes decode; 65537 is undecodable', () => {
  const ok = encodeResourceArgs({ path: '/' + 'a'.repeat(LOCK_STRING_MAX - 1), name: 'n', flags: 0 });
  assert.equal(decodeResourceArgs(ok).path.length, LOCK_STRING_MAX);
  const long = encodeResourceArgs({ path: '/' + 'a'.repeat(LOCK_STRING_MAX), name: 'n', flags: 0 });
  assert.throws(() => decodeResourceArgs(long), XdrDecodeError);
  const longName = encodeRegisterArgs({ owner: { uuid: UUID, name: 'n'.repeat(LOCK_STRING_MAX + 1), id: 1, pid: 1 }, flags: 0 });
  assert.throws(() => decodeRegisterArgs(longName), XdrDecodeError);
});

test('every truncated payload is undecodable', () => {
  for (const [frame, decode] of [
    [REGISTER_CALL, decodeRegisterArgs],
    [ACQUIRE_CALL, decodeResourceArgs],
  ] as const) {
    const payload = decodeMessage(frame).payload;
    for (let cut = 0; cut < payload.length; cut++) {
      assert.throws(() => decode(payload.subarray(0, cut)), XdrDecodeError, `cut at ${cut}`);
    }
  }
  assert.throws(() => decodeRestrictArgs(Buffer.alloc(0)), XdrDecodeError);
  assert.throws(() => decodeNewArgs(Buffer.from('00000000', 'hex')), XdrDecodeError);
  assert.throws(() => decodeCreateLockspaceArgs(Buffer.alloc(3)), XdrDecodeError);
});

test('encoders check the uuid size and accept raw Buffers for strings', () => {
  assert.throws(() => encodeRegisterArgs({ owner: { uuid: Buffer.alloc(15), name: 'x', id: 1, pid: 1 }, flags: 0 }), RangeError);
  const payload = encodeResourceArgs({ path: Buffer.from([0xff]), name: 'n', flags: 0 });
  assert.deepEqual(payload, bytes('00000001 ff000000', '00000001', ascii('n'), '000000', '00000000'));
});
