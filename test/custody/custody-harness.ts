// Shared scaffolding of the custody scenarios (swap and crash): a daemon, locks that must stay held, an
// independent prober, a load of 16 clients, and the checks that nothing was lost.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { waitFor } from '../fixtures/deadline';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startLoad } from '../fixtures/lock-load';
import { settleFdCount, steadyFdCount, workerPid } from '../fixtures/process-info';

export interface Scenario {
  daemon: HoldfastHandle;
  dir: string;
}

/**
 * Runs `disturb` against a daemon serving 16 looping clients while other locks are held, then checks:
 * no error, every request answered once, held locks held at every probed instant, and the supervisor's
 * fd count back at its baseline once every client is gone.
 */
export async function underLoad(name: string, disturb: (scenario: Scenario) => Promise<void>, log: (s: string) => void, main?: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-${name}-`));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'], ...(main !== undefined ? { main } : {}) });
  try {
    await workerPid(daemon.pid);
    // The standby worker's channel is part of the baseline, the start-up probe's connection is not.
    const baseline = await steadyFdCount(daemon.pid);

    const held = ['held-a.img', 'held-b.img', 'held-shared.img'].map((f) => join(dir, f));
    held.forEach((f) => writeFileSync(f, ''));
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-0000000401d0', name: 'holder', id: 900, pid: 0x7ff10000 });
    await holder.acquire('', held[0]!, 0);
    await holder.acquire('', held[1]!, 0);
    await holder.acquire('', held[2]!, 1);
    await holder.createLockspace(join(dir, 'ls'));
    await holder.acquire(join(dir, 'ls'), 'vol', 2);
    held.push(join(dir, 'ls', 'vol'));

    const prober = await startHeldLockProber(held);
    const load = await startLoad(daemon.socket, join(dir, 'load'), 16);
    await disturb({ daemon, dir });
    // Keep the load going a little past the last disturbance: it must still be answered.
    const before = load.replies();
    await waitFor(() => load.replies() >= before + 200, 30_000, () => `200 more answers after the last disturbance (${load.replies() - before} so far)`);
    const report = await load.stop();
    const probe = await prober.stop();
    log(`load: ${report.requests} requests, ${report.replies} replies, max latency ${report.maxLatencyMs.toFixed(1)} ms; prober: ${probe.samples} samples`);

    assert.deepEqual(report.errors, [], 'clients saw errors');
    assert.equal(report.replies, report.requests, 'some request went unanswered');
    assert.equal(report.unclaimed, 0, 'some request was answered twice');
    assert.equal(probe.misses, 0, `a held lock was free at some instant: ${probe.firstMiss}`);

    for (const path of held.slice(0, 3)) await holder.release('', path, 0);
    await holder.release(join(dir, 'ls'), 'vol', 0);
    await holder.close();
    const settled = await settleFdCount(daemon.pid, baseline, 10_000);
    assert.equal(settled, baseline, `supervisor holds ${settled} fds after every client left, ${baseline} before`);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
