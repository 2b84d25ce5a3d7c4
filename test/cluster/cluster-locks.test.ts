// Cluster lockspaces against a real 3-member etcd: two holdfast "hosts" on this machine, each in its own
// mount namespace with its own directory mounted on the same lockspace path (test/fixtures/cluster-host.ts),
// so their local locks never meet and only etcd can make them conflict. Host A reaches etcd through
// severable proxies (a partition of A alone); host B directly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { LockClient } from '../../src/client/lock-client';
import { DaemonError } from '../../src/client/daemon-error';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { type ClusterHost, startClusterHost } from '../fixtures/cluster-host';
import { occurrences, sleep, waitFor, waitForLog, within } from '../fixtures/deadline';
import { type ExclusiveHold, exclusiveHoldIn } from '../fixtures/etcd-holds';
import { clusterConfig } from '../fixtures/cluster-config';
import { probeLock } from '../fixtures/lock-prober';
import { type EtcdCluster, startEtcdCluster } from '../fixtures/etcd-cluster';
import { childPids, nextWorkerPid, workerPid } from '../fixtures/process-info';
import { type SeverableProxy, startSeverableProxy } from '../fixtures/severable-proxy';

// 5 s: the safe deadline then comes ~4 s after a renewal, far enough for a leader election on a loaded machine.
const TTL_MS = 5000;
// AUTOCREATE, as libvirt acquires in a file lockspace: each host creates the file in its own directory.
const EXCLUSIVE = 2;
const SHARED = 3;

let etcd: EtcdCluster;
let proxies: SeverableProxy[];
let a: ClusterHost;
let b: ClusterHost;
let shared: string;
let prefix: string;
let store: Etcd3;
/** While this file exists, host A's worker does not take up a hold etcd committed (HOLDFASTD_TEST_CLUSTER_GATE). */
let gate: string;

function config(host: string, endpoints: string[]): string {
  // Disk paths under the shared directory, in the default lockspace (libvirt's direct lockspace), are cluster-wide too.
  return clusterConfig({ endpoints, lockspaces: [shared], pathPrefixes: [`${shared}/direct/`], hostId: host, ttlMs: TTL_MS, keyPrefix: prefix });
}

/** A client of `host` registered as owner `pid` (default: a pid of its own that no process has). */
async function owner(host: ClusterHost, pid: number): Promise<LockClient> {
  const client = await LockClient.connect(host.socket);
  await client.register({ uuid: randomUUID(), name: `vm-${pid}`, id: 1, pid });
  return client;
}

/** The libvirt error code an ACQUIRE got, or 0 if it was granted. */
async function acquireCode(client: LockClient, name: string, flags: number): Promise<number> {
  try {
    await client.acquire(shared, name, flags);
    return 0;
  } catch (err) {
    if (err instanceof DaemonError) return err.code;
    throw err;
  }
}

/** Waits until `host` holds a lease (before it, a cluster ACQUIRE is refused as the cluster being unavailable). */
async function leased(host: ClusterHost): Promise<void> {
  const probe = await owner(host, 0x7e000000 + Math.floor(Math.random() * 0xffff));
  try {
    const name = `lease-probe-${host.name}-${randomUUID()}`;
    await waitFor(async () => (await acquireCode(probe, name, EXCLUSIVE)) === 0, 15_000, `host ${host.name} to hold a lease`, 100);
    await probe.release(shared, name);
  } finally {
    probe.close();
  }
}

/**
 * After a partition of A: once a TTL has passed, its lease was either renewed in time or has lapsed (and A
 * fenced); then A holds a lease that will not lapse on account of the partition.
 */
async function settled(host: ClusterHost): Promise<void> {
  await sleep(TTL_MS);
  await leased(host);
}

