// File descriptor exhaustion: a client acquires files until the daemon runs out of fds (the daemon runs
// under a hard RLIMIT_NOFILE of 512). The refusal must be a libvirt error; every lock answered OK must
// really be held (also across a SIGKILL of the worker: custody holds them all); after some releases new
// connections are served, a worker swap works, and no commit ever lost its fds on the way.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AdminClient } from '../../src/client/admin-client';
import { LockClient, LockError } from '../../src/client/lock-client';
import { settleWithin, sleep, within } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

const HARD_LIMIT = 512;
const AUTOCREATE = 2;
// libvirt's VIR_ERR_SYSTEM_ERROR in VIR_FROM_LOCKSPACE, as virtlockd answers a failed open.
const SYSTEM_ERROR = 38;
const LOCKSPACE_DOMAIN = 51;
const EMFILE = 24;
const CHURNERS = 8;
const CHURN_ROUNDS = 20;

// The supervisor refuses a datagram whose fds did not all fit (MSG_CTRUNC): the commit is lost.
function assertNoLostCommits(logs: string): void {
  const lost = logs.split('\n').filter((line) => /truncated|unreadable control message/.test(line));
  assert.deepEqual(lost, [], 'the supervisor lost commits');
}

async function registeredClient(socket: string, id: number): Promise<LockClient> {
  const client = await within(5_000, 'connect', LockClient.connect(socket));
  await within(5_000, 'register', client.register({ uuid: `00000000-0000-4000-8000-0000000fd${String(id).padStart(3, '0')}`, name: `fd${id}`, id, pid: 0x7ff70000 + id }));
  return client;
}

