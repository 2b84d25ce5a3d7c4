// PROTOCOL.md §5, "the lock is really on disk": what another process and /proc/locks see of a held resource.
// Deliberate difference: virtlockd takes POSIX locks (F_SETLK, holder = daemon pid), holdfast takes OFD
// locks (F_OFD_SETLK, holder pid -1). Both lock byte 0, length 1, so they exclude each other.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext } from 'node:test';
import { ConformanceContext, expectError } from './context';
import * as E from './expected-errors';
import { LOCK_LEN, LOCK_START, probeLock, type ApiView } from '../fixtures/lock-prober';
import { fileId, locksOn, type ProcLock } from '../fixtures/proc-locks';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';

const { SHARED, AUTOCREATE } = AcquireFlags;

/** The holder pid another process is told, and the /proc/locks kind, per flavor. */
function expectedHolder(ctx: ConformanceContext): { pid: number; kind: string; note: string } {
  return ctx.flavor === 'virtlockd'
    ? { pid: ctx.target.pid, kind: 'POSIX', note: 'POSIX lock owned by the daemon process (virtlockd behaviour)' }
    : { pid: -1, kind: 'OFDLCK', note: 'deliberate difference: OFD lock, the kernel reports holder pid -1 (virtlockd: POSIX, daemon pid)' };
}

function describeLocks(locks: ProcLock[]): string {
  return locks.map((l) => `${l.kind} ${l.type} pid=${l.pid} ${l.start}-${l.end ?? 'EOF'}`).join('; ') || 'none';
}

/** Asserts what one API (OFD or POSIX) sees from another process while `type` is held on byte 0. */
function assertHeld(view: ApiView, type: 'read' | 'write', holderPid: number, api: string): void {
  const holder = { type, start: LOCK_START, len: LOCK_LEN, pid: holderPid };
  assert.deepEqual(view.getWrite, holder, `${api} GETLK(write) names the holder`);
  if (type === 'write') {
    assert.deepEqual(view.getRead, holder, `${api} GETLK(read) names the exclusive holder`);
    assert.equal(view.canRead, false, `${api} read lock must be refused`);
  } else {
    assert.equal(view.getRead, null, `${api} GETLK(read): nothing blocks a reader`);
    assert.equal(view.canRead, true, `${api} read lock must be granted next to a shared holder`);
  }
  assert.equal(view.canWrite, false, `${api} write lock must be refused`);
}

function assertFree(view: ApiView, api: string): void {
  assert.deepEqual(view, { getWrite: null, getRead: null, canWrite: true, canRead: true }, `${api} sees no lock`);
}

async function checkHeld(t: TestContext, ctx: ConformanceContext, path: string, type: 'read' | 'write'): Promise<void> {
  const expected = expectedHolder(ctx);
  ctx.note(t, expected.note);
  const report = await probeLock(path);
  t.diagnostic(`prober: ${JSON.stringify(report)}`);
  assertHeld(report.ofd, type, expected.pid, 'OFD');
  assertHeld(report.posix, type, expected.pid, 'POSIX');
  const locks = locksOn(fileId(path));
  t.diagnostic(`/proc/locks: ${describeLocks(locks)}`);
  assert.deepEqual(
    locks.map((l) => ({ kind: l.kind, type: l.type, pid: l.pid, start: l.start, end: l.end })),
    [{ kind: expected.kind, type: type === 'write' ? 'WRITE' : 'READ', pid: expected.pid, start: 0n, end: 0n }],
    'exactly one lock on the file, on byte 0 only',
  );
}

export function defineOnDiskChecks(ctx: ConformanceContext): void {
  describe('§5 the lock is really on disk', () => {
    ctx.check('§5 exclusive ACQUIRE: F_WRLCK on byte 0 length 1, seen by another process (OFD and POSIX GETLK / try-lock) and in /proc/locks', async (t) => {
      const lockspace = await ctx.lockspace('disk-exclusive');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res', AUTOCREATE);
      await checkHeld(t, ctx, join(lockspace, 'res'), 'write');
      await client.release(lockspace, 'res');
    });

    ctx.check('§5 shared ACQUIRE: F_RDLCK on byte 0, one /proc/locks entry however many shared owners', async (t) => {
      const lockspace = await ctx.lockspace('disk-shared');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await a.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await b.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await a.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await checkHeld(t, ctx, join(lockspace, 'res'), 'read');
      for (const c of [a, b, a]) await c.release(lockspace, 'res');
    });

    ctx.check('§5 default lockspace: the named file itself is locked', async (t) => {
      const dir = ctx.freshDir('disk-default');
      const path = join(dir, 'disk.img');
      const client = await ctx.registered();
      await client.acquire('', path, AUTOCREATE);
      await checkHeld(t, ctx, path, 'write');
      await client.release('', path);
    });

    ctx.check('§5 RELEASE unlocks: another process can lock byte 0 and /proc/locks shows nothing', async (t) => {
      const lockspace = await ctx.lockspace('disk-release');
      const path = join(lockspace, 'res');
      writeFileSync(path, '');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res');
      await client.release(lockspace, 'res');
      const report = await probeLock(path);
      assertFree(report.ofd, 'OFD');
      assertFree(report.posix, 'POSIX');
      const locks = locksOn(fileId(path));
      t.diagnostic(`/proc/locks: ${describeLocks(locks)}`);
      assert.deepEqual(locks, []);
    });

    ctx.check('§5 one file under two names (directory lockspace name, default-lockspace path): POSIX (virtlockd) grants both and one release unlocks the file; OFD (holdfast, deliberate difference) refuses the second', async (t) => {
      const lockspace = await ctx.lockspace('disk-two-names');
      const path = join(lockspace, 'res');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await a.acquire(lockspace, 'res', AUTOCREATE);
      if (ctx.flavor === 'virtlockd') {
        ctx.note(t, 'the daemon\'s own POSIX locks never conflict with each other, and closing any fd of the file drops them all');
        await b.acquire('', path);
        await b.release('', path);
        assert.equal((await probeLock(path)).posix.canWrite, true, 'unlocked on disk although the first owner still holds it');
        await expectError(b.acquire(lockspace, 'res'), E.isLocked('res'));
      } else {
        ctx.note(t, 'deliberate difference: OFD locks of two open file descriptions conflict even in one process');
        await expectError(b.acquire('', path), E.isLocked(path));
        assert.equal((await probeLock(path)).posix.canWrite, false);
      }
      await a.release(lockspace, 'res');
    });

    ctx.check('§5 shared lock becomes free only after the last shared owner releases', async () => {
      const lockspace = await ctx.lockspace('disk-shared-release');
      const path = join(lockspace, 'res');
      writeFileSync(path, '');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await a.acquire(lockspace, 'res', SHARED);
      await b.acquire(lockspace, 'res', SHARED);
      await a.release(lockspace, 'res');
      assert.equal((await probeLock(path)).posix.canWrite, false, 'still read-locked for the second owner');
      await b.release(lockspace, 'res');
      assert.equal((await probeLock(path)).posix.canWrite, true);
    });
  });
}
