// The worker's account of cluster resources, from its lock model: LOCKS/WHO mark a cluster resource and give
// each owner's fencing token (null while pending) and leave a local resource's answer as it was; CLUSTER's
// hold list and counts. Resources are the worker's own model, built from custody records.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACQUIRE_SHARED, type ResourceRecord } from '../../src/shared/custody/records/resource-record';
import { clusterHoldCounts, clusterHoldList, type LockspaceView } from '../../src/worker/admin/cluster-report';
import { lockInfo } from '../../src/worker/admin/operations-service';
import { LockResource } from '../../src/worker/lock/resource';

const DIR = '/var/lib/libvirt/lockd/files';

function resource(lockspace: string, name: string, extra: Partial<ResourceRecord>): LockResource {
  const path = lockspace === '' ? name : `${lockspace}/${name}`;
  const record: ResourceRecord = { kind: 'resource', lockspace, name, path, flags: 0, owners: [], acquiredAt: 1000, lockKind: 'ofd', ...extra };
  // fd -1, not held: nothing here touches a file.
  return LockResource.fromRecord(record, -1, false);
}

const hold = (pid: number, token: string) => ({ pid, key: `/holdfast/k/${pid}`, token, rev: token, lease: '7587' });

const local = resource('', '/srv/a.img', { owners: [41] });
const exclusive = resource(DIR, 'disk-a', { owners: [42], cluster: { holds: [hold(42, '900')], pending: [] } });
const shared = resource(DIR, 'disk-b', { flags: ACQUIRE_SHARED, owners: [43, 44, 45], cluster: { holds: [hold(44, '1001'), hold(43, '1000')], pending: [45] } });

const lockspaces: LockspaceView[] = [
  { directory: null, resources: new Map([[local.name, local]]) },
  { directory: DIR, resources: new Map([[shared.name, shared], [exclusive.name, exclusive]]) },
];

test('a local resource has no cluster field and no tokens: its answer is unchanged', () => {
  const info = lockInfo('', local, new Map());
  assert.equal('cluster' in info, false);
  assert.deepEqual(info.owners, [{ pid: 41, name: null, uuid: null, clients: [], detached: false }]);
});

test('a cluster resource is marked, each owner with its fencing token, a pending one with null', () => {
  const info = lockInfo(DIR, shared, new Map());
  assert.equal(info.cluster, true);
  assert.deepEqual(info.owners.map((o) => [o.pid, o.token]), [[43, '1000'], [44, '1001'], [45, null]]);
  assert.deepEqual(lockInfo(DIR, exclusive, new Map()).owners.map((o) => o.token), ['900']);
});

test('the hold list: every hold and pending owner, by lockspace, resource and pid; counts by kind', () => {
  assert.deepEqual(
    clusterHoldList(lockspaces).map((h) => [h.resource, h.pid, h.mode, h.state, h.token, h.lease]),
    [
      ['disk-a', 42, 'exclusive', 'held', '900', '7587'],
      ['disk-b', 43, 'shared', 'held', '1000', '7587'],
      ['disk-b', 44, 'shared', 'held', '1001', '7587'],
      ['disk-b', 45, 'shared', 'pending', null, null],
    ],
  );
  assert.equal(clusterHoldList(lockspaces)[0]!.path, `${DIR}/disk-a`);
  assert.deepEqual(clusterHoldCounts(lockspaces), { exclusive: 1, shared: 2, pending: 1 });
});
