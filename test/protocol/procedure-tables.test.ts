// Each program's procedure table is the one source of its procedures' names, flag rules and codecs, and
// checkFlags the one place a flag refusal is made: every procedure of every program has a row, the rows
// refuse flags with the function names and domains libvirt (or holdfast) reports, and the admin service
// has a handler for every row.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_PROCEDURES, AdminProcedure } from '../../src/shared/protocol/admin-program';
import { checkFlags } from '../../src/shared/protocol/flag-check';
import { LOCK_PROCEDURES, LOCK_PROGRAM, LockProcedure } from '../../src/shared/protocol/lock-program';
import { LOCK_PROGRAM_NUMBER } from '../../src/shared/platform/version';
import { HoldfastProcedure, OPERATIONS_PROCEDURES } from '../../src/shared/protocol/operations-program';
import { VirError, VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';
import { ADMIN_HANDLERS } from '../../src/worker/admin/admin-handlers';

const numbers = (e: object): number[] => Object.values(e).filter((v): v is number => typeof v === 'number');

function refusal(run: () => void): VirError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof VirError);
    return err;
  }
  assert.fail('expected a flag refusal');
}

test('every procedure of every program has exactly one row, keyed by its number', () => {
  for (const [table, procs] of [
    [LOCK_PROCEDURES, numbers(LockProcedure)],
    [ADMIN_PROCEDURES, numbers(AdminProcedure)],
    [OPERATIONS_PROCEDURES, numbers(HoldfastProcedure)],
  ] as const) {
    assert.deepEqual(Object.keys(table).map(Number).sort((a, b) => a - b), [...procs].sort((a, b) => a - b));
    for (const proc of procs) assert.equal((table as Record<number, { proc: number }>)[proc]!.proc, proc);
  }
});

test('the admin service has a handler for every row of the admin table', () => {
  assert.deepEqual(Object.keys(ADMIN_HANDLERS).map(Number).sort((a, b) => a - b), numbers(AdminProcedure).sort((a, b) => a - b));
});

test('a lock procedure refuses only the bits it does not accept, in the RPC domain', () => {
  const err = refusal(() => checkFlags(LOCK_PROCEDURES[LockProcedure.ACQUIRE_RESOURCE], 0x7));
  assert.equal(err.code, VirErrorCode.INVALID_ARG);
  assert.equal(err.domain, VirErrorDomain.RPC);
  assert.equal(err.message, 'unsupported flags (0x4) in function virLockSpaceProtocolDispatchAcquireResource');
  checkFlags(LOCK_PROCEDURES[LockProcedure.ACQUIRE_RESOURCE], 0x3);
});

test('an admin procedure refuses any flag in the ADMIN domain, naming libvirt\'s function', () => {
  const err = refusal(() => checkFlags(ADMIN_PROCEDURES[AdminProcedure.SERVER_LIST_CLIENTS], 0x10));
  assert.equal(err.domain, VirErrorDomain.ADMIN);
  assert.equal(err.message, 'unsupported flags (0x10) in function adminServerListClients');
  assert.match(refusal(() => checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_OPEN], 1)).message, /in function adminDispatchConnectOpen$/);
  // LOOKUP_SERVER checks its flags against themselves: anything passes, as in libvirt 9.0.
  checkFlags(ADMIN_PROCEDURES[AdminProcedure.CONNECT_LOOKUP_SERVER], 0xffffffff);
});

test('an operations procedure refuses any flag, naming holdfast<Name>', () => {
  const err = refusal(() => checkFlags(OPERATIONS_PROCEDURES[HoldfastProcedure.SWAP_WORKER], 2));
  assert.equal(err.domain, VirErrorDomain.ADMIN);
  assert.equal(err.message, 'unsupported flags (0x2) in function holdfastSwapWorker');
});

test('an operations row encodes args and replies that its own decoders read back', () => {
  const locks = OPERATIONS_PROCEDURES[HoldfastProcedure.LOCKS];
  const args = { path: '/var/lib/a', owner: null, after: 'x', flags: 0 };
  assert.deepEqual(locks.decode(locks.encode(args)), args);
  const reply = { locks: [], next: null };
  assert.deepEqual(locks.decodeReply(locks.encodeReply(reply)), reply);
  const metrics = OPERATIONS_PROCEDURES[HoldfastProcedure.METRICS];
  assert.equal(metrics.decodeReply(metrics.encodeReply('# EOF\n')), '# EOF\n');
});

test('the program number holdfastd -V names is the one the lock program serves', () => {
  assert.equal(LOCK_PROGRAM_NUMBER, LOCK_PROGRAM);
});
