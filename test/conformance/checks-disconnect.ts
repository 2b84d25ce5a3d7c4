// PROTOCOL.md §6: what a dropped connection does. Only clientPid (SO_PEERCRED) == ownerPid releases, and
// then the owner is SIGTERMed (SIGKILLed if it stays). Owners run as real child processes (owner-process.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConformanceContext, expectError } from './context';
import * as E from './expected-errors';
import { within } from '../fixtures/deadline';
import { probeLock } from '../fixtures/lock-prober';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';

const { SHARED, AUTOCREATE } = AcquireFlags;

/**
 * How long a negative check ("nobody is signalled, nothing is released") watches after a close. Proving a
 * negative needs some bound; a daemon that kills does so within milliseconds of the close (PROTOCOL: ~5 ms).
 */
const QUIET_PERIOD_MS = 500;
/** A bound on a hang, not a timing check: a daemon's kill loop ends an owner within seconds. */
const OWNER_EXIT_DEADLINE_MS = 60_000;

async function withOwners<T>(fn: (track: (o: OwnerProcess) => OwnerProcess) => Promise<T>): Promise<T> {
  const owners: OwnerProcess[] = [];
  try {
    return await fn((o) => { owners.push(o); return o; });
  } finally {
    for (const o of owners) await o.dispose();
  }
}

/** Positive proof that a resource is free: another owner can take it exclusively (then gives it back). */
async function assertAcquirable(ctx: ConformanceContext, lockspace: string, name: string): Promise<void> {
  const probe = await ctx.registered();
  await probe.acquire(lockspace, name, AUTOCREATE);
  await probe.release(lockspace, name);
}

/** Closes the owner's connection, then waits a quiet period; a round trip first makes sure the daemon is awake. */
async function closeAndWatch(ctx: ConformanceContext, o: OwnerProcess): Promise<void> {
  await o.closeConnection();
  const barrier = await ctx.connect();
  await ctx.assertUsable(barrier);
  await sleep(QUIET_PERIOD_MS);
}

