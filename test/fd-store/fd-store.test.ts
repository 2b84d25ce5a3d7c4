// systemd's fd store, with a test-local receiver playing systemd: every lock fd holdfastd takes goes to the
// store (FDSTORE=1, FDNAME=), a release takes it out (FDSTOREREMOVE=1); after a SIGKILL of the supervisor
// the stored fds and the listening socket are passed to a new holdfastd as systemd would (LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID), which re-adopts every lock — an independent prober sees none released at
// any instant — and releases each when its owner process exits.
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { AdminClient } from '../../src/client/admin-client';
import * as native from '../../src/shared/platform/native';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { lockStoreName } from '../../src/supervisor/fd-store/fd-store';
import type { FdStoreJournal } from '../../src/supervisor/fd-store/journal';
import { waitFor, within } from '../fixtures/deadline';
import { startHeldLockProber } from '../fixtures/held-lock-prober';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { NotifyReceiver } from '../fixtures/notify-receiver';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';
import { childPids, running } from '../fixtures/process-info';

const SHARED = 1;
const AUTOCREATE = 2;
// sh execs node in its own pid, so LISTEN_PID names the daemon, as systemd sets it.
const LAUNCHER = ['sh', '-c', 'LISTEN_PID=$$ exec "$0" "$@"'];

function readJournal(file: string): FdStoreJournal | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FdStoreJournal;
  } catch {
    return null;
  }
}

/** Starts holdfastd activated with `fds` named `names` (LISTEN_FDNAMES order = fd order from 3 on). */
function startActivated(dir: string, socket: string, receiver: NotifyReceiver, fds: number[], names: string[]): Promise<HoldfastHandle> {
  return startHoldfast({
    dir,
    socket,
    extraArgs: ['-v'],
    launcher: LAUNCHER,
    inheritFds: fds,
    env: { NOTIFY_SOCKET: receiver.address, LISTEN_FDS: String(fds.length), LISTEN_FDNAMES: names.join(':') },
  });
}

async function acquireBusy(client: LockClient, lockspace: string, name: string, flags: number): Promise<void> {
  await assert.rejects(client.acquire(lockspace, name, flags), (err: unknown) => {
    assert.ok(err instanceof LockError, String(err));
    assert.equal(err.code, VirErrorCode.RESOURCE_BUSY);
    return true;
  });
}

