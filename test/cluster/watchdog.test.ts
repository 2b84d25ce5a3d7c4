// The watchdog's rule, on a regular file standing in for the device (no watchdog device exists in the test
// machine): a pet is one write, the clock against the lease's safe deadline decides whether one is due, and a
// clean stop writes 'V' and closes. A lease here is a plain emitter with a deadline (cluster-watchdog.test.ts
// runs the same code against a real etcd lease in a daemon).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { fstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import type { HostLeaseEvents } from '../../src/supervisor/cluster/host-lease';
import { Watchdog, takeWatchdog } from '../../src/supervisor/cluster/watchdog';
import { sleep } from '../fixtures/deadline';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'holdfast-watchdog-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

class Lease extends EventEmitter<HostLeaseEvents> {
  deadlineNs: bigint | null = null;
  validFor(ms: number): void {
    this.deadlineNs = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  }
}

function device(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, '');
  return file;
}

test('pets only while the safe deadline is ahead: on a renewal, and by the timer between renewals', async () => {
  const file = device('rule');
  const watchdog = Watchdog.open(file, log);
  const lease = new Lease();
  watchdog.follow(lease, 50, 0);
  assert.equal(readFileSync(file, 'latin1'), '', 'no lease: no pet');
  lease.validFor(60_000);
  lease.emit('granted', '1');
  assert.equal(readFileSync(file, 'latin1'), '.');
  lease.emit('renewed', lease.deadlineNs!);
  assert.equal(readFileSync(file, 'latin1'), '..');
  // The timer pets between renewals (50 ms here), only while the deadline is ahead.
  await sleep(180);
  const timed = readFileSync(file, 'latin1').length;
  assert.ok(timed > 2, `the timer petted (${timed} bytes)`);
  // A deadline that passed before anyone said so (a blocked event loop): the clock decides.
  lease.deadlineNs = process.hrtime.bigint() - 1n;
  lease.emit('renewed', lease.deadlineNs);
  await sleep(180);
  assert.equal(readFileSync(file, 'latin1').length, timed, 'petted past the deadline');
  assert.equal(watchdog.status().pets, timed);
  assert.equal(watchdog.status().armed, true);
  watchdog.disarm();
});

test('no pet that would let the device reset the host only after the safe deadline', () => {
  const file = device('timeout');
  const watchdog = Watchdog.open(file, log);
  const lease = new Lease();
  // The deadline is 1 s away: a 2 s device petted now could reset the host a second after it.
  lease.validFor(1000);
  watchdog.follow(lease, 1000, 2000);
  assert.equal(readFileSync(file, 'latin1'), '', 'petted a 2 s device 1 s before the deadline');
  lease.validFor(5000);
  lease.emit('renewed', lease.deadlineNs!);
  assert.equal(readFileSync(file, 'latin1'), '.', 'not petted with the deadline 5 s away');
  watchdog.disarm();
});

test('deadline-passed stops the timer; a new grant starts it again', async () => {
  const file = device('lapse');
  const watchdog = Watchdog.open(file, log);
  const lease = new Lease();
  lease.validFor(60_000);
  watchdog.follow(lease, 30, 0);
  assert.equal(readFileSync(file, 'latin1'), '.', 'a lease held already (resumed): petted at once');
  // HostLease clears the deadline and then says so.
  lease.deadlineNs = null;
  lease.emit('deadline-passed', '1');
  const lapsed = readFileSync(file, 'latin1').length;
  await sleep(120);
  assert.equal(readFileSync(file, 'latin1').length, lapsed);
  lease.validFor(60_000);
  lease.emit('granted', '2');
  assert.equal(readFileSync(file, 'latin1').length, lapsed + 1);
  watchdog.disarm();
});

test('disarm: the magic character last, the fd closed, no pet after; carry() is null then', () => {
  const file = device('disarm');
  const watchdog = Watchdog.open(file, log);
  const lease = new Lease();
  lease.validFor(60_000);
  watchdog.follow(lease, 1000, 0);
  const fd = watchdog.fd!;
  assert.deepEqual(watchdog.carry(), { device: file, fd, pets: 1 });
  watchdog.disarm();
  assert.equal(readFileSync(file, 'latin1'), '.V');
  assert.throws(() => fstatSync(fd), { code: 'EBADF' });
  lease.emit('renewed', lease.deadlineNs!);
  assert.equal(readFileSync(file, 'latin1'), '.V');
  assert.equal(watchdog.carry(), null);
  assert.equal(watchdog.status().armed, false);
});

test('takeWatchdog: keeps a carried device still configured, disarms one no longer configured, refuses a missing one', () => {
  const kept = device('kept');
  const first = Watchdog.open(kept, log);
  const carried = first.carry()!;
  const again = takeWatchdog(kept, carried, log)!;
  assert.equal(again.fd, carried.fd, 'the same open fd');
  const other = device('other');
  const moved = takeWatchdog(other, again.carry(), log)!;
  assert.equal(readFileSync(kept, 'latin1'), 'V', 'the device no longer configured was disarmed');
  assert.equal(moved.device, other);
  moved.disarm();
  assert.equal(takeWatchdog(null, null, log), null);
  const missing = join(dir, 'missing');
  assert.throws(() => takeWatchdog(missing, null, log), { message: `cannot open the cluster watchdog device ${missing}: ENOENT` });
});
