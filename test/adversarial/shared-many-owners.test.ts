// One file acquired SHARED 20,000 times (eight connections, 2,500 each; the old code died past ~17,800).
// The resource's owner list grows with every acquire; no commit may outgrow the control channel (the worker
// must not die), the lock stays held, and a worker that replaces a killed one adopts the whole list (far
// more than one datagram) and serves on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { stopWithin } from './bounds';
import { settleWithin, within } from '../fixtures/deadline';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { fileId, locksOn } from '../fixtures/proc-locks';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

const CLIENTS = 8;
const PER_CLIENT = 2500;
const SHARED = 1;
const RESOURCE_BUSY = 87;

async function owner(socket: string, n: number): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  // Pids that are never real: nobody is killed, and closing does not release (the pid is not the peer's).
  await client.register({ uuid: '00000000-0000-4000-8000-00000000500d', name: `sharer-${n}`, id: n + 1, pid: 0x7fd00000 + n });
  return client;
}

test(`one file acquired SHARED ${CLIENTS * PER_CLIENT} times: no worker dies, the lock holds`, { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-shared-'));
  const daemon = await startHoldfast({ dir }).catch(async (err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const clients: LockClient[] = [];
  try {
    const disk = join(dir, 'shared.img');
    writeFileSync(disk, '');
    const id = fileId(disk);
    for (let n = 0; n < CLIENTS; n++) clients.push(await within(5_000, 'REGISTER', owner(daemon.socket, n)));
    const started = Date.now();
    await within(30_000, 'shared ACQUIREs', Promise.all(clients.map((c) => Promise.all(Array.from({ length: PER_CLIENT }, () => c.acquire('', disk, SHARED))))));
    t.diagnostic(`${CLIENTS * PER_CLIENT} shared acquires in ${Date.now() - started} ms`);
    assert.equal(locksOn(id).filter((l) => l.type === 'READ').length, 1, 'the shared lock is held');
    assert.doesNotMatch(daemon.logs(), /worker died|crash-looping/, 'no worker died while acquiring');

    // A replacement worker adopts the resource with its whole owner list and serves on.
    const victim = await workerPid(daemon.pid, 5_000);
    process.kill(victim, 'SIGKILL');
    await nextWorkerPid(daemon.pid, victim, 15_000);
    const late = await within(10_000, 'REGISTER after the kill', owner(daemon.socket, CLIENTS));
    clients.push(late);
    await assert.rejects(within(5_000, 'exclusive ACQUIRE', late.acquire('', disk, 0)), (err: unknown) => err instanceof LockError && err.code === RESOURCE_BUSY);
    await within(5_000, 'ACQUIRE', late.acquire('', disk, SHARED));
    await within(5_000, 'RELEASE', late.release('', disk, 0));
    assert.equal(locksOn(id).filter((l) => l.type === 'READ').length, 1, 'the shared lock is still held');

    // Every owner lets go of every hold: the last release frees the file.
    await within(30_000, 'RELEASEs', Promise.all(clients.slice(0, CLIENTS).map((c) => Promise.all(Array.from({ length: PER_CLIENT }, () => c.release('', disk, 0))))));
    await settleWithin(() => locksOn(id).length === 0, 5_000, 20);
    assert.equal(locksOn(id).length, 0, 'the lock is gone after the last release');
    assert.equal((daemon.logs().match(/worker died/g) ?? []).length, 1, 'only the worker this test killed died');
  } finally {
    for (const c of clients) c.close();
    await stopWithin(daemon, 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
