// Case 4, the supervisor's side: a request that kills every worker that takes it up (here a test hook
// makes its commit throw, as an oversized commit did) is answered with a libvirt error after it has
// crashed two workers in a row, and logged; everyone else is served throughout and every held lock stays
// held. No endless restarts: exactly two workers die.
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

const ANSWER_WITHIN_MS = 5_000;

test('a request that crashes two workers in a row is answered with an error; everyone else is served', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-poison-'));
  const poison = join(dir, 'poison.img');
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'], env: { HOLDFASTD_TEST_POISON_RESOURCE: poison } });
  const held = join(dir, 'held.img');
  writeFileSync(held, '');
  writeFileSync(poison, '');
  let prober: Awaited<ReturnType<typeof startHeldLockProber>> | null = null;
  let load: Awaited<ReturnType<typeof startLoad>> | null = null;
  try {
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-00000000b010', name: 'holder', id: 1, pid: 0x7ff30000 });
    await holder.acquire('', held, 0);
    prober = await startHeldLockProber([held]);
    await workerPid(daemon.pid);
    load = await startLoad(daemon.socket, join(dir, 'load'), 8);
    await until('some load', () => load!.replies() > 100, 5_000);

    const victim = await LockClient.connect(daemon.socket);
    await victim.register({ uuid: '00000000-0000-4000-8000-00000000b011', name: 'victim', id: 2, pid: 0x7ff30001 });
    const started = Date.now();
    const outcome = await withDeadline(victim.acquire('', poison, 0).then(() => null, (err: unknown) => err), ANSWER_WITHIN_MS, 'the poison ACQUIRE');
    assert.ok(outcome instanceof LockError, `the poison ACQUIRE was answered ${String(outcome)}`);
    assert.equal(outcome.code, VirErrorCode.INTERNAL_ERROR);
    assert.match(outcome.message, /crashed or wedged two workers in a row/);
    const answeredAfter = Date.now() - started;

    // The rest keep being served, the poison client too, and no more workers die.
    const before = load.replies();
    await until('more answers', () => load!.replies() > before + 200, 5_000);
    await victim.createLockspace('');
    await new Promise((r) => setTimeout(r, 300));
    const report = await load.stop();
    load = null;
    const probe = await prober.stop();
    prober = null;
    assert.deepEqual(report.errors, [], 'other clients saw errors');
    assert.equal(report.replies, report.requests, 'some request went unanswered');
    assert.equal(report.unclaimed, 0, 'some request was answered twice');
    assert.equal(probe.misses, 0, `the held lock was free at some instant: ${probe.firstMiss}`);
    const logs = daemon.logs();
    assert.equal((logs.match(/"worker died/g) ?? []).length, 2, 'workers died other than the two the poison took');
    assert.match(logs, /"procedure":"AcquireResource"[^\n]*"error":"Error: test fault[^\n]*crashed or wedged two workers in a row/);
    assert.ok(answeredAfter < ANSWER_WITHIN_MS);
    await victim.close();
    await holder.close();
  } finally {
    await load?.stop();
    await prober?.stop();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
