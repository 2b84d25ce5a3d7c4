// The two-host fixture cluster tests stand on: each host's holdfastd runs in its own mount namespace with
// its own directory on the shared lockspace path, so without a cluster both hosts lock "disk1" at once
// (different files, different inodes), and every process of a host (supervisor, workers, the image an
// upgrade execs) sees that host's directory there.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';
import { startClusterHost, type ClusterHost } from '../fixtures/cluster-host';
import { waitForLog } from '../fixtures/deadline';
import { probeLock } from '../fixtures/lock-prober';
import { mountAt, mountNamespace } from '../fixtures/mount-info';
import { fileId, locksOn, type FileId } from '../fixtures/proc-locks';
import { childPids, commandLine, workerPid } from '../fixtures/process-info';

/** Every process of the host is in the supervisor's namespace, and the serving worker sees the host's directory on the shared path. */
async function assertHostNamespace(host: ClusterHost, namespace: string): Promise<number> {
  // unshare and sh exec'd: the pid the fixture spawned runs node itself, not a launcher waiting on it.
  assert.equal(readlinkSync(`/proc/${host.pid}/exe`), realpathSync(process.execPath), `pid ${host.pid} (${commandLine(host.pid)}) is not the daemon`);
  assert.match(commandLine(host.pid), /holdfastd\.js/);
  assert.equal(mountNamespace(host.pid), namespace, `${host.name}: the supervisor's namespace`);
  const children = childPids(host.pid);
  assert.ok(children.length > 0, `${host.name}: the supervisor has no worker`);
  for (const child of children) assert.equal(mountNamespace(child), namespace, `${host.name}: child ${child} (${commandLine(child)}) is in another namespace`);

  const worker = await workerPid(host.pid);
  const mount = mountAt(worker, host.sharedPath);
  assert.ok(mount, `${host.name}: worker ${worker} has no mount on ${host.sharedPath}`);
  const privateId = fileId(host.privateDir);
  assert.deepEqual([mount.major, mount.minor], [privateId.major, privateId.minor], `${host.name}: the mount on the shared path is not of the private directory's filesystem`);
  assert.ok(host.privateDir.endsWith(mount.root), `${host.name}: mount root ${mount.root} is not ${host.privateDir}`);
  // Through the worker's own root: the shared path is the private directory itself.
  const seen = statSync(`/proc/${worker}/root${host.sharedPath}`, { bigint: true });
  assert.equal(seen.ino, statSync(host.privateDir, { bigint: true }).ino, `${host.name}: the worker's ${host.sharedPath} is not its private directory`);
  return worker;
}

/** The one exclusive OFD lock the kernel lists on `file`. */
function assertOneWriteLock(file: FileId, what: string): void {
  const locks = locksOn(file);
  assert.equal(locks.length, 1, `${what}: ${JSON.stringify(locks, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  assert.equal(locks[0]!.kind, 'OFDLCK', what);
  assert.equal(locks[0]!.type, 'WRITE', what);
}

test('two hosts on one lockspace path: private directories, both hold disk1 without a cluster, and an upgrade keeps the namespace and the lock', { timeout: 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'holdfast-cluster-'));
  const sharedPath = join(root, 'lockspace');
  const hosts: ClusterHost[] = [];
  try {
    const a = await startClusterHost({ name: 'a', sharedPath, extraArgs: ['-v'] });
    hosts.push(a);
    const b = await startClusterHost({ name: 'b', sharedPath, extraArgs: ['-v'] });
    hosts.push(b);

    const testNamespace = mountNamespace(process.pid);
    const namespaceA = mountNamespace(a.pid);
    const namespaceB = mountNamespace(b.pid);
    assert.notEqual(namespaceA, testNamespace);
    assert.notEqual(namespaceB, testNamespace);
    assert.notEqual(namespaceA, namespaceB);
    assert.equal(mountAt(process.pid, a.sharedPath), undefined, 'a host\'s bind mount leaked into the test\'s namespace');
    await assertHostNamespace(a, namespaceA);
    const workerB = await assertHostNamespace(b, namespaceB);

    for (const host of hosts) {
      const client = await LockClient.connect(host.socket);
      await client.createLockspace(sharedPath);
      await client.close();
    }
    const exclusive = AcquireFlags.AUTOCREATE;
    const ownerA = await a.startOwner({ acquire: [{ lockspace: sharedPath, name: 'disk1', flags: exclusive }, { lockspace: sharedPath, name: 'only-a', flags: exclusive }] });
    const ownerB = await b.startOwner({ acquire: [{ lockspace: sharedPath, name: 'disk1', flags: exclusive }, { lockspace: sharedPath, name: 'only-b', flags: exclusive }] });

    assert.deepEqual(readdirSync(a.privateDir).sort(), ['disk1', 'only-a']);
    assert.deepEqual(readdirSync(b.privateDir).sort(), ['disk1', 'only-b']);
    assert.deepEqual(readdirSync(a.sharedPath), [], 'the test\'s own view of the shared path stays empty');
    const diskA = fileId(join(a.privateDir, 'disk1'));
    const diskB = fileId(join(b.privateDir, 'disk1'));
    assert.notDeepEqual(diskA, diskB, 'both hosts locked the same file');
    assertOneWriteLock(diskA, 'host a disk1');
    assertOneWriteLock(diskB, 'host b disk1');

    // SIGUSR1: host a re-executes in place (same pid) and forks its workers again, all still in its namespace.
    const workerBefore = await workerPid(a.pid);
    process.kill(a.pid, 'SIGUSR1');
    await waitForLog(a.logs, /upgraded: restored every lock and client/, 1, 20_000);
    await waitForLog(a.logs, /"worker ready"/, 2, 20_000);
    assert.equal(a.process.exitCode, null, 'host a exited in its upgrade');
    const workerAfter = await assertHostNamespace(a, namespaceA);
    assert.notEqual(workerAfter, workerBefore, 'no worker forked by the upgraded image');
    assertOneWriteLock(diskA, 'host a disk1 after the upgrade');
    assert.equal((await probeLock(join(a.privateDir, 'disk1'))).ofd.canWrite, false, 'host a lost disk1 in the upgrade');
    assert.ok(ownerA.alive());
    // The upgraded host's new worker resolves the shared path in the host's namespace too.
    await a.startOwner({ acquire: [{ lockspace: sharedPath, name: 'disk2', flags: exclusive }] });
    assert.ok(existsSync(join(a.privateDir, 'disk2')));
    assert.ok(!existsSync(join(b.privateDir, 'disk2')));

    // Host b never noticed.
    assert.equal(await workerPid(b.pid), workerB);
    assertOneWriteLock(diskB, 'host b disk1 after host a upgraded');
    assert.ok(ownerB.alive());
  } finally {
    for (const host of hosts.reverse()) await host.close();
    rmSync(root, { recursive: true, force: true });
  }
  for (const host of hosts) {
    assert.ok(!existsSync(host.runDir) && !existsSync(host.privateDir), `host ${host.name}'s dirs were left behind`);
  }
});

test('a host that cannot start removes its dirs and names itself', async () => {
  const root = mkdtempSync(join(tmpdir(), 'holdfast-cluster-bad-'));
  try {
    const before = new Set(readdirSync(tmpdir()));
    // An unknown key: holdfastd refuses its config and exits.
    await assert.rejects(startClusterHost({ name: 'broken', sharedPath: join(root, 'lockspace'), config: 'no_such_key = 1\n' }), /cluster host broken did not start/);
    const left = readdirSync(tmpdir()).filter((n) => !before.has(n) && n.startsWith('holdfast-host-broken-'));
    assert.deepEqual(left, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
