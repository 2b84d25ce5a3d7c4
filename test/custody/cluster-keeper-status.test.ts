// The supervisor's cluster status as ClusterKeeper reports it, and when it tells of a change: after each
// grant and renewal of the host lease, and after a fence has sent its signals, never before. Fences here kill
// real processes (a hold on a stale lease as custody is handed it, and a lapsed lease); no etcd is reached.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import pino from 'pino';
import type { ClusterSettings } from '../../src/shared/cluster/cluster-settings';
import type { SupervisorClusterStatus } from '../../src/shared/custody/supervisor-status';
import { resourceKey, type ResourceRecord } from '../../src/shared/custody/records/resource-record';
import { ClusterKeeper } from '../../src/supervisor/cluster/cluster-keeper';
import { Custody } from '../../src/supervisor/custody';
import { within } from '../fixtures/deadline';

const log = pino({ level: 'silent' });
const DIR = '/var/lib/libvirt/lockd/files';

const settings: ClusterSettings = {
  // Nothing listens on port 1: the lease never reaches etcd (and is not started here anyway).
  endpoints: ['http://127.0.0.1:1'],
  tls: { caFile: null, certFile: null, keyFile: null },
  auth: null,
  lockspaces: [DIR],
  pathPrefixes: [],
  hostId: 'test-host',
  leaseTtlMs: 10000,
  keyPrefix: '/holdfast/',
  watchdogDevice: null,
  watchdogTimeoutMs: null,
};

function clusterRecord(name: string, pid: number): ResourceRecord {
  return {
    kind: 'resource',
    lockspace: DIR,
    name,
    path: `${DIR}/${name}`,
    flags: 0,
    owners: [pid],
    acquiredAt: 1,
    lockKind: 'ofd',
    cluster: { holds: [{ pid, key: `/holdfast/x/${name}`, token: '900', rev: '900', lease: '1234' }], pending: [] },
  };
}

let seq = 0;
function put(custody: Custody, record: ResourceRecord): void {
  custody.apply({ seq: ++seq, ops: [{ op: 'put', record, fdIndex: null }], reply: null, ack: false }, [], new Set(), () => undefined);
}

function drop(custody: Custody, key: string): void {
  custody.apply({ seq: ++seq, ops: [{ op: 'drop', key }], reply: null, ack: false }, [], new Set(), () => undefined);
}

function sleeper(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

test('ClusterKeeper: status on grant and renewal; a fence is reported with its pids once its signals are sent', async () => {
  const custody = new Custody(log);
  const keeper = new ClusterKeeper(settings, custody, log, null);
  const seen: SupervisorClusterStatus[] = [];
  let leases = 0;
  keeper.onLease = () => leases++;
  keeper.onStatusChange = () => seen.push(keeper.status());
  const children: ChildProcess[] = [];
  try {
    assert.deepEqual(keeper.status(), { lease: keeper.lease.status(), fences: 0, ownersKilled: 0, killFailures: 0, lastFences: [] });

    keeper.lease.emit('granted', '1234');
    keeper.lease.emit('renewed', process.hrtime.bigint() + 5_000_000_000n);
    assert.equal(leases, 2);
    assert.equal(seen.length, 2, 'a status after the grant and after the renewal');

    // Custody is handed a hold on a lease that is not the host's valid one: its owner is killed at once.
    const stale = sleeper();
    children.push(stale);
    const staleExit = once(stale, 'exit');
    put(custody, clusterRecord('disk-a', stale.pid!));
    assert.deepEqual(await staleExit, [null, 'SIGKILL']);
    assert.equal(seen.length, 3);
    const afterStale = seen[2]!;
    assert.equal(afterStale.fences, 1);
    assert.equal(afterStale.ownersKilled, 1);
    assert.deepEqual(afterStale.lastFences.map((f) => [f.killed, f.killedCount, f.failedCount]), [[[stale.pid], 1, 0]]);
    assert.match(afterStale.lastFences[0]!.why, /disk-a/);

    // Its worker would drop it now (the owner is gone): a later fence must not signal a pid that may be reused.
    drop(custody, resourceKey(DIR, 'disk-a'));

    // The lease passes its safe deadline: every owner of a cluster hold in custody is killed, then reported.
    const owner = sleeper();
    children.push(owner);
    const ownerExit = once(owner, 'exit');
    const check = custody.onClusterResource;
    custody.onClusterResource = null; // filed as if on the valid lease
    put(custody, clusterRecord('disk-b', owner.pid!));
    custody.onClusterResource = check;
    let leaseBeforeSignals = false;
    keeper.onLease = () => {
      leases++;
      leaseBeforeSignals = keeper.counters.fences === 1;
    };
    keeper.lease.emit('deadline-passed', '1234');
    assert.deepEqual(await ownerExit, [null, 'SIGKILL']);
    assert.ok(leaseBeforeSignals, 'the workers hear of the lapse before the owners are killed');
    assert.equal(seen.length, 4, 'one status for the fence, after its signals');
    const fenced = seen[3]!;
    assert.equal(fenced.fences, 2);
    assert.equal(fenced.lastFences.length, 2);
    assert.deepEqual(fenced.lastFences[1]!.killed, [owner.pid]);
    assert.equal(fenced.lastFences[1]!.leaseId, '1234');
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await keeper.stop();
  }
});

test('ClusterKeeper: locks handed back by the fd store with an owner still pending get that owner fenced at start; after an upgrade they do not', async () => {
  const children: ChildProcess[] = [];
  try {
    for (const handedBack of [true, false]) {
      const custody = new Custody(log);
      const owner = sleeper();
      children.push(owner);
      const record = clusterRecord(`disk-pending-${handedBack}`, owner.pid!);
      // Only pending: its hold's commit never reached the old supervisor.
      record.cluster = { holds: [], pending: [owner.pid!] };
      custody.adopt([[resourceKey(record.lockspace, record.name), { record, fd: null }]]);
      // A lease resumed within its deadline (as after an upgrade or a quick restart): only the pending owner is in question.
      const keeper = new ClusterKeeper(settings, custody, log, { id: '1234', lastAckSentNs: process.hrtime.bigint().toString() });
      const exit = once(owner, 'exit');
      try {
        keeper.start(handedBack);
        if (handedBack) assert.deepEqual(await within(2000, 'the pending owner handed back to be fenced', exit), [null, 'SIGKILL']);
        else {
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(owner.exitCode, null, 'a pending owner after an upgrade was fenced (its request is still being served)');
          assert.equal(owner.signalCode, null);
        }
      } finally {
        await keeper.stop();
      }
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
});
