// Case 10: a stopped or wedged worker. While clients wait for answers, a worker that makes no progress
// for worker_stall_timeout_ms is replaced as after a crash: every request answered exactly once, every
// held lock held throughout. An idle stopped worker (nobody waiting) is left alone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { sleep, waitFor } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { startLoad } from '../fixtures/lock-load';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

const STALL_MS = 800;

// The victim may be gone already (killed as stalled).
function wake(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone
  }
}

test('a SIGSTOPped worker with requests pending is replaced; every request answered once, locks held', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-stall-'));
  const daemon = await startHoldfast({ dir, config: `worker_stall_timeout_ms = ${STALL_MS}\n` });
  try {
    const held = join(dir, 'held.img');
    writeFileSync(held, '');
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-00000000a010', name: 'holder', id: 1, pid: 0x7ff20000 });
    await holder.acquire('', held, 0);
    const prober = await startHeldLockProber([held]);
    const load = await startLoad(daemon.socket, join(dir, 'load'), 8);
    await waitFor(() => load.replies() > 100, 5_000, 'some load');

    const victim = await workerPid(daemon.pid);
    const stoppedAt = Date.now();
    process.kill(victim, 'SIGSTOP');
    try {
      const next = await nextWorkerPid(daemon.pid, victim, STALL_MS + 4_000);
      assert.notEqual(next, victim, 'the stopped worker was never replaced');
      const before = load.replies();
      await waitFor(() => load.replies() > before + 100, 5_000, 'answers from the new worker');
      assert.ok(Date.now() - stoppedAt < STALL_MS + 4_000);
    } finally {
      wake(victim);
    }
    const report = await load.stop();
    const probe = await prober.stop();
    assert.deepEqual(report.errors, [], 'clients saw errors');
    assert.equal(report.replies, report.requests, 'some request went unanswered');
    assert.equal(report.unclaimed, 0, 'some request was answered twice');
    assert.ok(report.maxLatencyMs < STALL_MS + 4_000, `a request waited ${report.maxLatencyMs} ms`);
    assert.equal(probe.misses, 0, `the held lock was free at some instant: ${probe.firstMiss}`);
    assert.match(daemon.logs(), /worker stalled/);
    await holder.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an idle SIGSTOPped worker (no request pending) is not replaced', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-stall-idle-'));
  const daemon = await startHoldfast({ dir, config: `worker_stall_timeout_ms = ${STALL_MS}\n` });
  try {
    const victim = await workerPid(daemon.pid);
    process.kill(victim, 'SIGSTOP');
    // The stall check would have acted within one STALL_MS of a pending request; three of them, with nothing
    // pending, show it does not act on an idle worker.
    await sleep(STALL_MS * 3);
    wake(victim);
    assert.equal(await workerPid(daemon.pid), victim);
    assert.doesNotMatch(daemon.logs(), /worker stalled/);
    // And it serves on.
    const client = await LockClient.connect(daemon.socket);
    await client.createLockspace('');
    await client.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
