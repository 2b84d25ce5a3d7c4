// The text forms of cluster resources and of `holdfast cluster`, and the holdfast_cluster_* metrics: a local
// resource's rows stay exactly as before; a cluster one is marked and shows each owner's fencing token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterLines } from '../../src/cli/commands/cluster';
import { lockTable } from '../../src/cli/commands/locks';
import { whoLines } from '../../src/cli/commands/who';
import type { ClusterInfo, LockInfo } from '../../src/shared/protocol/operations-program';
import { WorkerMetrics, type MetricsGauges } from '../../src/worker/metrics';

const AT = new Date(2026, 11, 3, 10, 20, 30).getTime();

const local: LockInfo = {
  lockspace: '',
  resource: '/srv/a.img',
  path: '/srv/a.img',
  mode: 'exclusive',
  autocreate: false,
  owners: [{ pid: 41, name: 'vm-a', uuid: '11111111-1111-1111-1111-111111111111', clients: [3], detached: false }],
  acquiredAt: AT,
};

const clustered: LockInfo = {
  lockspace: '/var/lib/libvirt/lockd/files',
  resource: 'disk-b',
  path: '/var/lib/libvirt/lockd/files/disk-b',
  mode: 'shared',
  autocreate: true,
  owners: [
    { pid: 42, name: 'vm-b', uuid: '22222222-2222-2222-2222-222222222222', clients: [4], detached: false, token: '1234' },
    { pid: 43, name: 'vm-c', uuid: '33333333-3333-3333-3333-333333333333', clients: [5], detached: false, token: null },
  ],
  acquiredAt: AT,
  cluster: true,
};

test('locks: a host without cluster resources prints the table it always did', () => {
  assert.deepEqual(lockTable([local]), [
    'PATH        MODE       OWNER  UUID                                  PID  CLIENT  ACQUIRED             LOCKSPACE',
    '/srv/a.img  exclusive  vm-a   11111111-1111-1111-1111-111111111111  41   3       2026-12-03 10:20:30  (default)',
  ]);
});

test('locks: cluster resources add a TOKEN column, marked in MODE; a pending hold reads pending, a local row -', () => {
  const lines = lockTable([local, clustered]);
  assert.match(lines[0]!, /LOCKSPACE\s+TOKEN$/);
  assert.match(lines[1]!, /^\/srv\/a\.img\s+exclusive\s+vm-a .*\(default\)\s+-$/);
  assert.match(lines[2]!, /disk-b\s+shared cluster\s+vm-b .* 42 .*\/var\/lib\/libvirt\/lockd\/files\s+1234$/);
  assert.match(lines[3]!, /^\s+vm-c .* 43 .*\s+pending$/);
});

test('who: a local holder as before; a cluster one across the cluster, with each fencing token', () => {
  assert.deepEqual(whoLines({ path: '/srv/a.img', held: true, holders: [local] }), [
    '/srv/a.img is held exclusive since 2026-12-03 10:20:30 by:',
    '  vm-a uuid 11111111-1111-1111-1111-111111111111 pid 41 (client 3)',
  ]);
  assert.deepEqual(whoLines({ path: clustered.path, held: true, holders: [clustered] }), [
    '/var/lib/libvirt/lockd/files/disk-b is held shared across the cluster in lockspace /var/lib/libvirt/lockd/files since 2026-12-03 10:20:30 by:',
    '  vm-b uuid 22222222-2222-2222-2222-222222222222 pid 42 (client 4, fencing token 1234)',
    '  vm-c uuid 33333333-3333-3333-3333-333333333333 pid 43 (client 5, fencing token pending)',
  ]);
});

const info: ClusterInfo = {
  configured: true,
  hostId: 'host-1',
  keyPrefix: '/holdfast/',
  lockspaces: ['/var/lib/libvirt/lockd/files'],
  pathPrefixes: ['/srv/images/'],
  endpoints: [
    { endpoint: 'http://etcd1:2379', healthy: true, version: '3.4.23', memberId: '99', leader: true, error: null },
    { endpoint: 'http://etcd2:2379', healthy: false, version: null, memberId: null, leader: null, error: 'no answer within 1000 ms' },
  ],
  lease: { state: 'held', id: '7587', ttlMs: 10000, msLeft: 6250, lastRenewedAt: AT, keepalivesSent: 9, keepalivesAcked: 8, deadlinesPassed: 1 },
  holdCounts: { exclusive: 0, shared: 1, pending: 1 },
  holds: [
    { lockspace: '/var/lib/libvirt/lockd/files', resource: 'disk-b', path: clustered.path, pid: 42, mode: 'shared', state: 'held', token: '1234', lease: '7587' },
    { lockspace: '/var/lib/libvirt/lockd/files', resource: 'disk-b', path: clustered.path, pid: 43, mode: 'shared', state: 'pending', token: null, lease: null },
  ],
  requests: { granted: 5, busy: 1, unavailable: 2, lateGrants: 0, released: 4, releaseRetries: 3 },
  fences: {
    total: 1,
    ownersKilled: 66,
    killFailures: 0,
    last: [{ at: AT, leaseId: '7500', why: 'the host lease passed its safe deadline', killed: [7, 8], failed: [], killedCount: 66, failedCount: 0 }],
  },
};

