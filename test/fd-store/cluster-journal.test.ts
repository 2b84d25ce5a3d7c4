// A cluster resource's holds and pending owners reach the fd-store journal the moment custody has them, not
// in the next coalesced write (up to 200 ms later): a supervisor killed in between came back with the lock
// rebuilt from its fd alone, and the resumed lease's sweep deleted the hold while its owner still ran.
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { ResourceRecord } from '../../src/shared/custody/records/resource-record';
import * as native from '../../src/shared/platform/native';
import { Custody } from '../../src/supervisor/custody';
import { FdStore } from '../../src/supervisor/fd-store/fd-store';
import { readJournal } from '../../src/supervisor/fd-store/journal';
import { NotifyReceiver } from '../fixtures/notify-receiver';

test('a cluster hold and a pending owner are journalled at once, not coalesced', () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-cluster-journal-'));
  const receiver = new NotifyReceiver(undefined, { storeFds: true });
  const log = pino({ level: 'silent' });
  try {
    const journalFile = join(dir, 'journal.json');
    const custody = new Custody(log);
    const store = FdStore.start({ NOTIFY_SOCKET: receiver.address }, journalFile, custody, new Map(), log);
    assert.ok(store, 'no fd store');
    const file = join(dir, 'disk');
    writeFileSync(file, '');
    const fd = openSync(file, 'r+');
    assert.equal(native.ofdTryLock(fd, 'write', 0, 1), true);
    const base: ResourceRecord = { kind: 'resource', lockspace: dir, name: 'disk', path: file, flags: 2, owners: [4242], acquiredAt: Date.now(), lockKind: 'ofd' };
    const done = (): void => undefined;
    // The ACQUIRE's first commit: the local lock, its owner pending while etcd is asked.
    custody.apply({ seq: 1, ops: [{ op: 'put', record: { ...base, cluster: { holds: [], pending: [4242] } }, fdIndex: 0 }], reply: null, ack: false }, [fd], new Set(), done);
    assert.deepEqual(readJournal(journalFile, log)?.locks.find((l) => l.name === 'disk')?.cluster, { holds: [], pending: [4242] });
    // Then etcd's answer: the hold.
    const hold = { pid: 4242, key: '/holdfast/holds/x/disk/x', token: '7', rev: '7', lease: '99' };
    custody.apply({ seq: 2, ops: [{ op: 'put', record: { ...base, cluster: { holds: [hold], pending: [] } }, fdIndex: null }], reply: null, ack: false }, [], new Set(), done);
    assert.deepEqual(readJournal(journalFile, log)?.locks.find((l) => l.name === 'disk')?.cluster, { holds: [hold], pending: [] });
    store.flush();
    custody.closeAll();
  } finally {
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
