// Case 10 with a cause: a request that sends the worker into an endless loop (a test hook) wedges every
// worker that runs it. The stall watchdog replaces the wedged worker; the next one announces the waiting
// clients' requests before running them, so the second stall names the culprit, and the third worker
// answers it with an error instead of running it. Everyone else is answered exactly once, the held lock
// stays held, and exactly two workers are killed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { VirErrorCode } from '../../src/shared/rpc/vir-error';
import { until, withDeadline } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { startLoad } from '../fixtures/lock-load';
import { workerPid } from '../fixtures/process-info';

const STALL_MS = 600;
const ANSWER_WITHIN_MS = 3 * STALL_MS + 4_000;

test('a request that wedges two workers in a row is answered with an error; everyone else is served', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-wedge-'));
  const wedge = join(dir, 'wedge.img');
  const daemon = await startHoldfast({ dir, config: `worker_stall_timeout_ms = ${STALL_MS}\n`, env: { HOLDFASTD_TEST_WEDGE_RESOURCE: wedge } });
  const held = join(dir, 'held.img');
  writeFileSync(held, '');
  writeFileSync(wedge, '');
  let prober: Awaited<ReturnType<typeof startHeldLockProber>> | null = null;
  let load: Awaited<ReturnType<typeof startLoad>> | null = null;
  try {
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-00000000d010', name: 'holder', id: 1, pid: 0x7ff50000 });
    await holder.acquire('', held, 0);
    prober = await startHeldLockProber([held]);
    await workerPid(daemon.pid);
    load = await startLoad(daemon.socket, join(dir, 'load'), 8);
    await until('some load', () => load!.replies() > 100, 5_000);

    const victim = await LockClient.connect(daemon.socket);
    await victim.register({ uuid: '00000000-0000-4000-8000-00000000d011', name: 'victim', id: 2, pid: 0x7ff50001 });
    const outcome = await withDeadline(victim.acquire('', wedge, 0).then(() => null, (err: unknown) => err), ANSWER_WITHIN_MS, 'the wedging ACQUIRE');
    assert.ok(outcome instanceof LockError, `the wedging ACQUIRE was answered ${String(outcome)}`);
    assert.equal(outcome.code, VirErrorCode.INTERNAL_ERROR);
    assert.match(outcome.message, /two workers in a row/);

    const before = load.replies();
    await until('more answers', () => load!.replies() > before + 200, 5_000);
    await victim.createLockspace('');
    const report = await load.stop();
    load = null;
    const probe = await prober.stop();
    prober = null;
    assert.deepEqual(report.errors, [], 'other clients saw errors');
    assert.equal(report.replies, report.requests, 'some request went unanswered');
    assert.equal(report.unclaimed, 0, 'some request was answered twice');
    assert.equal(probe.misses, 0, `the held lock was free at some instant: ${probe.firstMiss}`);
    const logs = daemon.logs();
    assert.equal((logs.match(/worker stalled/g) ?? []).length, 2, 'stalls other than the two the wedge caused');
    assert.equal((logs.match(/"worker died/g) ?? []).length, 2);
    await victim.close();
    await holder.close();
  } finally {
    await load?.stop();
    await prober?.stop();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