test('cluster: summary, endpoints, holds and fences as tables', () => {
  const lines = clusterLines(info);
  assert.equal(lines[0], 'host:         host-1 (etcd keys under /holdfast/)');
  assert.equal(lines[1], 'cluster-wide: lockspace /var/lib/libvirt/lockd/files, files under /srv/images/');
  assert.equal(lines[2], 'lease:        held, id 7587, 6.3s to its safe deadline, renewed 2026-12-03 10:20:30, ttl 10s');
  assert.equal(lines[3], 'keepalives:   9 sent, 8 acknowledged; safe deadline passed 1 time(s)');
  assert.equal(lines[4], 'holds:        0 exclusive, 1 shared, 1 pending');
  assert.equal(lines[5], 'requests:     5 granted, 1 busy, 2 unavailable, 0 late; 4 released, 3 release retries');
  assert.equal(lines[6], 'fences:       1, 66 owner(s) killed, 0 kill failure(s)');
  const text = lines.join('\n');
  assert.match(text, /^http:\/\/etcd1:2379\s+healthy\s+3\.4\.23\s+yes\s+-$/m);
  assert.match(text, /^http:\/\/etcd2:2379\s+UNHEALTHY\s+-\s+-\s+no answer within 1000 ms$/m);
  assert.match(text, /^\/var\/lib\/libvirt\/lockd\/files\s+disk-b\s+42\s+shared\s+1234$/m);
  assert.match(text, /^\/var\/lib\/libvirt\/lockd\/files\s+disk-b\s+43\s+shared\s+pending$/m);
  assert.match(text, /^2026-12-03 10:20:30\s+7500\s+7,8 \(\+64 more\)\s+-\s+the host lease passed its safe deadline$/m);
  const granting = clusterLines({ ...info, lease: { ...info.lease, state: 'granting', id: null, msLeft: null, lastRenewedAt: null }, holds: [], fences: null });
  assert.equal(granting[2], 'lease:        granting (no lease from etcd yet), ttl 10s');
  assert.equal(granting[6], 'fences:       not known yet');
  assert.ok(granting.includes('no cluster holds on this host'));
});

const gauges: MetricsGauges = { locksHeld: 0, lockClients: 0, adminClients: 0, lockspaces: 0, generation: 1, supervisor: null, fds: null, cluster: null };

test('metrics: no holdfast_cluster_* without a cluster; every family with one', () => {
  const metrics = new WorkerMetrics();
  assert.doesNotMatch(metrics.render(gauges), /holdfast_cluster_/);
  const text = metrics.render({
    ...gauges,
    supervisor: {
      version: 'x', pid: 1, upgrades: 0, upgradeRefusals: 0, workerSwaps: 0, swapFailures: 0, workerRestarts: 0, lastUpgrade: null, lastSwap: null,
      cluster: { lease: info.lease, fences: 2, ownersKilled: 66, killFailures: 1, lastFences: [] },
    },
    cluster: { requests: info.requests, holds: info.holdCounts, lease: info.lease },
  });
  for (const line of [
    'holdfast_cluster_holds_requested_total{result="granted"} 5',
    'holdfast_cluster_holds_requested_total{result="busy"} 1',
    'holdfast_cluster_holds_requested_total{result="unavailable"} 2',
    'holdfast_cluster_holds_requested_total{result="late"} 0',
    'holdfast_cluster_releases_total 4',
    'holdfast_cluster_release_retries_total 3',
    'holdfast_cluster_holds{state="shared"} 1',
    'holdfast_cluster_holds{state="pending"} 1',
    'holdfast_cluster_lease_held 1',
    'holdfast_cluster_lease_ms_left 6250',
    'holdfast_cluster_lease_keepalives_sent_total 9',
    'holdfast_cluster_lease_keepalives_acked_total 8',
    'holdfast_cluster_lease_deadlines_passed_total 1',
    'holdfast_cluster_fences_total 2',
    'holdfast_cluster_owners_killed_total 66',
    'holdfast_cluster_kill_failures_total 1',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  }
  assert.ok(text.endsWith('# EOF\n'));
});
