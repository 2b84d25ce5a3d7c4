// The host lease against a real 3-member etcd: granted and kept alive in etcd; a lost leader costs nothing;
// a lost etcd ends the lease on our side (the 'deadline-passed' event) before etcd could expire it, and a new
// lease follows when etcd is back, the old one never renewed again; the lease carries over to a successor
// process, unless its deadline passed meanwhile; and a blocked event loop does not stretch the deadline.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { Etcd3 } from 'etcd3';
import pino from 'pino';
import { etcdClientOptions } from '../../src/shared/cluster/etcd-client-options';
import { safetyMarginMs } from '../../src/supervisor/cluster/safe-deadline';
import { HostLease, type HostLeaseOptions } from '../../src/supervisor/cluster/host-lease';
import { startEtcdCluster, type EtcdCluster } from '../fixtures/etcd-cluster';
import { sleep, waitFor } from '../fixtures/deadline';

// 4 s: a renewal every 1.3 s and the safe deadline 3.2 s after one, so that a leader election on a loaded
// machine (seen to take past 1.5 s there) never reaches the deadline.
const TTL_MS = 4_000;
const NS_PER_MS = 1_000_000n;
// Bounds on hangs, not timing checks.
const GRANT_DEADLINE_MS = 10_000;

let cluster: EtcdCluster;
const logLines: string[] = [];
const log = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } }));
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  cluster = await startEtcdCluster();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  logLines.length = 0;
});
after(async () => {
  await cluster?.close();
});

function newClient(): Etcd3 {
  const client = new Etcd3(etcdClientOptions({ endpoints: cluster.endpoints, tls: { caFile: null, certFile: null, keyFile: null }, auth: null }));
  cleanups.push(() => client.close());
  return client;
}

interface Recorded {
  lease: HostLease;
  events: { name: string; id: string | null; atNs: bigint; lastAckSentNs: bigint | null }[];
}

/** A HostLease whose events are recorded with the monotonic time they came at, stopped after the test. */
function newLease(extra: Partial<HostLeaseOptions> = {}): Recorded {
  const lease = new HostLease({ client: newClient(), ttlMs: TTL_MS, log, ...extra });
  const events: Recorded['events'] = [];
  let lastAckSentNs: bigint | null = null;
  lease.on('granted', (id) => {
    lastAckSentNs = lease.lastAckSentNs;
    events.push({ name: 'granted', id, atNs: process.hrtime.bigint(), lastAckSentNs });
  });
  lease.on('renewed', () => {
    lastAckSentNs = lease.lastAckSentNs;
    events.push({ name: 'renewed', id: lease.id, atNs: process.hrtime.bigint(), lastAckSentNs });
  });
  lease.on('lost', (id) => events.push({ name: 'lost', id, atNs: process.hrtime.bigint(), lastAckSentNs }));
  // The time is taken first thing in the listener: this is where the supervisor fences.
  lease.on('deadline-passed', (id) => events.push({ name: 'deadline-passed', id, atNs: process.hrtime.bigint(), lastAckSentNs }));
  cleanups.push(() => lease.stop({ revoke: true }));
  return { lease, events };
}

