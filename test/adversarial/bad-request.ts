// The scenario shared by the poison and wedge cases: a daemon serving an 8-client load with a lock held
// (watched by an independent prober) receives one bad ACQUIRE from a client of its own. The bad request
// must come back as a libvirt error within a bound while everyone else is answered exactly once and the
// held lock is never free; the caller then checks what its daemon logged.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockClient, LockError } from '../../src/client/lock-client';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { sleep, waitFor, within } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast, type HoldfastOptions } from '../fixtures/holdfast-daemon';
import { startLoad } from '../fixtures/lock-load';
import { workerPid } from '../fixtures/process-info';

export interface BadRequestCase {
  /** Names the run dir and the bad resource file. */
  name: string;
  /** The daemon's options, given the path of the resource whose ACQUIRE is bad. */
  daemon: (badPath: string) => Omit<HoldfastOptions, 'dir'>;
  answerWithinMs: number;
  /** Distinct owner pids and uuids per case: base and base + 1. */
  ownerBase: number;
}

export interface BadRequestOutcome {
  error: LockError;
  answeredAfterMs: number;
  logs: string;
}

export async function sendBadRequest(c: BadRequestCase): Promise<BadRequestOutcome> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-${c.name}-`));
  const bad = join(dir, `${c.name}.img`);
  const daemon = await startHoldfast({ dir, ...c.daemon(bad) });
  const held = join(dir, 'held.img');
  writeFileSync(held, '');
  writeFileSync(bad, '');
  const owner = (n: number): { uuid: string; pid: number } => ({ uuid: `00000000-0000-4000-8000-${(c.ownerBase + n).toString(16).padStart(12, '0')}`, pid: c.ownerBase + n });
  let prober: Awaited<ReturnType<typeof startHeldLockProber>> | null = null;
  let load: Awaited<ReturnType<typeof startLoad>> | null = null;
  try {
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ ...owner(0), name: 'holder', id: 1 });
    await holder.acquire('', held, 0);
    prober = await startHeldLockProber([held]);
    await workerPid(daemon.pid);
    load = await startLoad(daemon.socket, join(dir, 'load'), 8);
    await waitFor(() => load!.replies() > 100, 5_000, 'some load');

    const victim = await LockClient.connect(daemon.socket);
    await victim.register({ ...owner(1), name: 'victim', id: 2 });
    const started = Date.now();
    const outcome = await within(c.answerWithinMs, `the bad ACQUIRE (${c.name})`, victim.acquire('', bad, 0).then(() => null, (err: unknown) => err));
    const answeredAfterMs = Date.now() - started;
    assert.ok(outcome instanceof LockError, `the bad ACQUIRE was answered ${String(outcome)}`);
    assert.equal(outcome.code, VirErrorCode.INTERNAL_ERROR);
    assert.match(outcome.message, /crashed or wedged two workers in a row/);

    // The rest keep being served, the bad request's client too.
    const before = load.replies();
    await waitFor(() => load!.replies() > before + 200, 5_000, 'more answers');
    await victim.createLockspace('');
    // Load and prober run on past the recovery, so a late second answer or a freed lock still shows: the
    // prober samples without pause and the load answered 200 requests within the wait just above.
    await sleep(300);
    const report = await load.stop();
    load = null;
    const probe = await prober.stop();
    prober = null;
    assert.deepEqual(report.errors, [], 'other clients saw errors');
    assert.equal(report.replies, report.requests, 'some request went unanswered');
    assert.equal(report.unclaimed, 0, 'some request was answered twice');
    assert.equal(probe.misses, 0, `the held lock was free at some instant: ${probe.firstMiss}`);
    await victim.close();
    await holder.close();
    return { error: outcome, answeredAfterMs, logs: daemon.logs() };
  } finally {
    await load?.stop();
    await prober?.stop();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
