// holdfast LOCKS comes in pages once its JSON passes a bound: a listing of many locks, whose names sort
// differently by locale than by code unit, must come back whole, each lock once.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../../src/client/admin-client';
import { LockClient } from '../../src/client/lock-client';
import { startHoldfast } from '../fixtures/holdfast-daemon';

const AUTOCREATE = 2;
const LOCKS = 300;

test('holdfast LOCKS across pages lists every lock exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-paging-'));
  const daemon = await startHoldfast({ dir });
  try {
    const lockspace = join(dir, 'ls');
    mkdirSync(lockspace);
    const client = await LockClient.connect(daemon.socket);
    await client.register({ uuid: '00000000-0000-4000-8000-0000000000aa', name: 'pager', id: 1, pid: 0x7ffe0001 });
    await client.createLockspace(lockspace);
    // Upper and lower case, and punctuation, order differently by locale than by code unit; long names
    // make the listing span several pages.
    const names = Array.from({ length: LOCKS }, (_, i) => `${['a', 'B', '_c', 'D-', 'e.'][i % 5]}${'x'.repeat(150)}${i}`);
    for (const name of names) await client.acquire(lockspace, name, AUTOCREATE);
    const admin = await AdminClient.connect(join(dir, 'holdfastd-admin-sock'));
    const listed = (await admin.locks()).map((l) => l.resource);
    await admin.close();
    assert.equal(listed.length, LOCKS, 'each lock once');
    assert.deepEqual([...listed].sort(), [...names].sort());
    await client.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