export function defineDisconnectChecks(ctx: ConformanceContext): void {
  describe('§6 disconnect', () => {
    ctx.check('§6 owner (clientPid == ownerPid) closes → its locks in every lockspace are released and it is SIGTERMed', async (t) => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-release');
        const defaultPath = join(ctx.freshDir('disconnect-default'), 'disk.img');
        const o = track(await startOwnerProcess({
          socket: ctx.target.socket,
          acquire: [
            { lockspace, name: 'excl', flags: AUTOCREATE },
            { lockspace, name: 'shared', flags: SHARED | AUTOCREATE },
            { lockspace: '', name: defaultPath, flags: AUTOCREATE },
          ],
        }));
        const closedAt = Date.now();
        await o.closeConnection();
        const term = await o.waitFor('sigterm');
        t.diagnostic(`SIGTERM arrived ${Date.now() - closedAt} ms after the close`);
        assert.equal(term.ignored, false);
        assert.deepEqual(await within(OWNER_EXIT_DEADLINE_MS, 'the owner to exit', o.exited), { code: null, signal: 'SIGTERM' });
        await assertAcquirable(ctx, lockspace, 'excl');
        await assertAcquirable(ctx, lockspace, 'shared');
        await assertAcquirable(ctx, '', defaultPath);
        assert.equal(existsSync(join(lockspace, 'excl')), false, 'AUTOCREATE file unlinked by the disconnect release');
      });
    });

    ctx.check('§6 owner disconnect removes one occurrence of its pid per resource: a shared resource it acquired twice stays held by that pid (observed; PROTOCOL.md said "all")', async () => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-duplicates');
        const o = track(await startOwnerProcess({
          socket: ctx.target.socket,
          acquire: [
            { lockspace, name: 'dup', flags: SHARED | AUTOCREATE },
            { lockspace, name: 'dup', flags: SHARED | AUTOCREATE },
            { lockspace, name: 'single', flags: AUTOCREATE },
          ],
        }));
        await o.closeConnection();
        assert.deepEqual(await within(OWNER_EXIT_DEADLINE_MS, 'the owner to exit', o.exited), { code: null, signal: 'SIGTERM' });
        await assertAcquirable(ctx, lockspace, 'single');
        // virLockSpaceRemoveResourcesForOwner drops the first matching owner entry only.
        const other = await ctx.registered();
        await expectError(other.acquire(lockspace, 'dup', AUTOCREATE), E.isLocked('dup'));
        const asOwner = await ctx.registered(o.pid);
        await asOwner.release(lockspace, 'dup');
        await assertAcquirable(ctx, lockspace, 'dup');
      });
    });

    ctx.check('§6 owner that ignores SIGTERM is SIGKILLed', async (t) => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-kill');
        const o = track(await startOwnerProcess({
          socket: ctx.target.socket,
          ignoreTerm: true,
          acquire: [{ lockspace, name: 'res', flags: AUTOCREATE }],
        }));
        const closedAt = Date.now();
        await o.closeConnection();
        const term = await o.waitFor('sigterm');
        assert.equal(term.ignored, true);
        const exit = await within(OWNER_EXIT_DEADLINE_MS, 'the owner to exit', o.exited);
        t.diagnostic(`SIGKILL ended the owner ${Date.now() - closedAt} ms after the close (not asserted)`);
        assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
        await assertAcquirable(ctx, lockspace, 'res');
      });
    });

    ctx.check('§6 a connection whose clientPid != ownerPid closes → nothing released, nobody signalled', async () => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-foreign');
        // A live bystander whose pid the closing connection names: it must not be signalled either.
        const bystander = track(await startOwnerProcess({ socket: ctx.target.socket }));
        const o = track(await startOwnerProcess({
          socket: ctx.target.socket,
          ownerPid: bystander.pid,
          acquire: [{ lockspace, name: 'res', flags: AUTOCREATE }],
        }));
        await closeAndWatch(ctx, o);
        assert.ok(o.alive() && bystander.alive(), 'nobody was killed');
        assert.deepEqual([...o.events, ...bystander.events].filter((e) => e.event === 'sigterm'), []);
        const other = await ctx.registered();
        await expectError(other.acquire(lockspace, 'res', AUTOCREATE), E.isLocked('res'));
        // Still owned by the named pid: a connection registering it can release.
        const asBystander = await ctx.registered(bystander.pid);
        await asBystander.release(lockspace, 'res');
      });
    });

    ctx.check('§6 no lock held at disconnect → the owner is not signalled (also after acquire + release)', async () => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-nothing');
        const idle = track(await startOwnerProcess({ socket: ctx.target.socket }));
        const released = track(await startOwnerProcess({ socket: ctx.target.socket, acquire: [{ lockspace, name: 'res', flags: AUTOCREATE }] }));
        // Someone else (same pid, another connection) gives the lock back before the owner leaves.
        const sibling = await ctx.registered(released.pid);
        await sibling.release(lockspace, 'res');
        await closeAndWatch(ctx, idle);
        await closeAndWatch(ctx, released);
        assert.ok(idle.alive() && released.alive());
        assert.deepEqual([...idle.events, ...released.events].filter((e) => e.event === 'sigterm'), []);
      });
    });

    ctx.check('§6 restricted connection of the owner (libvirt\'s QEMU fd) closes → releases locks acquired by another connection registered with its pid', async (t) => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-restricted');
        const defaultPath = join(ctx.freshDir('disconnect-restricted-default'), 'disk.img');
        // QEMU's side: REGISTER own pid, RESTRICT, keep the fd.
        const qemu = track(await startOwnerProcess({ socket: ctx.target.socket, restrict: true }));
        // libvirtd's side: its own connection, REGISTERed as the QEMU pid, acquires the disks.
        const libvirtd = await ctx.registered(qemu.pid);
        await libvirtd.acquire(lockspace, 'disk', AUTOCREATE);
        await libvirtd.acquire('', defaultPath, AUTOCREATE);
        // libvirtd's connection going away releases nothing (its clientPid is not the QEMU pid).
        await ctx.forget(libvirtd);
        const barrier = await ctx.connect();
        await ctx.assertUsable(barrier);
        assert.equal((await probeLock(join(lockspace, 'disk'))).posix.canWrite, false, 'still locked after libvirtd\'s connection closed');
        const closedAt = Date.now();
        await qemu.closeConnection();
        await qemu.waitFor('sigterm');
        t.diagnostic(`SIGTERM arrived ${Date.now() - closedAt} ms after the restricted connection closed`);
        assert.deepEqual(await within(OWNER_EXIT_DEADLINE_MS, 'the owner to exit', qemu.exited), { code: null, signal: 'SIGTERM' });
        await assertAcquirable(ctx, lockspace, 'disk');
        await assertAcquirable(ctx, '', defaultPath);
        assert.equal(existsSync(join(lockspace, 'disk')), false, 'AUTOCREATE file unlinked');
      });
    });

    ctx.check('§6 while an owner is being killed, another client\'s request latency (virtlockd stalls; holdfast: deliberate difference, no stall)', async (t) => {
      await withOwners(async (track) => {
        const lockspace = await ctx.lockspace('disconnect-stall');
        const o = track(await startOwnerProcess({
          socket: ctx.target.socket,
          ignoreTerm: true,
          acquire: [{ lockspace, name: 'res', flags: AUTOCREATE }],
        }));
        const other = await ctx.connect();
        await o.closeConnection();
        await o.waitFor('sigterm');
        const sentAt = process.hrtime.bigint();
        await ctx.assertUsable(other);
        const latencyMs = Number(process.hrtime.bigint() - sentAt) / 1e6;
        assert.equal((await within(OWNER_EXIT_DEADLINE_MS, 'the owner to exit', o.exited)).signal, 'SIGKILL');
        const expectation = ctx.flavor === 'virtlockd'
          ? 'virtlockd runs its kill loop (200 ms sleeps) on its only thread: requests wait for it'
          : 'deliberate difference: holdfast kills asynchronously and keeps serving';
        reportLatency(t, ctx, latencyMs, expectation);
      });
    });
  });
}

function reportLatency(t: TestContext, ctx: ConformanceContext, latencyMs: number, expectation: string): void {
  t.diagnostic(`request latency while an owner was being killed: ${latencyMs.toFixed(1)} ms (not asserted)`);
  ctx.note(t, expectation);
}
