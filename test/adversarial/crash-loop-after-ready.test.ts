// The crash-loop backoff counts workers that die of their own fault after reporting ready, not only those
// that die within moments of starting: a worker that fails a little while after it serves, again and again,
// triggers the backoff, and every held lock stays held throughout. The failure here is a wedge (SIGSTOP
// with a request waiting, which the stall watchdog kills): every signal that would make a worker crash
// by itself is caught by the signal guard, so a test cannot abort one from outside.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { sleep } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

const CRASHES = 7;

test('workers crashing repeatedly after they report ready trigger the crash-loop backoff; locks stay held', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-crashloop-'));
  const daemon = await startHoldfast({ dir, config: 'worker_stall_timeout_ms = 300\n' });
  let prober: Awaited<ReturnType<typeof startHeldLockProber>> | null = null;
  try {
    const held = join(dir, 'held.img');
    writeFileSync(held, '');
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-00000000c010', name: 'holder', id: 1, pid: 0x7ff40000 });
    await holder.acquire('', held, 0);
    prober = await startHeldLockProber([held]);
    let victim = await workerPid(daemon.pid);
    for (let i = 0; i < CRASHES; i++) {
      // Well past the start-up window: this worker has served for a while.
      await sleep(250);
      process.kill(victim, 'SIGSTOP');
      // A request waits: the stopped worker is stalled, not idle. Its successor answers it.
      const answered = holder.createLockspace('');
      const next = await nextWorkerPid(daemon.pid, victim, 10_000);
      await answered;
      assert.notEqual(next, victim, `no new worker after crash ${i + 1}`);
      victim = next;
    }
    assert.match(daemon.logs(), /worker crash-looping; backing off/);
    // Still serving, and the lock was never free.
    await holder.createLockspace('');
    const probe = await prober.stop();
    prober = null;
    assert.equal(probe.misses, 0, `the held lock was free at some instant: ${probe.firstMiss}`);
    await holder.close();
  } finally {
    await prober?.stop();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
