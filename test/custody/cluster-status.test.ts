// The cluster part of the supervisor's status on its way to the worker: the control channel's schema takes
// it (and a status without it), refuses unbounded pid lists; a fence report bounds its lists and keeps counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSupervisorMessage } from '../../src/shared/custody/messages';
import { FENCE_PIDS_LISTED, type SupervisorStatus } from '../../src/shared/custody/supervisor-status';
import { fenceReport } from '../../src/supervisor/cluster/cluster-keeper';

const base: SupervisorStatus = { version: '1', pid: 10, upgrades: 0, upgradeRefusals: 0, workerSwaps: 0, swapFailures: 0, workerRestarts: 0, lastUpgrade: null, lastSwap: null };
const pids = (n: number): number[] => Array.from({ length: n }, (_, i) => 1000 + i);

test('a fence report lists at most FENCE_PIDS_LISTED pids of each kind, counts them all, and bounds its reason', () => {
  const report = fenceReport({ at: 5, leaseId: '77', why: 'x'.repeat(5000), killed: pids(200), failed: [3] });
  assert.equal(report.killed.length, FENCE_PIDS_LISTED);
  assert.deepEqual(report.killed, pids(FENCE_PIDS_LISTED));
  assert.equal(report.killedCount, 200);
  assert.deepEqual(report.failed, [3]);
  assert.equal(report.failedCount, 1);
  assert.ok(report.why.length <= 1024);
});

test("the status message carries the cluster part, or none; a fence's unbounded list is refused", () => {
  const cluster = {
    lease: { state: 'held', id: '7587', ttlMs: 10000, msLeft: 5000, lastRenewedAt: 1, keepalivesSent: 3, keepalivesAcked: 3, deadlinesPassed: 0 },
    fences: 1,
    ownersKilled: 200,
    killFailures: 0,
    lastFences: [fenceReport({ at: 5, leaseId: null, why: 'lapsed', killed: pids(200), failed: [] })],
  } as const;
  assert.equal(isSupervisorMessage({ type: 'facts', supervisor: base, counters: null }), true);
  assert.equal(isSupervisorMessage({ type: 'facts', supervisor: { ...base, cluster }, counters: null }), true);
  const unbounded = { ...cluster, lastFences: [{ ...cluster.lastFences[0]!, killed: pids(FENCE_PIDS_LISTED + 1) }] };
  assert.equal(isSupervisorMessage({ type: 'facts', supervisor: { ...base, cluster: unbounded }, counters: null }), false);
  assert.equal(isSupervisorMessage({ type: 'facts', supervisor: { ...base, cluster: { ...cluster, lease: { ...cluster.lease, state: 'gone' } } }, counters: null }), false);
});