/** How many fences `host` has logged so far. */
function fences(host: ClusterHost): number {
  return occurrences(host.logs(), /"fenced: SIGKILLed/);
}

/** The etcd record of the exclusive hold of `name`, or null. */
function exclusiveHold(name: string): Promise<ExclusiveHold | null> {
  return exclusiveHoldIn(store, prefix, shared, name);
}

before(async () => {
  etcd = await startEtcdCluster();
  store = new Etcd3({ hosts: etcd.endpoints });
  proxies = await Promise.all(etcd.endpoints.map((url) => startSeverableProxy(url)));
  shared = mkdtempSync(join(tmpdir(), 'holdfast-cluster-lockspace-'));
  prefix = `/holdfast-test-${randomUUID()}/`;
  gate = join(mkdtempSync(join(tmpdir(), 'holdfast-cluster-gate-')), 'gate');
  [a, b] = await Promise.all([
    startClusterHost({ name: 'a', sharedPath: shared, config: config('host-a', proxies.map((p) => p.url)), env: { HOLDFASTD_TEST_CLUSTER_GATE: gate } }),
    startClusterHost({ name: 'b', sharedPath: shared, config: config('host-b', etcd.endpoints) }),
  ]);
  shared = a.sharedPath;
  for (const host of [a, b]) {
    mkdirSync(join(host.privateDir, 'direct'));
    const client = await LockClient.connect(host.socket);
    await client.createLockspace(shared);
    client.close();
  }
  await Promise.all([leased(a), leased(b)]);
});

after(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all((proxies ?? []).map((p) => p.close()));
  store?.close();
  await etcd?.close();
  rmSync(shared, { recursive: true, force: true });
  if (gate) rmSync(dirname(gate), { recursive: true, force: true });
});