test('acquiring more files than RLIMIT_NOFILE allows: refused with a libvirt error, every granted lock held', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-fds-'));
  const daemon = await startHoldfast({ dir, launcher: ['prlimit', `--nofile=${HARD_LIMIT}:${HARD_LIMIT}`, '--'] });
  try {
    const client = await registeredClient(daemon.socket, 1);
    // Connections of the same owner (ownership is by owner pid): any of them may release its locks.
    const churners = await Promise.all(Array.from({ length: CHURNERS }, () => registeredClient(daemon.socket, 1)));
    const held: string[] = [];
    let refusal: unknown = null;
    for (let i = 0; i < HARD_LIMIT * 2 && refusal === null; i++) {
      const path = join(dir, `disk-${i}.img`);
      try {
        await within(5_000, `ACQUIRE #${i}`, client.acquire('', path, AUTOCREATE));
        held.push(path);
      } catch (err) {
        refusal = err;
      }
    }
    t.diagnostic(`${held.length} files acquired before the refusal: ${String(refusal)}`);
    assert.ok(refusal instanceof LockError, `the refusal is a libvirt error, not ${String(refusal)}`);
    assert.equal(refusal.code, SYSTEM_ERROR);
    assert.equal(refusal.domain, LOCKSPACE_DOMAIN);
    assert.equal(refusal.virError.int1, EMFILE);
    assert.match(refusal.message, /^Unable to open\/create resource .*disk-\d+\.img: Too many open files$/);
    assert.ok(held.length > HARD_LIMIT / 4, `only ${held.length} locks before the refusal`);

    // The client keeps being served at the limit (another refusal, not a hang).
    await assert.rejects(within(5_000, 'ACQUIRE at the limit', client.acquire('', join(dir, 'one-more.img'), AUTOCREATE)), LockError);

    // Churn at the limit: some connections of the same owner release locks while others take new files,
    // all sent at once, so one turn of the worker can free some fds and open as many others.
    let refusedInChurn = 0;
    for (let round = 0; round < CHURN_ROUNDS; round++) {
      const releasers = churners.slice(0, CHURNERS / 2);
      const acquirers = churners.slice(CHURNERS / 2);
      const released = releasers.map((churner) => {
        const old = held.splice(Math.floor(Math.random() * held.length), 1)[0]!;
        return within(5_000, 'RELEASE in churn', churner.release('', old));
      });
      const acquired = acquirers.map(async (churner, c) => {
        const path = join(dir, `churn-${round}-${c}.img`);
        try {
          await within(5_000, 'ACQUIRE in churn', churner.acquire('', path, AUTOCREATE));
          held.push(path);
        } catch (err) {
          assert.ok(err instanceof LockError && err.code === SYSTEM_ERROR, `churn refusal is not a libvirt system error: ${String(err)}`);
          refusedInChurn++;
        }
      });
      await Promise.all([...released, ...acquired]);
    }
    t.diagnostic(`churn: ${refusedInChurn} of ${CHURN_ROUNDS * churners.length} acquires refused; ${held.length} held`);

    // Every lock answered OK is held, and stays held while the worker is killed and replaced.
    const prober = await startHeldLockProber(held);
    const victim = await workerPid(daemon.pid, 5_000);
    // The prober samples without pause: 100 ms gives it many looks at the locks before the kill.
    await sleep(100);
    process.kill(victim, 'SIGKILL');
    const next = await nextWorkerPid(daemon.pid, victim, 10_000);
    assert.notEqual(next, victim, 'no new worker after the SIGKILL');
    await within(5_000, 'a call after the worker was replaced', client.createLockspace(''));
    // A lock the restore failed to take back is free from then on: 200 ms of unpaused samples see it.
    await sleep(200);
    const probe = await within(10_000, 'prober', prober.stop());
    t.diagnostic(`prober: ${JSON.stringify(probe)}`);
    assertNoLostCommits(daemon.logs());
    assert.equal(probe.misses, 0, `a lock answered OK was free: ${probe.firstMiss}`);

    // Room again: release some, then a new connection is accepted and served.
    for (const path of held.splice(0, 48)) await within(5_000, 'RELEASE', client.release('', path));
    const second = await registeredClient(daemon.socket, 2);
    await within(5_000, 'ACQUIRE after releases', second.acquire('', join(dir, 'after-release.img'), AUTOCREATE));
    second.destroy();

    // A worker swap still works, and the daemon reports its fd use against the limit.
    const admin = await within(5_000, 'admin connect', AdminClient.connect(daemon.adminSocket!));
    const swap = await within(20_000, 'worker swap', admin.swapWorker({ timeoutMs: 15_000 }));
    assert.ok(swap.ok, `worker swap failed: ${swap.reason}`);
    const status = await within(5_000, 'STATUS', admin.status());
    const fds = (status as unknown as { fds?: { supervisor: { used: number; limit: number } | null; worker: { used: number; limit: number } } }).fds;
    assert.ok(fds, 'STATUS reports no fd use');
    assert.equal(fds.supervisor?.limit, HARD_LIMIT, 'the supervisor runs with its soft limit raised to the hard one');
    assert.ok(fds.worker.limit < HARD_LIMIT, 'the worker runs below the supervisor\'s limit');
    assert.ok(fds.worker.used > held.length && fds.worker.used <= fds.worker.limit);
    assert.ok(fds.supervisor!.used > held.length && fds.supervisor!.used <= HARD_LIMIT);
    const metrics = await within(5_000, 'METRICS', admin.metrics());
    assert.match(metrics, /^holdfast_open_fds\{process="supervisor"\} \d+$/m);
    assert.match(metrics, /^holdfast_max_fds\{process="worker"\} \d+$/m);
    await admin.close();

    // Still serving the first client, all along.
    await within(5_000, 'RELEASE after the swap', client.release('', held.pop() ?? ''));
    client.destroy();
    churners.forEach((c) => c.destroy());
    assertNoLostCommits(daemon.logs());
    assert.doesNotMatch(daemon.logs(), /cannot spawn|accept failed/);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connecting more clients than RLIMIT_NOFILE allows: the extra ones are closed at once, the rest served', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-fds-'));
  const daemon = await startHoldfast({ dir, launcher: ['prlimit', `--nofile=${HARD_LIMIT}:${HARD_LIMIT}`, '--'] });
  const clients: LockClient[] = [];
  try {
    // Each connection is answered, or closed by the daemon: never left waiting.
    let closed = 0;
    while (clients.length < HARD_LIMIT && closed === 0) {
      const client = await within(5_000, 'connect', LockClient.connect(daemon.socket));
      try {
        await within(5_000, `call on connection #${clients.length}`, client.createLockspace(''));
        clients.push(client);
      } catch (err) {
        assert.doesNotMatch(String(err), /no answer within/, 'a connection at the limit was left hanging');
        client.destroy();
        closed++;
      }
    }
    assert.equal(closed, 1, `never refused a connection; ${clients.length} served`);
    assert.ok(clients.length > HARD_LIMIT / 4, `only ${clients.length} connections before the refusal`);
    // Everyone admitted is still served; after some leave, newcomers are served again.
    await within(5_000, 'call on the first connection', clients[0]!.createLockspace(''));
    for (const client of clients.splice(0, 8)) client.destroy();
    const served = await settleWithin(async () => {
      const client = await within(5_000, 'connect', LockClient.connect(daemon.socket));
      const answered = await within(5_000, 'call after others left', client.createLockspace('')).then(() => true, () => false);
      if (answered) clients.push(client);
      else client.destroy();
      return answered;
    }, 5_000, 50);
    assert.ok(served, 'no connection served after others left');
    const logs = daemon.logs();
    assertNoLostCommits(logs);
    assert.doesNotMatch(logs, /accept failed/);
    assert.match(logs, /too many open files: closing new connections/);
  } finally {
    clients.forEach((c) => c.destroy());
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
