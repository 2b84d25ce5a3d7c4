// An owner that registered with its own pid and holds 3,000 locks disconnects. Its release touches every
// one of those locks in one change set, far more than one control datagram carries: every lock must be
// released, no worker may die over it, and the daemon serves on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { stopWithin } from './bounds';
import { settleWithin, sleep, within } from '../fixtures/deadline';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';
import { countHeld } from '../fixtures/lock-prober';

const LOCKS = 3000;

test(`an owner holding ${LOCKS} locks disconnects: all released, no worker dies`, { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-many-locks-'));
  const daemon = await startHoldfast({ dir, config: 'owner_kill_term_grace_ms = 200\nowner_kill_give_up_ms = 1000\n' }).catch(async (err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let owner: OwnerProcess | null = null;
  try {
    const prefix = join(dir, 'disk-');
    const paths = Array.from({ length: LOCKS }, (_, i) => `${prefix}${i}`);
    for (const p of paths) writeFileSync(p, '');
    // Probed from another process (a conflicting OFD try-lock per file): /proc/locks can skip lines
    // while others change the table under a long read.
    const heldOn = (): Promise<number> => countHeld(prefix, LOCKS);

    owner = await startOwnerProcess({ socket: daemon.socket, acquireMany: { lockspace: '', prefix, count: LOCKS } });
    assert.equal(await heldOn(), LOCKS, 'every lock held before the disconnect');

    await owner.closeConnection();
    // virtlockd's rule: the owner's locks go and the owner is killed.
    await within(10_000, 'the owner killed after its disconnect', owner.exited);
    await settleWithin(async () => (await heldOn()) === 0, 10_000, 50);
    assert.equal(await heldOn(), 0, 'every lock released after the disconnect');
    // And stays released (a replacement worker would take back the locks of an unfiled release).
    // Had the change set killed the worker, its replacement would restore the unfiled locks as it starts:
    // 500 ms covers a worker's spawn and restore.
    await sleep(500);
    assert.equal(await heldOn(), 0, 'every lock still released');

    // Serving on: a new owner takes one of the files exclusively.
    const next = await within(5_000, 'connect', LockClient.connect(daemon.socket));
    try {
      await within(5_000, 'REGISTER', next.register({ uuid: '00000000-0000-4000-8000-000000000b0b', name: 'next', id: 2, pid: 0x7fe00001 }));
      await within(5_000, 'ACQUIRE', next.acquire('', paths[0]!, 0));
      await within(5_000, 'RELEASE', next.release('', paths[0]!, 0));
    } finally {
      next.close();
    }
    assert.doesNotMatch(daemon.logs(), /worker died|crash-looping/, 'no worker died');
  } finally {
    await owner?.dispose();
    await stopWithin(daemon, 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