test('an exclusive hold on one host excludes every other host; etcd records the owner and a fencing token', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-x', flags: EXCLUSIVE }] });
  const other = await owner(b, 0x7e100001);
  try {
    assert.equal(await acquireCode(other, 'disk-x', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    assert.equal(await acquireCode(other, 'disk-x', SHARED), VirErrorCode.RESOURCE_BUSY);
    const hold = await exclusiveHold('disk-x');
    assert.ok(hold, 'no hold in etcd');
    assert.equal(hold.host, 'host-a');
    assert.equal(hold.pid, holder.pid);
    assert.notEqual(hold.lease, '0', 'the hold is not on the host lease');
    assert.ok(BigInt(hold.token) > 0n);
  } finally {
    other.close();
    await holder.dispose();
  }
});

test('a disk path under cluster_path_prefixes (the default lockspace) is cluster-wide too; one outside is not', async () => {
  const onA = await owner(a, 0x7e10000e);
  const onB = await owner(b, 0x7e10000f);
  const inside = `${shared}/direct/vm-1.img`;
  const outsideName = `elsewhere-${randomUUID()}.img`;
  const outside = `${shared}/${outsideName}`;
  try {
    await onA.acquire('', inside, EXCLUSIVE);
    await assert.rejects(onB.acquire('', inside, EXCLUSIVE), (err: DaemonError) => err.code === VirErrorCode.RESOURCE_BUSY);
    // Not cluster-wide: each host locks its own file at that path and never asks etcd.
    // Each host sees its own directory at `shared`: the file exists on both, as two different files.
    for (const host of [a, b]) writeFileSync(join(host.privateDir, outsideName), '');
    await onA.acquire('', outside, 0);
    await onB.acquire('', outside, 0).catch((err: DaemonError) => assert.fail(`refused outside the prefixes: ${err.message}`));
    await onA.release('', inside);
    await onB.acquire('', inside, EXCLUSIVE);
    await onB.release('', inside);
  } finally {
    onA.close();
    onB.close();
    for (const host of [a, b]) rmSync(join(host.privateDir, outsideName), { force: true });
  }
});

test('etcd unreachable: ACQUIRE is refused with an error naming the cluster, and nothing is held', async () => {
  const client = await owner(a, 0x7e100010);
  try {
    for (const proxy of proxies) proxy.sever();
    const refused = await client.acquire(shared, 'disk-u', EXCLUSIVE).then(
      () => assert.fail('granted with etcd unreachable'),
      (err: DaemonError) => err,
    );
    assert.equal(refused.code, VirErrorCode.OPERATION_FAILED);
    assert.match(refused.message, /cluster lock store unavailable \(etcd http:\/\/127\.0\.0\.1:\d+/);
    assert.match(refused.message, /resource 'disk-u' not acquired/);
  } finally {
    for (const proxy of proxies) proxy.heal();
    client.close();
  }
  // Nothing was kept: no hold in etcd, and no lock on A's file (AUTOCREATE: released, it is gone too).
  assert.equal(await exclusiveHold('disk-u'), null);
  const file = join(a.privateDir, 'disk-u');
  assert.ok(!existsSync(file) || (await probeLock(file)).ofd.canWrite, 'the local lock is still held');
  await settled(a);
});

test('a host that never reached etcd refuses cluster ACQUIREs and kills nobody; its local locks are served as ever', async () => {
  // A closed port: this host never gets a lease.
  const closed = await startSeverableProxy('http://127.0.0.1:9');
  const url = closed.url;
  await closed.close();
  const c = await startClusterHost({ name: 'c', sharedPath: shared, config: config('host-c', [url]) });
  const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const setup = await LockClient.connect(c.socket);
    await setup.createLockspace(shared);
    setup.close();
    const client = await owner(c, bystander.pid!);
    const refused = await client.acquire(shared, 'disk-c', EXCLUSIVE).then(
      () => assert.fail('granted without a lease'),
      (err: DaemonError) => err,
    );
    assert.equal(refused.code, VirErrorCode.OPERATION_FAILED);
    assert.match(refused.message, /holds no lease/);
    // The owner lives: a refused request fences nobody (custody never heard of it).
    await sleep(200);
    assert.equal(bystander.exitCode, null);
    assert.equal(bystander.signalCode, null, 'the owner of a refused ACQUIRE was killed');
    assert.doesNotMatch(c.logs(), /fenced/);
    // Outside the cluster lockspaces, the host serves as ever.
    const local = `${c.runDir}/local.img`;
    writeFileSync(local, '');
    await client.acquire('', local, 0);
    await client.release('', local);
    client.close();
  } finally {
    bystander.kill('SIGKILL');
    await c.close();
  }
});

test('SHARED holds coexist across hosts; an exclusive one waits for the last of them', async () => {
  const onA = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-s', flags: SHARED }] });
  const onB = await owner(b, 0x7e100002);
  const exclusive = await owner(b, 0x7e100003);
  try {
    assert.equal(await acquireCode(onB, 'disk-s', SHARED), 0);
    await onB.release(shared, 'disk-s');
    // B's own shared holder is gone: only A's hold, in etcd, stands in the way.
    assert.equal(await acquireCode(exclusive, 'disk-s', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    await onA.dispose();
    await waitFor(async () => (await acquireCode(exclusive, 'disk-s', EXCLUSIVE)) === 0, 10_000, 'the exclusive hold after the last shared one died', 50);
    await exclusive.release(shared, 'disk-s');
  } finally {
    onB.close();
    exclusive.close();
  }
});

test('RELEASE frees the hold for another host at once; so does the owner dying', async () => {
  const first = await owner(a, 0x7e100004);
  const second = await owner(b, 0x7e100005);
  try {
    assert.equal(await acquireCode(first, 'disk-r', EXCLUSIVE), 0);
    assert.equal(await acquireCode(second, 'disk-r', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    await first.release(shared, 'disk-r');
    // RELEASE answers once etcd has let go: no wait needed.
    assert.equal(await acquireCode(second, 'disk-r', EXCLUSIVE), 0);
    await second.release(shared, 'disk-r');
  } finally {
    first.close();
    second.close();
  }
  const dying = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-d', flags: EXCLUSIVE }] });
  const next = await owner(b, 0x7e100006);
  try {
    assert.equal(await acquireCode(next, 'disk-d', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    await dying.dispose();
    await waitFor(async () => (await exclusiveHold('disk-d')) === null, 10_000, 'the dead owner\'s hold to go', 20);
    assert.equal(await acquireCode(next, 'disk-d', EXCLUSIVE), 0);
    await next.release(shared, 'disk-d');
  } finally {
    next.close();
  }
});

test('a worker killed after etcd committed a hold but before custody had it: the ACQUIRE is answered by the next worker, and the stale hold blocks nobody', async () => {
  writeFileSync(gate, '');
  const starting = a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-k', flags: EXCLUSIVE }] });
  let holder: Awaited<typeof starting> | null = null;
  const other = await owner(b, 0x7e10000d);
  try {
    const stale = await waitFor(() => exclusiveHold('disk-k'), 10_000, 'etcd to commit the hold', 20);
    process.kill(await workerPid(a.pid), 'SIGKILL');
    rmSync(gate);
    // The owner's ACQUIRE was never answered: the next worker releases the pending lock, and the request,
    // still queued in the socket, is run again: it meets its predecessor's hold in etcd as a stale one.
    holder = await starting;
    const hold = await exclusiveHold('disk-k');
    assert.equal(hold?.pid, holder.pid);
    assert.ok(BigInt(hold.token) > BigInt(stale.token), `token ${hold.token} after the stale ${stale.token}`);
    assert.equal(await acquireCode(other, 'disk-k', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    await holder.dispose();
    await waitFor(async () => (await acquireCode(other, 'disk-k', EXCLUSIVE)) === 0, 10_000, 'host B to be granted the disk', 20);
    await other.release(shared, 'disk-k');
  } finally {
    rmSync(gate, { force: true });
    other.close();
    await (holder ?? (await starting.catch(() => null)))?.dispose();
  }
});

test('the etcd leader killed (2 of 3 left): no hold lost, no fence', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-l', flags: EXCLUSIVE }] });
  const before = await exclusiveHold('disk-l');
  const fencedBefore = fences(a);
  const leader = await etcd.leaderIndex();
  try {
    await etcd.kill(leader);
    // Two TTLs: the lease would have lapsed twice over without renewals.
    await sleep(2 * TTL_MS);
    assert.ok(holder.alive(), 'the owner was fenced');
    const after = await exclusiveHold('disk-l');
    assert.deepEqual(after, before);
    const other = await owner(b, 0x7e100007);
    assert.equal(await acquireCode(other, 'disk-l', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    other.close();
    assert.equal(fences(a), fencedBefore, 'host A fenced');
  } finally {
    await etcd.start(leader);
    await holder.dispose();
  }
});

test('worker kill, swap and SIGUSR1 upgrade on the holding host: the hold and the lease stay', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-w', flags: EXCLUSIVE }] });
  const before = await exclusiveHold('disk-w');
  assert.ok(before);
  const fencedBefore = fences(a);
  const other = await owner(b, 0x7e100008);
  const stillHeld = async (what: string): Promise<void> => {
    assert.ok(holder.alive(), `the owner died at the ${what}`);
    assert.deepEqual(await exclusiveHold('disk-w'), before, `the hold changed at the ${what}`);
    assert.equal(await acquireCode(other, 'disk-w', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY, `another host got it after the ${what}`);
  };
  try {
    let worker = await workerPid(a.pid);
    process.kill(worker, 'SIGKILL');
    worker = await nextWorkerPid(a.pid, worker);
    await stillHeld('worker kill');
    process.kill(a.pid, 'SIGUSR2');
    worker = await nextWorkerPid(a.pid, worker);
    await stillHeld('worker swap');
    process.kill(a.pid, 'SIGUSR1');
    await waitForLog(a.logs, /upgraded: restored every lock and client/, 1);
    await nextWorkerPid(a.pid, worker);
    // Past a TTL after the upgrade: the new image keeps the same lease alive.
    await sleep(TTL_MS + 500);
    await stillHeld('upgrade');
    assert.equal(fences(a), fencedBefore, 'host A fenced');
  } finally {
    other.close();
    await holder.dispose();
  }
});

test('host A cut off from etcd: its owners are SIGKILLed strictly before host B is granted their disk; back again, A cleans up', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-p', flags: EXCLUSIVE }] });
  const other = await owner(b, 0x7e100009);
  const fencedBefore = fences(a);
  let diedAt = 0;
  void holder.exited.then(() => (diedAt = performance.now()));
  try {
    for (const proxy of proxies) proxy.sever();
    // B asks again and again; each attempt is timed by its start: a grant cannot come earlier than that.
    let grantedAfter = 0;
    await waitFor(
      async () => {
        const sentAt = performance.now();
        if ((await acquireCode(other, 'disk-p', EXCLUSIVE)) !== 0) return false;
        grantedAfter = sentAt;
        return true;
      },
      4 * TTL_MS,
      'host B to be granted the disk of the partitioned host',
      20,
    );
    // Its death is already being reported (the stdout pipe closes a moment after the process dies).
    await within(2000, 'the fenced owner on A to be reaped', holder.exited);
    assert.ok(diedAt > 0 && diedAt < grantedAfter, `owner on A died at ${diedAt.toFixed(1)} ms, B asked at ${grantedAfter.toFixed(1)} ms`);
    await waitFor(() => fences(a) > fencedBefore, 1000, 'host A to log its fence');
    await other.release(shared, 'disk-p');
  } finally {
    for (const proxy of proxies) proxy.heal();
    other.close();
  }
  // Reachable again: A takes a new lease and serves cluster locks again.
  await settled(a);
  assert.equal(await exclusiveHold('disk-p'), null);
});

test('a wedged worker does not stop the fence: the supervisor kills the owners itself', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-z', flags: EXCLUSIVE }] });
  const worker = await workerPid(a.pid);
  process.kill(worker, 'SIGSTOP');
  try {
    for (const proxy of proxies) proxy.sever();
    // The safe deadline comes before TTL after the last renewal: well within two TTLs.
    await within(2 * TTL_MS, 'the owner on A to be fenced while its worker is stopped', holder.exited);
  } finally {
    for (const proxy of proxies) proxy.heal();
    process.kill(worker, 'SIGCONT');
  }
  await settled(a);
});

test('every etcd member stopped past the safe deadline: A\'s owners die before B is granted; etcd back, the stale hold goes', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-e', flags: EXCLUSIVE }] });
  const other = await owner(b, 0x7e10000a);
  let diedAt = 0;
  void holder.exited.then(() => (diedAt = performance.now()));
  try {
    await etcd.stopAll();
    await within(2 * TTL_MS, 'the owner on A to be fenced with etcd gone', holder.exited);
    await etcd.startAll();
    let grantedAfter = 0;
    await waitFor(
      async () => {
        const sentAt = performance.now();
        if ((await acquireCode(other, 'disk-e', EXCLUSIVE)) !== 0) return false;
        grantedAfter = sentAt;
        return true;
      },
      6 * TTL_MS,
      'host B to be granted the disk once etcd is back',
      50,
    );
    assert.ok(diedAt > 0 && diedAt < grantedAfter, `owner on A died at ${diedAt.toFixed(1)} ms, B asked at ${grantedAfter.toFixed(1)} ms`);
    const hold = await exclusiveHold('disk-e');
    assert.equal(hold?.host, 'host-b', 'the hold in etcd is not B\'s');
    await other.release(shared, 'disk-e');
  } finally {
    other.close();
  }
  await Promise.all([leased(a), leased(b)]);
});

test('fencing tokens grow per resource: each new hold of a disk has a larger one than the last', async () => {
  const client = await owner(a, 0x7e10000b);
  try {
    const tokens: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      assert.equal(await acquireCode(client, 'disk-t', EXCLUSIVE), 0);
      tokens.push(BigInt((await exclusiveHold('disk-t'))!.token));
      await client.release(shared, 'disk-t');
    }
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens.join(', ')}`);
  } finally {
    client.close();
  }
});

// Last: host A does not survive it.
test('failover: host A killed outright (holdfastd and its owners SIGKILLed together); host B is granted within TTL + 2 s', async () => {
  const holder = await a.startOwner({ acquire: [{ lockspace: shared, name: 'disk-f', flags: EXCLUSIVE }] });
  const other = await owner(b, 0x7e10000c);
  try {
    assert.equal(await acquireCode(other, 'disk-f', EXCLUSIVE), VirErrorCode.RESOURCE_BUSY);
    const pids = [a.pid, ...childPids(a.pid), holder.pid];
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    // The bound is the guarantee under test: etcd expires A's lease one TTL after its last renewal.
    await waitFor(async () => (await acquireCode(other, 'disk-f', EXCLUSIVE)) === 0, TTL_MS + 2000, 'host B to be granted the dead host\'s disk', 20);
    await other.release(shared, 'disk-f');
  } finally {
    other.close();
  }
});
