// Debian's real virt-admin against holdfast's admin socket, and the same commands against the real virtlockd:
// the same answers (up to ids, pids and times), wrong-uid peers refused, client-disconnect following the lock
// protocol's disconnect rule, and admin connections surviving a worker swap.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import {
  ADMIN_PROGRAM,
  ADMIN_PROGRAM_VERSION,
  AdminProcedure,
  decodeListClientsRet,
  encodeFlagsArgs,
  encodeListClientsArgs,
} from '../../src/shared/protocol/admin-program';
import type { DaemonHandle } from '../fixtures/daemon-handle';
import { within } from '../fixtures/deadline';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';
import { startVirtlockd } from '../fixtures/virtlockd-daemon';

const VIRT_ADMIN = '/usr/bin/virt-admin';
const RESOURCE_BUSY = 87;

interface Run {
  code: number;
  /** Set when virt-admin was killed by a signal. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs virt-admin on `adminSocket` (the `?socket=` form of the virtlockd:///system URI), optionally as another user. */
function virtAdmin(adminSocket: string, args: string[], asUser?: string): Promise<Run> {
  const argv = ['-c', `virtlockd:///system?socket=${adminSocket}`, ...args];
  const [command, commandArgs] = asUser
    ? ['setpriv', [`--reuid=${asUser}`, `--regid=${asUser === 'nobody' ? 'nogroup' : asUser}`, '--clear-groups', '--', VIRT_ADMIN, ...argv]]
    : [VIRT_ADMIN, argv];
  return new Promise((resolve) => {
    execFile(command, commandArgs, { env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, signal: (err?.signal ?? null) as NodeJS.Signals | null, stdout, stderr });
    });
  });
}