/** etcd's remaining TTL of `id` in seconds (-1 once expired or revoked), asked of a client of the test's own. */
async function etcdTtl(id: string): Promise<number> {
  const client = newClient();
  return Number((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL);
}

const names = (r: Recorded) => r.events.map((e) => e.name);
const logs = () => logLines.join('');

test('a lease is granted and renewed every TTL/3; etcd keeps its TTL up well past one TTL', async () => {
  const r = newLease();
  r.lease.start();
  assert.equal(r.lease.status().state, 'granting');
  const id = await waitFor(() => r.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  assert.equal(r.events[0]!.name, 'granted');
  assert.equal(r.events[0]!.id, id);
  await sleep(2 * TTL_MS);
  assert.equal(r.lease.id, id);
  assert.ok(names(r).filter((n) => n === 'renewed').length >= 3, `events: ${names(r).join(' ')}`);
  assert.ok(!names(r).includes('deadline-passed'));
  assert.ok((await etcdTtl(id)) > 0, 'etcd let the lease expire');
  const status = r.lease.status();
  assert.equal(status.state, 'held');
  assert.equal(status.id, id);
  assert.equal(status.ttlMs, TTL_MS);
  assert.ok(status.msLeft! > 0 && status.msLeft! <= TTL_MS);
  assert.ok(status.keepalivesAcked >= 3 && status.keepalivesSent >= status.keepalivesAcked);
  assert.equal(status.deadlinesPassed, 0);
  assert.ok(Date.now() - status.lastRenewedAt! < TTL_MS);
  assert.deepEqual(r.lease.carry(), { id, lastAckSentNs: r.lease.lastAckSentNs });

  await r.lease.stop({ revoke: true });
  assert.equal(r.lease.id, null);
  assert.equal(await etcdTtl(id), -1, 'stop({ revoke: true }) left the lease in etcd');
});

test('the leader killed: no deadline passes, the same lease lives on', async () => {
  const r = newLease();
  r.lease.start();
  const id = await waitFor(() => r.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  const leader = await cluster.leaderIndex();
  await cluster.kill(leader);
  cleanups.push(() => cluster.startAll());
  await sleep(2 * TTL_MS);
  assert.ok(!names(r).includes('deadline-passed'), `events: ${names(r).join(' ')}\n${logs()}`);
  assert.equal(r.lease.id, id);
  const renewedAfterKill = r.events.filter((e) => e.name === 'renewed').length;
  assert.ok(renewedAfterKill >= 3, `events: ${names(r).join(' ')}`);
  assert.ok((await etcdTtl(id)) > 0);
});

test('every member stopped: deadline-passed comes before etcd could expire the lease; after a restart a new lease, the old one never renewed', async () => {
  const r = newLease();
  r.lease.start();
  const oldId = await waitFor(() => r.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  await waitFor(() => names(r).includes('renewed'), GRANT_DEADLINE_MS, 'a first renewal');
  const stoppedAtNs = process.hrtime.bigint();
  await cluster.stopAll();
  cleanups.push(() => cluster.startAll());

  const passed = await waitFor(() => r.events.find((e) => e.name === 'deadline-passed'), 3 * TTL_MS, () => `deadline-passed:\n${logs()}`);
  assert.equal(passed.id, oldId);
  assert.equal(r.lease.id, null);
  assert.equal(r.lease.status().state, 'lapsed');
  assert.equal(r.lease.status().deadlinesPassed, 1);
  // etcd renewed the lease at the earliest when the last acknowledged keepalive was sent, and expires it no
  // sooner than a TTL later (by its clock); we fenced at least the margin before that, by ours.
  const lastAckSentNs = passed.lastAckSentNs!;
  assert.ok(lastAckSentNs <= stoppedAtNs, 'an ack was sent after etcd was stopped');
  const etcdExpiryNs = lastAckSentNs + BigInt(TTL_MS) * NS_PER_MS;
  const marginNs = BigInt(safetyMarginMs(TTL_MS)) * NS_PER_MS;
  assert.ok(passed.atNs <= etcdExpiryNs - marginNs, `deadline-passed ${(etcdExpiryNs - passed.atNs) / NS_PER_MS} ms before etcd's expiry, less than the margin`);
  // ... and not before the safe deadline either (the lease is not given up while still safe).
  assert.ok(passed.atNs >= lastAckSentNs + (BigInt(TTL_MS) * NS_PER_MS * 100n) / 101n - marginNs);

  await cluster.startAll();
  const granted = await waitFor(() => r.events.find((e) => e.name === 'granted' && e.id !== oldId), GRANT_DEADLINE_MS, () => `a new grant:\n${logs()}`);
  assert.notEqual(granted.id, oldId);
  assert.equal(r.lease.id, granted.id);
  assert.equal(r.lease.status().state, 'held');
  await sleep(TTL_MS);
  const afterPassed = r.events.slice(r.events.indexOf(passed) + 1);
  assert.ok(afterPassed.every((e) => e.id !== oldId), `the old lease came back: ${JSON.stringify(afterPassed.map((e) => [e.name, e.id]))}`);
  assert.ok(afterPassed.some((e) => e.name === 'renewed' && e.id === granted.id));
  // The old lease is revoked in etcd once it answers (it would otherwise live a TTL from the new leader on).
  await waitFor(async () => (await etcdTtl(oldId)) === -1, GRANT_DEADLINE_MS, 'the old lease to be revoked');
  assert.ok((await etcdTtl(granted.id!)) > 0);
});

test('etcd frozen with keepalives in flight, thawed at the deadline: their late answers do not revive the lease', async () => {
  const r = newLease();
  let pids: number[] = [];
  let frozen = false;
  // Freeze etcd right after a renewal, so the next keepalives go out and hang; thaw it where we fence.
  r.lease.on('renewed', () => {
    if (frozen || r.events.filter((e) => e.name === 'renewed').length < 2) return;
    frozen = true;
    pids = cluster.members.map((m) => m.pid!);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
  });
  r.lease.on('deadline-passed', () => {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  });
  cleanups.push(() => {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  });
  r.lease.start();
  const oldId = await waitFor(() => r.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  const passed = await waitFor(() => r.events.find((e) => e.name === 'deadline-passed'), 3 * TTL_MS, () => `deadline-passed:\n${logs()}`);
  assert.equal(passed.id, oldId);
  const granted = await waitFor(() => r.events.find((e) => e.name === 'granted' && e.id !== oldId), GRANT_DEADLINE_MS, () => `a new grant:\n${logs()}`);
  await waitFor(() => logs().includes('abandoned lease: ignored'), GRANT_DEADLINE_MS, () => `a late answer for the old lease:\n${logs()}`);
  const afterPassed = r.events.slice(r.events.indexOf(passed) + 1);
  assert.ok(afterPassed.every((e) => e.id !== oldId), `the old lease came back: ${JSON.stringify(afterPassed.map((e) => [e.name, e.id]))}`);
  assert.equal(r.lease.id, granted.id);
  await waitFor(async () => (await etcdTtl(oldId)) === -1, GRANT_DEADLINE_MS, 'the old lease to be revoked');
});

test('carry() resumes the lease in a second HostLease with its own client, which keeps it alive', async () => {
  const first = newLease();
  first.lease.start();
  const id = await waitFor(() => first.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  await first.lease.stop({ revoke: false });
  const carried = first.lease.carry();
  assert.deepEqual(carried, { id, lastAckSentNs: first.lease.lastAckSentNs });

  const second = newLease({ resume: carried });
  second.lease.start();
  assert.equal(second.lease.id, id);
  assert.equal(second.lease.status().state, 'held');
  await sleep(2 * TTL_MS);
  assert.equal(second.lease.id, id);
  assert.ok(!names(second).includes('deadline-passed') && !names(second).includes('granted'), `events: ${names(second).join(' ')}`);
  assert.ok(names(second).includes('renewed'));
  assert.ok((await etcdTtl(id)) > 0, 'the resumed lease expired in etcd');
});

test('a carried lease past its safe deadline: deadline-passed within start(), never used, a new lease granted', async () => {
  const first = newLease();
  first.lease.start();
  const id = await waitFor(() => first.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  await first.lease.stop({ revoke: false });
  const stale = { id, lastAckSentNs: process.hrtime.bigint() - BigInt(TTL_MS) * NS_PER_MS };

  const second = newLease({ resume: stale });
  second.lease.start();
  assert.deepEqual(second.events.map((e) => [e.name, e.id]), [['deadline-passed', id]]);
  assert.equal(second.lease.id, null);
  assert.equal(second.lease.status().state, 'lapsed');
  assert.equal(second.lease.status().keepalivesSent, 0, 'a keepalive went out for the stale lease');
  const granted = await waitFor(() => second.events.find((e) => e.name === 'granted'), GRANT_DEADLINE_MS, () => `a new grant:\n${logs()}`);
  assert.notEqual(granted.id, id);
  await waitFor(async () => (await etcdTtl(id)) === -1, GRANT_DEADLINE_MS, 'the stale lease to be revoked');
});

test('an event loop blocked past the deadline: deadline-passed as soon as it runs again, before any renewal', async () => {
  const r = newLease();
  r.lease.start();
  const id = await waitFor(() => r.lease.id, GRANT_DEADLINE_MS, () => `a grant:\n${logs()}`);
  const deadlineNs = r.lease.deadlineNs!;
  // etcd stays up and keeps answering; only this process does not run.
  while (process.hrtime.bigint() < deadlineNs + 50n * NS_PER_MS) {
    // busy: no timer, no I/O callback
  }
  const blockedEvents = r.events.length;
  await waitFor(() => r.events.length > blockedEvents, GRANT_DEADLINE_MS, 'an event after the block');
  assert.deepEqual([r.events[blockedEvents]!.name, r.events[blockedEvents]!.id], ['deadline-passed', id], `events: ${names(r).join(' ')}`);
  assert.ok(r.events.slice(blockedEvents + 1).every((e) => e.id !== id));
});
