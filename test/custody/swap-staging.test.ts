// A swap stages the custody snapshot in the standby worker (which builds its lock model from it) while the
// old worker still serves; after the drain only what changed since is sent. Here the staging window is held
// open on purpose: the standby is stopped (SIGSTOP) before the swap, so the snapshot, far bigger than the
// channel's kernel queue, cannot be taken in. Meanwhile the old worker serves a new lock, a release and an
// owner joining a shared lock. After the standby continues and the swap completes, the new worker must
// hold exactly what custody holds: the new lock excludes another process, the released one is free (and its
// file gone), the joined owner still holds the shared lock after the other lets go.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { sleep, waitFor } from '../fixtures/deadline';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { childPids, commandLine, nextWorkerPid, openFds, workerPid } from '../fixtures/process-info';

const HELD = 3000;
const OWNERS = 4;
const SHARED = 1;
const AUTOCREATE = 2;
const RESOURCE_BUSY = 87;

async function registered(socket: string, name: string, id: number): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  // Pids that are never real: a disconnect must not make the daemon kill anyone.
  await client.register({ uuid: '00000000-0000-4000-8000-0000005a6ed0', name, id, pid: 0x7fd00000 + id });
  return client;
}

/** The booted standby worker beside the serving one. */
async function standbyPid(supervisorPid: number): Promise<number> {
  let pid: number | undefined;
  await waitFor(
    () => (pid = childPids(supervisorPid).find((p) => commandLine(p).startsWith('holdfastd-worker standby'))) !== undefined,
    30_000,
    'a standby worker',
  );
  // Let node finish booting it (it reports `booted` once it listens on its channel).
  await sleep(1000);
  return pid!;
}

function swappedLines(daemon: HoldfastHandle): number {
  return (daemon.logs().match(/"worker swapped"/g) ?? []).length;
}

/** The new worker's own count of the locks it adopted ("worker serving" for `generation`). */
function servedLocks(daemon: HoldfastHandle, generation: number): number | null {
  for (const line of daemon.logs().split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; generation?: number; locks?: number };
    if (entry.msg === 'worker serving' && entry.generation === generation && typeof entry.locks === 'number') return entry.locks;
  }
  return null;
}

test('changes made while a swap stages its snapshot are all in the new worker', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-swap-staging-'));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
  const clients: LockClient[] = [];
  let stopped: number | null = null;
  try {
    const lockspace = join(dir, 'ls');
    mkdirSync(lockspace);
    const owners = await Promise.all(Array.from({ length: OWNERS }, (_, i) => registered(daemon.socket, `owner-${i}`, i + 1)));
    clients.push(...owners);
    const [a, b] = owners as [LockClient, LockClient];
    await a.createLockspace(lockspace);
    // The first record custody takes: sent in the snapshot's first chunk, released while staging.
    const released = 'released.img';
    await a.acquire(lockspace, released, AUTOCREATE);
    const shared = 'shared.iso';
    await a.acquire(lockspace, shared, AUTOCREATE | SHARED);
    await Promise.all(owners.map(async (owner, o) => {
      for (let i = o; i < HELD - 2; i += OWNERS) await owner.acquire(lockspace, `disk-${i}.img`, AUTOCREATE);
    }));

    const oldWorker = await workerPid(daemon.pid);
    stopped = await standbyPid(daemon.pid);
    process.kill(stopped, 'SIGSTOP');
    process.kill(daemon.pid, 'SIGUSR2');
    // The swap is staging: the old worker serves on (each of these is its answer), the standby takes nothing in.
    await sleep(500);
    const added = 'added.img';
    await a.acquire(lockspace, added, AUTOCREATE);
    await a.release(lockspace, released, 0);
    assert.equal(existsSync(join(lockspace, released)), false, 'an AUTOCREATE file goes on its last release');
    await b.acquire(lockspace, shared, AUTOCREATE | SHARED);
    await sleep(200);
    assert.equal(await workerPid(daemon.pid), oldWorker, 'the old worker still serves while the standby is stopped');
    assert.equal(swappedLines(daemon), 0, 'no swap completed while the standby was stopped');

    process.kill(stopped, 'SIGCONT');
    stopped = null;
    const newWorker = await nextWorkerPid(daemon.pid, oldWorker, 60_000);
    await waitFor(() => swappedLines(daemon) === 1, 30_000, 'the "worker swapped" line');
    const locks = await waitFor(() => servedLocks(daemon, 2), 10_000, 'the new worker\'s "worker serving" line');
    assert.equal(locks, HELD, 'the new worker holds every lock: one released, one added during staging');

    // The lock taken during staging excludes another process, and the new worker refuses a second owner.
    assert.equal((await probeLock(join(lockspace, added))).ofd.canWrite, false, 'the lock taken while staging is held');
    await assert.rejects(b.acquire(lockspace, added, AUTOCREATE), (err: unknown) => err instanceof LockError && err.code === RESOURCE_BUSY);
    // The one released during staging is nowhere: no fd of the new worker names it, and it can be taken anew.
    const leftovers = [...openFds(newWorker).values()].filter((target) => target.startsWith(join(lockspace, released)));
    assert.deepEqual(leftovers, [], 'the new worker kept an fd of the released lock');
    await b.acquire(lockspace, released, AUTOCREATE);
    assert.equal((await probeLock(join(lockspace, released))).ofd.canWrite, false, 'taken again by another owner');
    // The owner that joined the shared lock while staging still holds it after the first one lets go.
    await a.release(lockspace, shared, 0);
    const stillShared = await probeLock(join(lockspace, shared));
    assert.equal(stillShared.ofd.canWrite, false, 'the joined owner still holds the shared lock');
    assert.equal(stillShared.ofd.canRead, true, 'held shared');
    await b.release(lockspace, shared, 0);
    assert.equal(existsSync(join(lockspace, shared)), false, 'free and unlinked after both releases');
    // Every lock from before the swap is still held.
    for (let i = 0; i < HELD - 2; i += 250) assert.equal((await probeLock(join(lockspace, `disk-${i}.img`))).ofd.canWrite, false, `disk-${i}.img held`);
    assert.equal(await workerPid(daemon.pid), newWorker);
  } finally {
    if (stopped !== null) process.kill(stopped, 'SIGCONT');
    await Promise.all(clients.map((c) => c.destroy()));
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
