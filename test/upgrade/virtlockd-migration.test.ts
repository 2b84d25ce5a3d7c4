// A running real virtlockd is made to exec holdfastd (its SIGUSR1 runs execvp(argv[0]): argv[0] is a link
// we repoint) and comes up as holdfast with every client, owner and POSIX lock it had.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { waitFor, within } from '../fixtures/deadline';
import { HOLDFASTD } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { startOwnerProcess } from '../fixtures/owner-process';
import { commandLine, workerPid } from '../fixtures/process-info';
import { VIRTLOCKD_BINARY, restartStatePath, startVirtlockd } from '../fixtures/virtlockd-daemon';

test('a running virtlockd exec’ed into holdfastd keeps its clients, owners and POSIX locks', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(VIRTLOCKD_BINARY), `${VIRTLOCKD_BINARY} is needed (apt-get install libvirt-daemon)`);
  assert.equal(existsSync(restartStatePath()), false, `${restartStatePath()} exists: another daemon is re-executing`);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-migrate-'));
  const link = join(dir, 'virtlockd');
  symlinkSync(VIRTLOCKD_BINARY, link);
  const daemon = await startVirtlockd({ dir, binary: link });
  try {
    const qemuDisk = join(dir, 'qemu-disk.img');
    const otherDisk = join(dir, 'other-disk.img');
    writeFileSync(qemuDisk, '');
    writeFileSync(otherDisk, '');
    // QEMU's pattern: its own restricted connection, registered with its own pid, holding a lease.
    const qemu = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: qemuDisk }], restrict: true });
    // libvirtd's pattern: a connection acting for another pid.
    const libvirtd = await LockClient.connect(daemon.socket);
    await libvirtd.register({ uuid: '00000000-0000-4000-8000-0000000a1b2c', name: 'vm2', id: 2, pid: 0x7ff30000 });
    await libvirtd.acquire('', otherDisk, 0);
    assert.equal((await probeLock(otherDisk)).posix.getWrite?.pid, daemon.pid);

    // argv[0] now names holdfastd; SIGUSR1 makes virtlockd save its state and exec it.
    const wrapper = join(dir, 'holdfastd-wrapper');
    // virtlockd's own argv (-f its config, -p its pid file) goes through; a later -f lets holdfastd log info.
    const config = join(dir, 'holdfastd.conf');
    writeFileSync(config, 'log_outputs = "2:stderr"\n');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(HOLDFASTD)} "$@" -f ${JSON.stringify(config)}\n`);
    chmodSync(wrapper, 0o755);
    rmSync(link);
    symlinkSync(wrapper, link);
    process.kill(daemon.pid, 'SIGUSR1');
    // The same pid now runs holdfastd, whose serving worker adopted virtlockd's state.
    await waitFor(() => commandLine(daemon.pid).includes('holdfastd'), 30_000, 'the exec into holdfastd', 20);
    await workerPid(daemon.pid, 30_000);

    // Same pid, same POSIX locks, same connections.
    for (const disk of [qemuDisk, otherDisk]) assert.equal((await probeLock(disk)).posix.getWrite?.pid, daemon.pid, `${disk} lost its lock`);
    await libvirtd.createLockspace('');
    const intruder = await LockClient.connect(daemon.socket);
    await intruder.register({ uuid: '00000000-0000-4000-8000-0000000a1b2d', name: 'intruder', id: 3, pid: 0x7ff30001 });
    await assert.rejects(intruder.acquire('', otherDisk, 0), (err: { code?: number }) => err.code === 87);
    await intruder.close();

    // A release through holdfast frees virtlockd's POSIX lock.
    await libvirtd.release('', otherDisk, 0);
    assert.equal((await probeLock(otherDisk)).posix.canWrite, true, 'the POSIX lock outlived its release');
    await libvirtd.close();

    // The restricted owner's disconnect still releases its lease and kills it.
    await qemu.closeConnection();
    const exit = await within(30_000, 'the owner to exit', qemu.exited);
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal((await probeLock(qemuDisk)).posix.canWrite, true, 'the owner’s lease outlived its disconnect');
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