test('lock fds go to the fd store and come back after a SIGKILL of the supervisor: held throughout, released when their owners exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-fdstore-'));
  const receiver = new NotifyReceiver(undefined, { storeFds: true });
  const socket = join(dir, 'activated-sock');
  // The test keeps the listening socket, as systemd does, and passes it to each daemon it starts.
  const listenFd = native.listenUnix(socket, 64);
  const lockspace = join(dir, 'ls');
  mkdirSync(lockspace);
  const diskA = join(dir, 'a.img');
  const diskB = join(dir, 'b.img');
  const diskC = join(dir, 'c.img');
  const diskD = join(dir, 'd.img');
  const volume = join(lockspace, 'vol1');
  [diskA, diskB, diskC, diskD].forEach((f) => writeFileSync(f, ''));
  const owners: OwnerProcess[] = [];
  const clients: LockClient[] = [];
  let daemon: HoldfastHandle | null = null;
  try {
    daemon = await startActivated(dir, socket, receiver, [listenFd], ['holdfastd.socket']);
    const setup = await LockClient.connect(socket);
    clients.push(setup);
    await setup.createLockspace(lockspace);

    // Owner A: an exclusive lock and a shared one. Owner B: the same shared one, and an AUTOCREATE
    // exclusive resource in the directory lockspace.
    const ownerA = await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: diskA }, { lockspace: '', name: diskB, flags: SHARED }] });
    owners.push(ownerA);
    const ownerB = await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: diskB, flags: SHARED }, { lockspace, name: 'vol1', flags: AUTOCREATE }] });
    owners.push(ownerB);
    // Owner D will be gone by the time the daemon comes back.
    const ownerD = await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: diskD }] });
    owners.push(ownerD);
    // A third owner takes a lock and releases it: FDSTORE, then FDSTOREREMOVE.
    const third = await LockClient.connect(socket);
    clients.push(third);
    await third.register({ uuid: '00000000-0000-4000-8000-00000000f003', name: 'vm3', id: 3, pid: 0x7ff60003 });
    await third.acquire('', diskC, 0);
    await third.release('', diskC, 0);

    const names = { a: lockStoreName('', diskA), b: lockStoreName('', diskB), c: lockStoreName('', diskC), d: lockStoreName('', diskD), vol: lockStoreName(lockspace, 'vol1') };
    await waitFor(() => receiver.with('FDSTOREREMOVE', '1').length === 1, 20_000, 'FDSTOREREMOVE for the released lock', 20);
    // One fd per lock taken (the shared one once, though two owners hold it), each in its own datagram.
    const storeMessages = receiver.with('FDSTORE', '1');
    assert.deepEqual(storeMessages.map((m) => m.fields.get('FDNAME')).sort(), [names.a, names.b, names.c, names.d, names.vol].sort());
    for (const m of storeMessages) assert.equal(m.fdCount, 1, `FDSTORE without exactly one fd: ${m.text}`);
    assert.equal(receiver.with('FDSTOREREMOVE', '1')[0]!.fields.get('FDNAME'), names.c);
    assert.deepEqual(receiver.stored.map((s) => s.name).sort(), [names.a, names.b, names.d, names.vol].sort());
    for (const name of Object.values(names)) {
      assert.match(name, /^[ -9;-~]{1,255}$/, `${name} is not a valid systemd fd name`);
      assert.ok(!['holdfastd.socket', 'holdfastd-admin.socket', 'virtlockd.socket', 'virtlockd-admin.socket', 'lock', 'admin'].includes(name));
    }

    // The journal maps each stored name to its resource, written (coalesced) soon after.
    const journalFile = join(dir, 'holdfastd-fd-store.json');
    await waitFor(() => (readJournal(journalFile)?.locks.length ?? 0) === 4, 20_000, 'the journal to list the four stored locks', 20);
    assert.equal(statSync(journalFile).mode & 0o777, 0o600);
    const journal = readJournal(journalFile)!;
    const journalB = journal.locks.find((l) => l.fdName === names.b)!;
    assert.deepEqual([...journalB.owners].sort(), [ownerA.pid, ownerB.pid].sort());
    assert.equal(journalB.flags, SHARED);
    const journalVol = journal.locks.find((l) => l.fdName === names.vol)!;
    assert.deepEqual([journalVol.lockspace, journalVol.name, journalVol.path, journalVol.flags, journalVol.owners], [lockspace, 'vol1', volume, AUTOCREATE, [ownerB.pid]]);
    assert.equal(journalVol.ino, String(statSync(volume, { bigint: true }).ino));

    // From here on an independent process checks, as fast as it can, that every lock is held.
    const prober = await startHeldLockProber([diskA, diskB, volume]);

    // kill -9 the supervisor; its workers see their channel close and leave.
    const workers = childPids(daemon.pid);
    assert.ok(workers.length >= 1, 'no worker under the supervisor');
    process.kill(daemon.pid, 'SIGKILL');
    await within(30_000, 'the killed supervisor to exit', daemon.exited);
    await waitFor(() => workers.every((pid) => !running(pid)), 20_000, 'the killed supervisor\'s workers to exit', 20);
    for (const client of clients.splice(0)) client.destroy();
    // Owner D exits while no daemon runs: its lock is still held, by the store alone.
    await ownerD.dispose();
    assert.equal((await probeLock(diskD)).ofd.canWrite, false, 'the store alone did not keep the lock');

    // Restart as systemd would: the stored fds and the socket, in any order, named.
    const stored = [...receiver.stored];
    const fds = [stored[0]!.fd, listenFd, ...stored.slice(1).map((s) => s.fd)];
    const fdNames = [stored[0]!.name, 'holdfastd.socket', ...stored.slice(1).map((s) => s.name)];
    daemon = await startActivated(dir, socket, receiver, fds, fdNames);
    const restarted = daemon;
    await waitFor(() => (restarted.logs().match(/lock re-adopted from the systemd fd store/g) ?? []).length === 4, 20_000, 'four re-adopted locks in the log', 20);
    // Already in the store: nothing sent again.
    assert.equal(receiver.with('FDSTORE', '1').length, 5);
    // D's owner was gone before the restart: its lock is released at once, and leaves the store.
    await waitFor(async () => (await probeLock(diskD)).ofd.canWrite, 20_000, 'D\'s lock released', 20);
    await waitFor(() => receiver.with('FDSTOREREMOVE', '1').some((m) => m.fields.get('FDNAME') === names.d), 20_000, 'FDSTOREREMOVE for D\'s lock', 20);
    assert.match(restarted.logs(), /detached owner already gone at start-up: released its lock/);
    assert.equal(receiver.stored.length, 3);

    // The new daemon knows the locks are held: a conflicting ACQUIRE from a new client is refused.
    const stranger = await LockClient.connect(socket);
    clients.push(stranger);
    await stranger.register({ uuid: '00000000-0000-4000-8000-00000000f004', name: 'vm4', id: 4, pid: 0x7ff60004 });
    await acquireBusy(stranger, '', diskA, 0);
    await acquireBusy(stranger, '', diskB, 0);
    await acquireBusy(stranger, lockspace, 'vol1', AUTOCREATE);
    // `holdfast who` tells the truth about them: held, for the owner's pid, which has no connection now.
    const admin = await AdminClient.connect(join(dir, 'holdfastd-admin-sock'));
    const who = await admin.who(diskA);
    await admin.close();
    assert.equal(who.held, true);
    // What the owner registered as came back with its lock, through the journal.
    assert.deepEqual(
      who.holders.flatMap((h) => h.owners.map((o) => ({ pid: o.pid, name: o.name, uuid: o.uuid, clients: o.clients, detached: o.detached }))),
      [{ pid: ownerA.pid, name: `owner-${ownerA.pid}`, uuid: ownerUuid(ownerA.pid), clients: [], detached: true }],
    );

    // A still-running owner takes up its own lock again through a new connection (owner pid is the key).
    const again = await LockClient.connect(socket);
    clients.push(again);
    await again.register({ uuid: '00000000-0000-4000-8000-00000000f00b', name: 'vmB', id: 2, pid: ownerB.pid });
    await again.acquire(lockspace, 'vol1', AUTOCREATE);
    again.destroy();

    const summary = await prober.stop();
    assert.ok(summary.samples > 0);
    assert.equal(summary.misses, 0, `a lock was free at some instant: ${summary.firstMiss}`);

    // Owner A exits: its exclusive lock goes, the shared one stays (B still holds it).
    await ownerA.dispose();
    await waitFor(async () => (await probeLock(diskA)).ofd.canWrite, 20_000, 'A\'s lock released', 20);
    await waitFor(() => receiver.with('FDSTOREREMOVE', '1').some((m) => m.fields.get('FDNAME') === names.a), 20_000, 'FDSTOREREMOVE for A\'s lock', 20);
    assert.equal((await probeLock(diskB)).ofd.canWrite, false, 'the shared lock went with one of its two owners');
    await stranger.acquire('', diskA, 0);
    await stranger.release('', diskA, 0);

    // Owner B exits: everything else goes, and the AUTOCREATE file is unlinked as on a normal release.
    await ownerB.dispose();
    await waitFor(async () => (await probeLock(diskB)).ofd.canWrite && !existsSync(volume), 20_000, 'B\'s locks released', 20);
    await waitFor(() => receiver.stored.length === 0, 20_000, 'the store to be empty', 20);
    await stranger.acquire('', diskB, 0);
    assert.match(restarted.logs(), /detached owner exited: released its lock/);
  } finally {
    for (const client of clients) client.destroy();
    for (const owner of owners) await owner.dispose();
    await daemon?.stop();
    native.close(listenFd);
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A daemon under a store-keeping receiver, with the socket kept by the test as systemd keeps it. */
async function withStore(name: string, body: (ctx: { dir: string; socket: string; listenFd: number; receiver: NotifyReceiver; clients: LockClient[]; owners: OwnerProcess[]; start: (stored?: boolean) => Promise<HoldfastHandle> }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-${name}-`));
  const receiver = new NotifyReceiver(undefined, { storeFds: true });
  const socket = join(dir, 'activated-sock');
  const listenFd = native.listenUnix(socket, 64);
  const clients: LockClient[] = [];
  const owners: OwnerProcess[] = [];
  const daemons: HoldfastHandle[] = [];
  const start = async (stored = false): Promise<HoldfastHandle> => {
    const fds = [listenFd, ...(stored ? receiver.stored.map((s) => s.fd) : [])];
    const names = ['holdfastd.socket', ...(stored ? receiver.stored.map((s) => s.name) : [])];
    const daemon = await startActivated(dir, socket, receiver, fds, names);
    daemons.push(daemon);
    return daemon;
  };
  try {
    await body({ dir, socket, listenFd, receiver, clients, owners, start });
  } finally {
    for (const client of clients) client.destroy();
    for (const owner of owners) await owner.dispose();
    for (const daemon of daemons) await daemon.stop();
    native.close(listenFd);
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function killSupervisor(daemon: HoldfastHandle): Promise<void> {
  const workers = childPids(daemon.pid);
  process.kill(daemon.pid, 'SIGKILL');
  await within(30_000, 'the killed supervisor to exit', daemon.exited);
  await waitFor(() => workers.every((pid) => !running(pid)), 20_000, 'the killed supervisor\'s workers to exit', 20);
}

async function upgrade(daemon: HoldfastHandle, receiver: NotifyReceiver): Promise<void> {
  // RELOADING=1, then READY=1: a READY counted alone could be the start-up one of a daemon just started.
  const before = receiver.messages.length;
  process.kill(daemon.pid, 'SIGUSR1');
  await waitFor(() => {
    const since = receiver.messages.slice(before);
    const reloading = since.findIndex((m) => m.fields.get('RELOADING') === '1');
    return reloading >= 0 && since.slice(reloading + 1).some((m) => m.fields.get('READY') === '1');
  }, 20_000, 'RELOADING=1 then READY=1 after the upgrade', 20);
}

test('an upgrade (SIGUSR1) keeps the store as it is, before and after a restart from it; detached owners stay watched across it', async () => {
  await withStore('fdstore-upgrade', async ({ dir, socket, receiver, clients, owners, start }) => {
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    const name = lockStoreName('', disk);
    let daemon = await start();
    const owner = await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: disk }] });
    owners.push(owner);
    await waitFor(() => receiver.stored.length === 1, 20_000, 'the lock fd in the store', 20);

    await upgrade(daemon, receiver);
    assert.equal(receiver.with('FDSTORE', '1').length, 1, 'the upgrade sent the lock fd again');
    assert.equal(receiver.with('FDSTOREREMOVE', '1').length, 0);

    // The journal, flushed before the exec, is what the next image reconciles with: wait for its write
    // after the upgrade before the crash.
    await waitFor(() => readJournal(join(dir, 'holdfastd-fd-store.json'))?.locks[0]?.fdName === name, 20_000, 'the journal to list the lock', 20);
    await killSupervisor(daemon);
    daemon = await start(true);
    await waitFor(() => /lock re-adopted from the systemd fd store/.test(daemon.logs()), 20_000, 'the lock re-adopted', 20);
    await upgrade(daemon, receiver);
    assert.equal(receiver.with('FDSTORE', '1').length, 1, 'the restart or the upgrade sent the lock fd again');
    // The detached owner's name and uuid ride through the state document too.
    const admin = await AdminClient.connect(join(dir, 'holdfastd-admin-sock'));
    const who = await admin.who(disk);
    await admin.close();
    assert.deepEqual(
      who.holders.flatMap((h) => h.owners.map((o) => ({ pid: o.pid, name: o.name, uuid: o.uuid, detached: o.detached }))),
      [{ pid: owner.pid, name: `owner-${owner.pid}`, uuid: ownerUuid(owner.pid), detached: true }],
    );
    assert.equal(receiver.with('FDSTOREREMOVE', '1').length, 0);

    const stranger = await LockClient.connect(socket);
    clients.push(stranger);
    await stranger.register({ uuid: '00000000-0000-4000-8000-00000000f101', name: 'vm', id: 1, pid: 0x7ff61001 });
    await acquireBusy(stranger, '', disk, 0);

    // The owner's exit is still seen by the upgraded daemon's worker.
    await owner.dispose();
    await waitFor(() => receiver.with('FDSTOREREMOVE', '1').some((m) => m.fields.get('FDNAME') === name), 20_000, 'FDSTOREREMOVE under the same name', 20);
    await waitFor(async () => (await probeLock(disk)).ofd.canWrite, 20_000, 'the lock released', 20);
    assert.equal(receiver.stored.length, 0);
  });
});

test('a stored fd the journal does not know is rebuilt from the fd and kept; one that no longer carries its lock leaves the store', async () => {
  await withStore('fdstore-nojournal', async ({ dir, socket, receiver, clients, owners, start }) => {
    const disk = join(dir, 'disk.img');
    const stale = join(dir, 'stale.img');
    writeFileSync(disk, '');
    writeFileSync(stale, '');
    const daemon = await start();
    owners.push(await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: disk }] }));
    await waitFor(() => receiver.stored.length === 1, 20_000, 'the lock fd in the store', 20);
    await killSupervisor(daemon);
    // The journal is lost (it may lag the store), and the store holds an fd whose lock is gone (as after a
    // crash between a worker's unlock and the supervisor's FDSTOREREMOVE).
    rmSync(join(dir, 'holdfastd-fd-store.json'), { force: true });
    const staleName = lockStoreName('', stale);
    const staleFd = openSync(stale, 'r+');
    native.notifySend(receiver.address, Buffer.from(`FDSTORE=1\nFDNAME=${staleName}`), [staleFd]);
    closeSync(staleFd);
    await waitFor(() => receiver.stored.length === 2, 20_000, 'the stale fd in the store', 20);

    const restarted = await start(true);
    await waitFor(() => receiver.with('FDSTOREREMOVE', '1').some((m) => m.fields.get('FDNAME') === staleName), 20_000, 'the stale fd removed from the store', 20);
    assert.deepEqual(receiver.stored.map((s) => s.name), [lockStoreName('', disk)]);
    assert.match(restarted.logs(), /not in the journal; rebuilt from the fd, owner unknown/);
    assert.match(restarted.logs(), /no longer carries its lock/);
    // Rebuilt: the daemon answers for it, and the lock is still there.
    const stranger = await LockClient.connect(socket);
    clients.push(stranger);
    await stranger.register({ uuid: '00000000-0000-4000-8000-00000000f201', name: 'vm', id: 1, pid: 0x7ff62001 });
    await acquireBusy(stranger, '', disk, 0);
    assert.equal((await probeLock(disk)).ofd.canWrite, false);
    // The journal is written again, with the rebuilt lock under its name.
    await waitFor(() => readJournal(join(dir, 'holdfastd-fd-store.json'))?.locks.length === 1, 20_000, 'a new journal', 20);
    assert.equal(readJournal(join(dir, 'holdfastd-fd-store.json'))!.locks[0]!.path, disk);
    await stranger.acquire('', stale, 0);
  });
});

/** The uuid an owner process registers with (see owner-process.ts): its pid in the last four bytes. */
function ownerUuid(pid: number): string {
  return `00000000-0000-0000-0000-0000${pid.toString(16).padStart(8, '0')}`;
}
