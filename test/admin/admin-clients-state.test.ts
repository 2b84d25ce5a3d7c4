// Admin connections in the restart-exec document: written beside the lock clients (so an admin client, such
// as `holdfast upgrade` waiting on its own upgrade, survives the re-exec), valid against the schema, and read
// back as the same custody records.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientRecord } from '../../src/shared/custody/records/client-record';
import { custodyKey } from '../../src/shared/custody/records/custody-record';
import { validateStateDocument } from '../../src/supervisor/upgrade/state-schema';
import type { CustodyEntry } from '../../src/supervisor/custody';
import { documentFromCustody, recordsFromDocument } from '../../src/supervisor/upgrade/state-snapshot';

function client(server: 'virtlockd' | 'admin', id: number, fd: number, pid: number): [string, CustodyEntry] {
  const record: ClientRecord = {
    kind: 'client',
    server,
    id,
    connectedAt: 1_700_000_000_000 + id,
    peer: { pid, uid: 0, gid: 0 },
    restricted: false,
    owner: server === 'virtlockd' ? { uuid: '00000000-0000-4000-8000-000000000001', name: 'vm', id: 1, pid } : null,
    registeredAt: server === 'virtlockd' ? 1_700_000_000_100 : 0,
  };
  return [custodyKey(record), { record, fd }];
}

test('admin clients are written to the admin server and read back', () => {
  const custody = [client('virtlockd', 1, 20, 501), client('admin', 1, 21, 602), client('admin', 7, 22, 603)];
  const doc = documentFromCustody(
    {
      custody,
      listeners: [
        { name: 'lock', fd: 3, boundPath: '/run/x/holdfastd-sock' },
        { name: 'admin', fd: 4, boundPath: '/run/x/holdfastd-admin-sock' },
      ],
      maxClients: 128,
      adminMaxClients: 5,
      pidFileFd: null,
      childPids: [],
      generation: 2,
      upgrades: 1,
      workerRestarts: 0,
      counters: { upgradeRefusals: 0, workerSwaps: 0, swapFailures: 0 },
      adminLogLevel: null,
      carriedWorker: null,
    },
    4242,
  );
  const admin = doc.daemon.servers.admin!;
  assert.deepEqual(admin.clients.map((c) => [c.id, c.sock.fd, c.privateData]), [
    [1, 21, {}],
    [7, 22, {}],
  ]);
  assert.equal(admin.next_client_id, 8);
  assert.equal(doc.daemon.servers.virtlockd.clients.length, 1);
  const checked = validateStateDocument(JSON.parse(JSON.stringify(doc)));
  assert.ok(checked.ok, checked.ok ? '' : checked.errors.join('\n'));

  const back = new Map(recordsFromDocument(doc));
  for (const [key, entry] of custody) {
    const restored = back.get(key);
    assert.ok(restored, `${key} read back`);
    assert.equal(restored.fd, entry.fd);
    const r = restored.record as ClientRecord;
    const e = entry.record as ClientRecord;
    assert.deepEqual([r.server, r.id, r.connectedAt, r.peer.pid, r.peer.uid, r.owner], [e.server, e.id, e.connectedAt, e.peer.pid, e.peer.uid, e.owner]);
  }
});
