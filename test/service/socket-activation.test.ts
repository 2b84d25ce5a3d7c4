// Socket activation with a real launcher: Debian's systemd-socket-activate binds the sockets, names them
// (LISTEN_FDNAMES) and execs holdfastd, which serves the lock protocol on them — matched by name, with
// holdfast's unit names or virtlockd's — and still does after a SIGUSR1 upgrade, without ever binding
// its own socket or passing the LISTEN_* variables on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { waitFor, waitForLog } from '../fixtures/deadline';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { nextWorkerPid, openFds, workerPid } from '../fixtures/process-info';

const LISTEN_VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'];

function socketActivate(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-socket-activate'], { encoding: 'utf8' }).trim();
  } catch {
    assert.fail('systemd-socket-activate is missing: install Debian\'s systemd package');
  }
}

/** The names of the environment a process was exec'ed with, as /proc shows it. */
function environNames(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').map((e) => e.slice(0, e.indexOf('='))).filter((n) => n !== '');
}

/** Whether `pid` holds the listening socket bound at `path` (its inode, from /proc/net/unix). */
function holdsListener(pid: number, path: string): boolean {
  // Num RefCount Protocol Flags Type St Inode Path; flag 00010000 = __SO_ACCEPTCON (listening).
  const line = readFileSync('/proc/net/unix', 'utf8').split('\n').find((l) => l.endsWith(` ${path}`) && l.split(/\s+/)[3] === '00010000');
  assert.ok(line, `nothing listens at ${path}`);
  const inode = line.split(/\s+/)[6];
  return [...openFds(pid).values()].includes(`socket:[${inode}]`);
}

/** A client registers and takes an exclusive lock on `disk`; the lock is seen from another process. */
async function holdLock(socket: string, disk: string, id: number): Promise<LockClient> {
  writeFileSync(disk, '');
  const client = await LockClient.connect(socket);
  await client.register({ uuid: `00000000-0000-4000-8000-00000000c0${String(id).padStart(2, '0')}`, name: `vm${id}`, id, pid: 0x7ff50000 + id });
  await client.acquire('', disk, 0);
  assert.equal((await probeLock(disk)).ofd.canWrite, false, `${disk} is not locked`);
  return client;
}

interface Case {
  title: string;
  lockName: string;
  adminName: string;
  /** Bind (and so number) the admin socket first: the daemon must go by the names, not the order. */
  adminFirst: boolean;
}

const cases: Case[] = [
  { title: 'holdfast\'s unit names (holdfastd.socket, holdfastd-admin.socket)', lockName: 'holdfastd.socket', adminName: 'holdfastd-admin.socket', adminFirst: false },
  { title: 'virtlockd\'s unit names, admin socket first (the drop-in)', lockName: 'virtlockd.socket', adminName: 'virtlockd-admin.socket', adminFirst: true },
];

for (const c of cases) {
  test(`socket-activated with ${c.title}: serves on the activated sockets, and again after a SIGUSR1 upgrade`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-activate-'));
    const lockSocket = join(dir, 'activated-sock');
    const adminSocket = join(dir, 'activated-admin-sock');
    const sockets = c.adminFirst ? [[adminSocket, c.adminName], [lockSocket, c.lockName]] : [[lockSocket, c.lockName], [adminSocket, c.adminName]];
    const launcher = [
      socketActivate(),
      ...sockets.flatMap(([path]) => ['-l', path!]),
      `--fdname=${sockets.map(([, name]) => name).join(':')}`,
      '--',
    ];
    let daemon: HoldfastHandle | null = null;
    const clients: LockClient[] = [];
    try {
      // systemd-socket-activate execs holdfastd (same pid) on the first connection: the fixture's probe.
      daemon = await startHoldfast({ dir, extraArgs: ['-v'], launcher, socket: lockSocket });
      // The worker answers before the supervisor logs that it serves: wait for that line.
      const started = daemon;
      // The start line names the activated sockets by their paths.
      const activatedLine = `"socket":"${lockSocket}","adminSocket":"${adminSocket}","activatedBy":"systemd"`;
      await waitFor(() => started.logs().includes(activatedLine), 10_000, () => `an "activated" start-up line:\n${started.logs()}`, 20);
      assert.ok(holdsListener(daemon.pid, lockSocket) && holdsListener(daemon.pid, adminSocket), 'the supervisor does not hold both activated sockets');
      assert.equal(existsSync(join(dir, 'holdfastd-sock')), false, 'holdfastd bound its own socket besides the activated one');
      const worker = await workerPid(daemon.pid);
      for (const name of LISTEN_VARIABLES) assert.ok(!environNames(worker).includes(name), `the worker got ${name}`);
      // They were there for the supervisor (so it was really activated, by name).
      assert.ok(environNames(daemon.pid).includes('LISTEN_FDNAMES'));

      const before = await holdLock(lockSocket, join(dir, 'before.img'), 1);
      clients.push(before);

      process.kill(daemon.pid, 'SIGUSR1');
      await waitForLog(daemon.logs, /upgraded: restored every lock and client/, 1);
      const newWorker = await nextWorkerPid(daemon.pid, worker);
      assert.notEqual(newWorker, worker, 'the upgrade did not replace the worker');
      assert.equal(daemon.process.exitCode, null, 'the supervisor exited');
      // Same pid; the new image was exec'ed without the activation variables, and so is its worker.
      for (const name of LISTEN_VARIABLES) {
        assert.ok(!environNames(daemon.pid).includes(name), `the re-executed supervisor got ${name}`);
        assert.ok(!environNames(newWorker).includes(name), `the new worker got ${name}`);
      }

      // The lock taken before the upgrade is still held; the activated socket still serves, old and new clients.
      assert.equal((await probeLock(join(dir, 'before.img'))).ofd.canWrite, false, 'the lock was dropped by the upgrade');
      await before.createLockspace('');
      const after = await holdLock(lockSocket, join(dir, 'after.img'), 2);
      clients.push(after);
      assert.equal(existsSync(join(dir, 'holdfastd-sock')), false);
      assert.ok(holdsListener(daemon.pid, lockSocket) && holdsListener(daemon.pid, adminSocket), 'the upgraded supervisor lost an activated socket');

      await before.release('', join(dir, 'before.img'), 0);
      await after.release('', join(dir, 'after.img'), 0);
      assert.equal((await probeLock(join(dir, 'before.img'))).ofd.canWrite, true);
    } finally {
      for (const client of clients) client.destroy();
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