async function ok(adminSocket: string, ...args: string[]): Promise<string> {
  const run = await virtAdmin(adminSocket, args);
  assert.equal(run.code, 0, `virt-admin ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

/** "name : value" lines (srv-threadpool-info, srv-clients-info, client-info). */
function keyValues(stdout: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s*: ?(.*)$/.exec(line);
    if (m) map.set(m[1]!, m[2]!.trim());
  }
  return map;
}

/** The rows of a virt-admin table (srv-list, client-list): header and dashes dropped, cells split on runs of spaces. */
function tableRows(stdout: string): string[][] {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const dash = lines.findIndex((l) => /^-+$/.test(l.trim()));
  assert.ok(dash > 0, `not a table: ${stdout}`);
  return lines.slice(dash + 1).map((l) => l.trim().split(/\s{2,}/));
}

/** Ids of the clients of `server`, from client-list. */
async function clientIds(adminSocket: string, server: string): Promise<number[]> {
  const rows = tableRows(await ok(adminSocket, 'client-list', server));
  for (const row of rows) assert.equal(row[1], 'unix');
  return rows.map((row) => Number(row[0]));
}

/** The id of the `server` client whose unix_process_id is `pid`. */
async function clientIdOfPid(adminSocket: string, server: string, pid: number): Promise<number> {
  const found: number[] = [];
  for (const id of await clientIds(adminSocket, server)) {
    const info = keyValues(await ok(adminSocket, 'client-info', server, String(id)));
    if (info.get('unix_process_id') === String(pid)) found.push(id);
  }
  assert.equal(found.length, 1, `expected one ${server} client of pid ${pid}, found ${found.length}`);
  return found[0]!;
}

/** Whether `path` (default lockspace) is held by someone: an exclusive ACQUIRE from a fresh owner is refused busy. */
async function isHeld(socket: string, path: string): Promise<boolean> {
  const probe = await LockClient.connect(socket);
  try {
    await probe.register({ uuid: '00000000-0000-4000-8000-00000000abcd', name: 'probe', id: 77, pid: 0x7ff1abcd });
    try {
      await probe.acquire('', path, 0);
    } catch (err) {
      if (err instanceof LockError && err.code === RESOURCE_BUSY) return true;
      throw err;
    }
    await probe.release('', path, 0);
    return false;
  } finally {
    await probe.close();
  }
}

/** Binds both sockets in the run dir and hands them to holdfastd by socket activation (as systemd would). */
function startHoldfastWithAdmin(dir: string): Promise<HoldfastHandle> {
  const socket = join(dir, 'holdfastd-sock');
  const adminSocket = join(dir, 'holdfastd-admin-sock');
  return startHoldfast({
    dir,
    launcher: ['systemd-socket-activate', '-l', socket, '-l', adminSocket, '--fdname=holdfastd.socket:holdfastd-admin.socket'],
    socket,
  });
}

const flavors: Array<{ name: 'holdfast' | 'virtlockd'; start: (dir: string) => Promise<DaemonHandle> }> = [
  { name: 'holdfast', start: startHoldfastWithAdmin },
  { name: 'virtlockd', start: (dir) => startVirtlockd({ dir }) },
];

for (const flavor of flavors) {
  describe(`virt-admin against ${flavor.name}`, () => {
    let dir: string;
    let daemon: DaemonHandle;
    let admin: string;
    const owners: OwnerProcess[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `holdfast-virt-admin-${flavor.name}-`));
      // nobody must reach the socket for the wrong-uid case to get as far as SO_PEERCRED.
      chmodSync(dir, 0o755);
      daemon = await flavor.start(dir);
      assert.ok(daemon.adminSocket && existsSync(daemon.adminSocket), 'the daemon has an admin socket');
      admin = daemon.adminSocket;
    });
    after(async () => {
      for (const owner of owners) await owner.dispose();
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('version: the daemon reports libvirt 9.0.0', async () => {
      assert.match(await ok(admin, 'version'), /^Running against daemon: 9\.0\.0$/m);
    });

    test('srv-list: the servers admin and virtlockd', async () => {
      const names = tableRows(await ok(admin, 'srv-list')).map((row) => row[1]).sort();
      assert.deepEqual(names, ['admin', 'virtlockd']);
    });

    test('srv-threadpool-info: no worker pool, every number 0, on both servers', async () => {
      for (const server of ['virtlockd', 'admin']) {
        const info = keyValues(await ok(admin, 'srv-threadpool-info', server));
        assert.deepEqual([...info.entries()], [
          ['minWorkers', '0'],
          ['maxWorkers', '0'],
          ['nWorkers', '0'],
          ['freeWorkers', '0'],
          ['prioWorkers', '0'],
          ['jobQueueDepth', '0'],
        ]);
      }
      const set = await virtAdmin(admin, ['srv-threadpool-set', 'virtlockd', '--max-workers', '4']);
      assert.equal(set.code, 1);
      assert.match(set.stderr, /invalid argument: maxWorkers must not be switched from zero to non-zero and vice versa/);
    });

    test('srv-clients-info and srv-clients-set: virtlockd.conf defaults, limits checked together', async () => {
      const owner = await startOwnerProcess({ socket: daemon.socket });
      owners.push(owner);
      assert.deepEqual([...keyValues(await ok(admin, 'srv-clients-info', 'virtlockd')).entries()], [
        ['nclients_max', '1024'],
        ['nclients', '1'],
        ['nclients_unauth_max', '1024'],
        ['nclients_unauth', '0'],
      ]);
      // The admin server counts the virt-admin asking.
      assert.deepEqual([...keyValues(await ok(admin, 'srv-clients-info', 'admin')).entries()], [
        ['nclients_max', '5000'],
        ['nclients', '1'],
        ['nclients_unauth_max', '5000'],
        ['nclients_unauth', '0'],
      ]);
      const refused = await virtAdmin(admin, ['srv-clients-set', 'virtlockd', '--max-clients', '900']);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /invalid argument: The overall maximum number of clients waiting for authentication must not be less than the overall maximum number of clients/,
      );
      assert.equal(keyValues(await ok(admin, 'srv-clients-info', 'virtlockd')).get('nclients_max'), '1024');
      await ok(admin, 'srv-clients-set', 'virtlockd', '--max-clients', '2000');
      assert.equal(keyValues(await ok(admin, 'srv-clients-info', 'virtlockd')).get('nclients_max'), '2000');
      await ok(admin, 'srv-clients-set', 'virtlockd', '--max-clients', '1024');
      // A new lock client is still served under the restored limit.
      writeFileSync(join(dir, 'never-held.img'), '');
      assert.equal(await isHeld(daemon.socket, join(dir, 'never-held.img')), false);
      await owner.dispose();
      owners.splice(owners.indexOf(owner), 1);
    });

    test('client-list and client-info: a lock client as SO_PEERCRED saw it', async () => {
      const owner = await startOwnerProcess({ socket: daemon.socket });
      owners.push(owner);
      const id = await clientIdOfPid(admin, 'virtlockd', owner.pid);
      const info = keyValues(await ok(admin, 'client-info', 'virtlockd', String(id)));
      assert.equal(info.get('id'), String(id));
      assert.match(info.get('connection_time') ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4}$/);
      assert.equal(info.get('transport'), 'unix');
      assert.equal(info.get('readonly'), 'no');
      assert.equal(info.get('unix_user_id'), String(process.getuid!()));
      assert.equal(info.get('unix_user_name'), 'root');
      assert.equal(info.get('unix_group_id'), String(process.getgid!()));
      assert.equal(info.get('unix_group_name'), 'root');
      assert.equal(info.get('unix_process_id'), String(owner.pid));
      // The admin server lists the virt-admin asking, and nobody else.
      assert.equal((await clientIds(admin, 'admin')).length, 1);
      const missing = await virtAdmin(admin, ['client-info', 'virtlockd', '999999']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Client not found: No client with matching ID '999999'/);
      const noServer = await virtAdmin(admin, ['client-list', 'nosuch']);
      assert.equal(noServer.code, 1);
      assert.match(noServer.stderr, /Server not found: No server named 'nosuch'/);
      await owner.dispose();
      owners.splice(owners.indexOf(owner), 1);
    });

    test('client-disconnect: the lock protocol disconnect rule, and no other lock dropped', async () => {
      const files = ['owned-a.img', 'owned-b.img', 'foreign.img'].map((f) => join(dir, f));
      files.forEach((f) => writeFileSync(f, ''));
      const [ownedA, ownedB, foreign] = files as [string, string, string];
      const a = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: ownedA }], restrict: true });
      const b = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: ownedB }] });
      owners.push(a, b);
      // A connection acting for another pid (as libvirtd's own connections do): its locks outlive it.
      const proxy = await LockClient.connect(daemon.socket);
      await proxy.register({ uuid: '00000000-0000-4000-8000-000000000f0e', name: 'foreign', id: 5, pid: 0x7ff1f0e0 });
      await proxy.acquire('', foreign, 0);

      const idA = await clientIdOfPid(admin, 'virtlockd', a.pid);
      assert.equal(await ok(admin, 'client-disconnect', 'virtlockd', String(idA)), `Client '${idA}' disconnected\n`);
      // The owner's connection closed with its pid == the owner pid: its locks go and it is told to terminate.
      await a.waitFor('sigterm');
      await within(30_000, 'the owner to exit', a.exited);
      assert.equal(await isHeld(daemon.socket, ownedA), false);
      assert.equal(await isHeld(daemon.socket, ownedB), true);
      assert.ok(!(await clientIds(admin, 'virtlockd')).includes(idA));

      const idProxy = await clientIdOfPid(admin, 'virtlockd', process.pid);
      await ok(admin, 'client-disconnect', 'virtlockd', String(idProxy));
      await proxy.closed;
      // clientPid != ownerPid: nothing released, nobody killed.
      assert.equal(await isHeld(daemon.socket, foreign), true);
      assert.equal(await isHeld(daemon.socket, ownedB), true);
      assert.ok(b.alive());
      assert.ok(!b.events.some((e) => e.event === 'sigterm'));

      const missing = await virtAdmin(admin, ['client-disconnect', 'virtlockd', '999999']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Client not found: No client with matching ID '999999'/);

      // Clean up the foreign lock the way libvirt would: REGISTER as that pid and release.
      const cleaner = await LockClient.connect(daemon.socket);
      await cleaner.register({ uuid: '00000000-0000-4000-8000-000000000f0e', name: 'foreign', id: 5, pid: 0x7ff1f0e0 });
      await cleaner.release('', foreign, 0);
      await cleaner.close();
      await b.dispose();
      owners.splice(0, owners.length);
    });

    test('daemon-log-filters: read, set, read back in libvirt glob form, clear', async () => {
      assert.match(await ok(admin, 'daemon-log-filters'), /^ Logging filters: $/m);
      await ok(admin, 'daemon-log-filters', '--filters', '3:util* 1:+qemu');
      assert.match(await ok(admin, 'daemon-log-filters'), /^ Logging filters: 3:\*util\*\* 1:\*qemu\* $/m);
      const bad = await virtAdmin(admin, ['daemon-log-filters', '--filters', 'bogus']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /invalid argument: Malformed format for filter 'bogus'/);
      await ok(admin, 'daemon-log-filters', '--filters', '');
      assert.match(await ok(admin, 'daemon-log-filters'), /^ Logging filters: $/m);
    });

    test('daemon-log-outputs: the outputs in log_outputs syntax; malformed ones refused', async () => {
      const out = await ok(admin, 'daemon-log-outputs');
      const m = /^ Logging outputs: (.+)$/m.exec(out);
      assert.ok(m, out);
      for (const output of m[1]!.split(' ')) assert.match(output, /^[1-4]:(stderr|journald|file:\S+|syslog:\S+)$/);
      // Setting the current outputs again works on both.
      await ok(admin, 'daemon-log-outputs', '--outputs', m[1]!);
      const bad = await virtAdmin(admin, ['daemon-log-outputs', '--outputs', 'bogus']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /invalid argument: Malformed format for log output 'bogus'/);
    });

    test('a peer with another uid is refused on the admin socket, even when the socket mode lets it connect', async () => {
      chmodSync(admin, 0o777);
      const refused = await virtAdmin(admin, ['version'], 'nobody');
      assert.equal(refused.code, 1);
      // The daemon closes the connection at once; when that beats virt-admin's first write, virt-admin dies
      // of SIGPIPE before it can say anything (seen with both daemons under load).
      if (refused.signal !== 'SIGPIPE') assert.match(refused.stderr, /Failed to connect to the admin server/, `virt-admin as nobody: signal ${refused.signal}, stderr: ${refused.stderr}`);
      assert.doesNotMatch(refused.stdout, /Running against daemon/);
      if (flavor.name === 'holdfast') assert.match(daemon.logs(), /Disallowing client with uid 65534/);
      assert.match(await ok(admin, 'version'), /Running against daemon: 9\.0\.0/);
    });

    if (flavor.name === 'holdfast') {
      test('admin and lock clients survive a worker swap (SIGUSR2)', async () => {
        const owner = await startOwnerProcess({ socket: daemon.socket });
        owners.push(owner);
        const lockId = await clientIdOfPid(admin, 'virtlockd', owner.pid);
        const before = keyValues(await ok(admin, 'client-info', 'virtlockd', String(lockId)));

        // A long-lived admin connection of our own.
        const conn = await LockClient.connect(admin);
        const call = (proc: AdminProcedure, payload: Buffer) => conn.call(proc, payload, { prog: ADMIN_PROGRAM, vers: ADMIN_PROGRAM_VERSION });
        assert.equal((await call(AdminProcedure.CONNECT_OPEN, encodeFlagsArgs({ flags: 0 }))).header.status, 0);
        const listAdmin = async (): Promise<number[]> => {
          const reply = await call(AdminProcedure.SERVER_LIST_CLIENTS, encodeListClientsArgs({ server: 'admin', needResults: 1, flags: 0 }));
          assert.equal(reply.header.status, 0);
          return decodeListClientsRet(reply.payload).clients.map((c) => Number(c.id));
        };
        const [ownId] = await listAdmin();
        assert.ok(ownId !== undefined);

        const oldWorker = await workerPid(daemon.pid);
        process.kill(daemon.pid, 'SIGUSR2');
        assert.notEqual(await nextWorkerPid(daemon.pid, oldWorker), oldWorker);

        // The same connection is still served, and still has its id; the lock client is unchanged.
        assert.ok((await listAdmin()).includes(ownId));
        assert.ok((await clientIds(admin, 'admin')).includes(ownId));
        assert.deepEqual(keyValues(await ok(admin, 'client-info', 'virtlockd', String(lockId))), before);
        assert.equal(await ok(admin, 'client-disconnect', 'admin', String(ownId)), `Client '${ownId}' disconnected\n`);
        await conn.closed;
        await owner.dispose();
        owners.splice(owners.indexOf(owner), 1);
      });
    }
  });
}
