// sd_notify as systemd would see it: a test-local datagram socket plays $NOTIFY_SOCKET and records READY,
// STATUS (clients and locks held), RELOADING → READY around a SIGUSR1 upgrade, MAINPID and WATCHDOG pings.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { NotifyReceiver, type NotifyMessage } from '../fixtures/notify-receiver';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

/** The environment a process was exec'ed with, as /proc shows it. */
function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** The READY/RELOADING/STOPPING state changes in order (STATUS-only and WATCHDOG messages left out). */
function stateChanges(messages: NotifyMessage[]): string[] {
  return messages.map((m) => ['READY', 'RELOADING', 'STOPPING'].find((k) => m.fields.get(k) === '1')).filter((k): k is string => k !== undefined);
}

async function withDaemon(
  name: string,
  env: (dir: string, receiver: NotifyReceiver) => NodeJS.ProcessEnv,
  body: (daemon: HoldfastHandle, receiver: NotifyReceiver, dir: string) => Promise<void>,
  options: { launcher?: string[]; receiverPath?: boolean } = {},
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-${name}-`));
  const receiver = new NotifyReceiver(options.receiverPath ? join(dir, 'notify') : undefined);
  let daemon: HoldfastHandle | null = null;
  try {
    daemon = await startHoldfast({ dir, extraArgs: ['-v'], env: env(dir, receiver), launcher: options.launcher });
    await body(daemon, receiver, dir);
  } finally {
    await daemon?.stop();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('READY=1 once serving; STATUS= follows clients and locks; RELOADING=1 + MONOTONIC_USEC then READY=1 around an upgrade; MAINPID stays the supervisor', async () => {
  await withDaemon('notify', (_dir, receiver) => ({ NOTIFY_SOCKET: receiver.address }), async (daemon, receiver, dir) => {
    await receiver.waitFor('READY=1', (ms) => ms.some((m) => m.fields.get('READY') === '1'));
    const ready = receiver.with('READY', '1')[0]!;
    assert.equal(ready.fields.get('MAINPID'), String(daemon.pid));
    assert.match(ready.fields.get('STATUS') ?? '', /^serving; \d+ clients, \d+ locks held$/);
    assert.equal(receiver.with('WATCHDOG').length, 0, 'watchdog pings without WATCHDOG_USEC');

    // Two clients: one holds two exclusive locks, the other one shared lock.
    const disks = ['a.img', 'b.img', 'c.img'].map((f) => join(dir, f));
    disks.forEach((f) => writeFileSync(f, ''));
    const first = await LockClient.connect(daemon.socket);
    await first.register({ uuid: '00000000-0000-4000-8000-00000000b001', name: 'vm1', id: 1, pid: 0x7ff40001 });
    await first.acquire('', disks[0]!, 0);
    await first.acquire('', disks[1]!, 0);
    const second = await LockClient.connect(daemon.socket);
    await second.register({ uuid: '00000000-0000-4000-8000-00000000b002', name: 'vm2', id: 2, pid: 0x7ff40002 });
    await second.acquire('', disks[2]!, 1);
    await receiver.waitFor('STATUS= with 2 clients and 3 locks', () => receiver.with('STATUS', 'serving; 2 clients, 3 locks held').length > 0);

    // One releases and leaves (its owner pid is not its own, so leaving alone would keep the lock).
    await second.release('', disks[2]!, 0);
    await second.close();
    await receiver.waitFor('STATUS= with 1 client and 2 locks', () => receiver.with('STATUS', 'serving; 1 clients, 2 locks held').length > 0);

    // The upgrade: RELOADING=1 stamped with CLOCK_MONOTONIC (Node's hrtime is that clock), then READY=1
    // from the new image, same pid, with the same clients and locks.
    const worker = await workerPid(daemon.pid);
    const before = process.hrtime.bigint() / 1000n;
    process.kill(daemon.pid, 'SIGUSR1');
    await receiver.waitFor('READY=1 after the upgrade', (ms) => ms.filter((m) => m.fields.get('READY') === '1').length === 2);
    const after = process.hrtime.bigint() / 1000n;
    assert.deepEqual(stateChanges(receiver.messages), ['READY', 'RELOADING', 'READY']);
    const reloading = receiver.with('RELOADING', '1')[0]!;
    const stamp = BigInt(reloading.fields.get('MONOTONIC_USEC') ?? '-1');
    assert.ok(stamp >= before && stamp <= after, `MONOTONIC_USEC=${stamp} is not between ${before} and ${after}`);
    const readyAgain = receiver.with('READY', '1')[1]!;
    assert.equal(readyAgain.fields.get('MAINPID'), String(daemon.pid), 'the supervisor pid changed across the upgrade');
    assert.equal(readyAgain.fields.get('STATUS'), 'serving; 1 clients, 2 locks held');
    assert.notEqual(await nextWorkerPid(daemon.pid, worker), worker, 'the worker was not replaced by the upgrade');

    await first.release('', disks[0]!, 0);
    await receiver.waitFor('STATUS= with 1 lock after the upgrade', () => receiver.with('STATUS', 'serving; 1 clients, 1 locks held').length > 0);
    await first.close();

    // The last state change before exiting: STOPPING=1.
    await daemon.stop();
    await receiver.waitFor('STOPPING=1', () => receiver.with('STOPPING', '1').length > 0);
    assert.deepEqual(stateChanges(receiver.messages), ['READY', 'RELOADING', 'READY', 'STOPPING']);
  });
});

test('WATCHDOG=1 pings at half WATCHDOG_USEC, to a path NOTIFY_SOCKET, across an upgrade; workers never see the watchdog variables', async () => {
  // The launcher sets WATCHDOG_PID to the daemon's own pid, as systemd does (sh execs it: same pid).
  const launcher = ['sh', '-c', 'WATCHDOG_PID=$$ exec "$0" "$@"'];
  await withDaemon('watchdog', (_dir, receiver) => ({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '200000' }), async (daemon, receiver) => {
    await receiver.waitFor('READY=1', (ms) => ms.some((m) => m.fields.get('READY') === '1'));
    // The first ping goes out before READY=1, as soon as the supervisor starts.
    assert.ok(receiver.messages.findIndex((m) => m.fields.has('WATCHDOG')) < receiver.messages.findIndex((m) => m.fields.has('READY')));
    await receiver.waitFor('3 watchdog pings', () => receiver.with('WATCHDOG', '1').length >= 3);
    assert.equal(environOf(daemon.pid).get('WATCHDOG_PID'), String(daemon.pid));

    const worker = await workerPid(daemon.pid);
    for (const key of ['WATCHDOG_USEC', 'WATCHDOG_PID', 'NOTIFY_SOCKET']) assert.equal(environOf(worker).has(key), false, `the worker got ${key}`);

    process.kill(daemon.pid, 'SIGUSR1');
    await receiver.waitFor('READY=1 after the upgrade', (ms) => ms.filter((m) => m.fields.get('READY') === '1').length === 2);
    const pingsBefore = receiver.with('WATCHDOG', '1').length;
    await receiver.waitFor('3 more watchdog pings after the upgrade', () => receiver.with('WATCHDOG', '1').length >= pingsBefore + 3);
    // The new image was exec'ed with both variables (same pid), and its worker again without them.
    const supervisorEnv = environOf(daemon.pid);
    assert.equal(supervisorEnv.get('WATCHDOG_USEC'), '200000');
    assert.equal(supervisorEnv.get('WATCHDOG_PID'), String(daemon.pid));
    const newWorker = await nextWorkerPid(daemon.pid, worker);
    assert.notEqual(newWorker, worker);
    for (const key of ['WATCHDOG_USEC', 'WATCHDOG_PID', 'NOTIFY_SOCKET']) assert.equal(environOf(newWorker).has(key), false, `the new worker got ${key}`);
  }, { launcher, receiverPath: true });
});

test('WATCHDOG_PID naming another process: no pings', async () => {
  await withDaemon('watchdog-other', (_dir, receiver) => ({ NOTIFY_SOCKET: receiver.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' }), async (daemon, receiver) => {
    await receiver.waitFor('READY=1', (ms) => ms.some((m) => m.fields.get('READY') === '1'));
    // Pings would start before READY=1 (previous test): none came, so none are coming.
    assert.equal(receiver.with('WATCHDOG').length, 0);
    assert.equal(environOf(await workerPid(daemon.pid)).has('WATCHDOG_USEC'), false);
  });
});
