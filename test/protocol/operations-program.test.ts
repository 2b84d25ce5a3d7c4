// holdfast's admin program codec: argument encoders and decoders round-trip with the XDR laid out as
// documented, and reply decoders accept what the worker sends but refuse non-JSON or a wrong shape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HOLDFAST_PROGRAM,
  HoldfastReplyError,
  decodeActionRet,
  decodeClientsArgs,
  decodeLocksArgs,
  decodeLocksRet,
  decodeSetLogLevelArgs,
  decodeStatusRet,
  decodeTextRet,
  decodeWhoArgs,
  decodeWhoRet,
  encodeClientsArgs,
  encodeJsonRet,
  encodeLocksArgs,
  encodeSetLogLevelArgs,
  encodeTextRet,
  encodeWhoArgs,
  type LockInfo,
  type StatusReply,
} from '../../src/shared/protocol/operations-program';
import { XdrDecodeError, XdrWriter } from '../../src/shared/protocol/xdr';

test('the program number spells HOLD', () => {
  assert.equal(Buffer.from([0x48, 0x4f, 0x4c, 0x44]).readUInt32BE(0), HOLDFAST_PROGRAM);
  assert.equal(Buffer.from('HOLD').readUInt32BE(0), HOLDFAST_PROGRAM);
});

test('LOCKS args: three optional strings then flags', () => {
  const none = encodeLocksArgs({ path: null, owner: null, after: null, flags: 0 });
  assert.deepEqual([...none], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const some = { path: '/var/lib/x.img', owner: 'vm1', after: null, flags: 0 };
  const bytes = encodeLocksArgs(some);
  // present(1) len(14) "/var/lib/x.img" + 2 pad, present(1) len(3) "vm1" + 1 pad, absent, flags
  assert.equal(bytes.length, 4 + 4 + 16 + 4 + 4 + 4 + 4 + 4);
  assert.deepEqual(decodeLocksArgs(bytes), some);
});

test('CLIENTS, WHO and SET_LOG_LEVEL args round-trip', () => {
  assert.deepEqual(decodeClientsArgs(encodeClientsArgs({ after: '0:0000000000000003', flags: 0 })), { after: '0:0000000000000003', flags: 0 });
  assert.deepEqual(decodeWhoArgs(encodeWhoArgs({ path: '/disk', flags: 0 })), { path: '/disk', flags: 0 });
  assert.deepEqual(decodeSetLogLevelArgs(encodeSetLogLevelArgs({ level: 'debug', flags: 0 })), { level: 'debug', flags: 0 });
});

test('text replies are one XDR string', () => {
  const text = '# TYPE x counter\nx_total 1\n# EOF\n';
  const bytes = encodeTextRet(text);
  assert.equal(bytes.readUInt32BE(0), Buffer.byteLength(text));
  assert.equal(decodeTextRet(bytes), text);
});

test('reply decoders check the shape', () => {
  const status: StatusReply = {
    supervisor: null,
    worker: { version: '0.1.0', pid: 10, generation: 1, startedAt: 1 },
    daemonStartedAt: null,
    uptimeSeconds: null,
    clients: { lock: 0, admin: 1 },
    locksHeld: 0,
    lockspaces: 0,
    logLevel: 3,
  };
  assert.deepEqual(decodeStatusRet(encodeJsonRet(status)), status);
  assert.throws(() => decodeStatusRet(encodeJsonRet({ ...status, logLevel: 7 })), HoldfastReplyError);
  assert.throws(() => decodeStatusRet(encodeTextRet('{not json')), /STATUS reply is not JSON/);

  const lock: LockInfo = {
    lockspace: '',
    resource: '/d',
    path: '/d',
    mode: 'shared',
    autocreate: false,
    owners: [{ pid: 5, name: 'vm', uuid: '00000000-0000-0000-0000-000000000001', clients: [2], detached: false }],
    acquiredAt: 1,
  };
  assert.deepEqual(decodeLocksRet(encodeJsonRet({ locks: [lock], next: null })).locks, [lock]);
  assert.throws(() => decodeLocksRet(encodeJsonRet({ locks: [{ ...lock, mode: 'both' }], next: null })), /unexpected shape/);
  assert.deepEqual(decodeWhoRet(encodeJsonRet({ path: '/d', held: true, holders: [lock] })).holders, [lock]);
  assert.throws(() => decodeActionRet(encodeJsonRet({ accepted: true })), HoldfastReplyError);
});

test('a path or name that is not UTF-8 is undecodable (a lossy decoding could match a look-alike)', () => {
  const raw = (s: Buffer): Buffer => new XdrWriter().string(s).u32(0).finish();
  assert.throws(() => decodeWhoArgs(raw(Buffer.from([0x2f, 0x64, 0xff]))), XdrDecodeError);
  assert.equal(decodeWhoArgs(raw(Buffer.from('/d-é'))).path, '/d-é');
  // The paging cursor joins lockspace and name with a NUL: it must come through.
  const cursor = new XdrWriter().u32(0).u32(0).optional('/ls\u0000name', (w, v) => w.string(v)).u32(0).finish();
  assert.equal(decodeLocksArgs(cursor).after, '/ls\u0000name');
});
