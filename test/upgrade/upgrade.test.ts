// SIGUSR1: the supervisor re-executes itself (same pid) through the restart-exec document, under load,
// without losing a connection, a reply or a lock; a refused upgrade changes nothing; a SIGUSR1 storm
// never opens Node's inspector.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { sleep, waitFor, waitForLog } from '../fixtures/deadline';
import { inspectorListening } from '../fixtures/inspector';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { workerPid } from '../fixtures/process-info';
import { underLoad } from '../custody/custody-harness';

const UPGRADES = Number(process.env.HOLDFAST_UPGRADES ?? 100);


test(`${UPGRADES} SIGUSR1 upgrades under a 16-client load: same pid, no lost reply, every lock held`, { timeout: 600_000 }, async (t) => {
  await underLoad('upgrade', async ({ daemon }) => {
    for (let i = 1; i <= UPGRADES; i++) {
      process.kill(daemon.pid, 'SIGUSR1');
      await waitForLog(daemon.logs, /upgraded: restored every lock and client/, i);
      await waitForLog(daemon.logs, /"worker ready"/, i + 1);
      assert.equal(daemon.process.exitCode, null, 'the supervisor exited');
      assert.equal(inspectorListening(), false, 'something listens on 9229');
    }
    assert.doesNotMatch(daemon.logs(), /upgrade refused/);
  }, (s) => t.diagnostic(s));
});

test('a refused upgrade (state file cannot be written) leaves the daemon serving with every lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-refused-'));
  // A path under a regular file: the document can never be written there.
  writeFileSync(join(dir, 'not-a-directory'), '');
  const stateFile = join(dir, 'not-a-directory', 'state.json');
  const daemon = await startHoldfast({ dir, extraArgs: ['-v', '--state-file', stateFile] });
  try {
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    const client = await LockClient.connect(daemon.socket);
    await client.register({ uuid: '00000000-0000-4000-8000-00000000ad01', name: 'vm', id: 1, pid: 0x7ff20000 });
    await client.acquire('', disk, 0);
    process.kill(daemon.pid, 'SIGUSR1');
    await waitForLog(daemon.logs, /upgrade refused/, 1);
    assert.match(daemon.logs(), /cannot write the state document/);
    assert.equal((await probeLock(disk)).ofd.canWrite, false, 'the lock was dropped');
    await client.release('', disk, 0);
    assert.equal((await probeLock(disk)).ofd.canWrite, true);
    await client.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a burst of 50 SIGUSR1 never opens the inspector nor kills the daemon, and queues at most one more upgrade', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-storm-'));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
  try {
    for (let i = 0; i < 50; i++) process.kill(daemon.pid, 'SIGUSR1');
    await waitForLog(daemon.logs, /upgraded: restored every lock and client/, 1);
    // Room for the one queued upgrade and any more a burst wrongly queued: each takes well under a second,
    // as the one just awaited did.
    await sleep(3000);
    const upgrades = (daemon.logs().match(/upgraded: restored every lock and client/g) ?? []).length;
    assert.ok(upgrades <= 2, `${upgrades} upgrades from one burst`);
    assert.equal(inspectorListening(), false, 'something listens on 9229');
    assert.equal(daemon.process.exitCode, null);
    const client = await LockClient.connect(daemon.socket);
    await client.createLockspace('');
    await client.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM while an upgrade is being checked stops the daemon: it never re-executes into a stopped state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-stop-during-upgrade-'));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
  try {
    // The upgrade first has the binary on disk check the document (a child process, hundreds of ms); the
    // stop arrives meanwhile and must win. A frozen worker keeps the stop going (it is killed after 5 s)
    // long after that check is done: an upgrade that ignored the stop would exec by then.
    const worker = await workerPid(daemon.pid);
    process.kill(worker, 'SIGSTOP');
    process.kill(daemon.pid, 'SIGUSR1');
    process.kill(daemon.pid, 'SIGTERM');
    const exit = await Promise.race([
      daemon.exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000).unref()),
    ]);
    assert.deepEqual(exit, { code: 0, signal: null }, daemon.logs());
    assert.doesNotMatch(daemon.logs(), /re-executing from the code on disk/);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGTERM in the last instant before the exec is not lost: the exec is cancelled and the daemon stops', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-stop-at-exec-'));
  // The daemon holds still for 2 s right before its exec, where no JS signal handler can run; without the
  // stop latch libuv would swallow the SIGTERM there and the new image would serve on.
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'], env: { HOLDFASTD_TEST_EXEC_PAUSE_MS: '2000' } });
  try {
    const client = await LockClient.connect(daemon.socket);
    await client.register({ uuid: '00000000-0000-4000-8000-0000000057e0', name: 'vm', id: 1, pid: 0x7fff0000 });
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    await client.acquire('', disk, 0);
    process.kill(daemon.pid, 'SIGUSR1');
    await waitFor(() => /re-executing from the code on disk/.test(daemon.logs()), 30_000, () => `an upgrade to begin:\n${daemon.logs()}`, 20);
    // Still inside the pause (and the lock still held), the stop arrives.
    assert.equal((await probeLock(disk)).ofd.canWrite, false, 'the lock is held during the pause');
    process.kill(daemon.pid, 'SIGTERM');
    const exit = await Promise.race([
      daemon.exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000).unref()),
    ]);
    assert.deepEqual(exit, { code: 0, signal: null }, daemon.logs());
    assert.match(daemon.logs(), /SIGTERM arrived: stopping instead/);
    // The stop released everything, as any stop does.
    assert.equal((await probeLock(disk)).ofd.canWrite, true, 'the stop released the lock');
    await client.close().catch(() => undefined);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a new binary on disk that refuses the state document leaves the daemon serving on the old code', async () => {
  // A private copy of the build, so the "binary on disk" can be replaced under the running daemon.
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-badbinary-'));
  const root = join(__dirname, '..', '..', '..');
  const copy = join(dir, 'install');
  cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
  for (const lib of ['holdfast.node', 'signal_guard.so']) cpSync(join(root, 'build', 'Release', lib), join(copy, 'build', 'Release', lib));
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  const run = join(dir, 'run');
  const daemonMain = join(copy, 'dist', 'src', 'cli', 'holdfastd.js');
  const child = spawn(process.execPath, [daemonMain, '--run-dir', run, '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  try {
    await waitForLog(() => logs, /"holdfastd serving"/, 1);
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    const client = await LockClient.connect(join(run, 'holdfastd-sock'));
    await client.register({ uuid: '00000000-0000-4000-8000-00000000ad02', name: 'vm', id: 1, pid: 0x7ff20001 });
    await client.acquire('', disk, 0);
    // The "upgrade" on disk cannot read our document.
    writeFileSync(daemonMain, "process.stdout.write('state document format not understood\\n'); process.exit(1);\n");
    process.kill(child.pid!, 'SIGUSR1');
    await waitForLog(() => logs, /upgrade refused/, 1);
    assert.match(logs, /the binary on disk refused the state document/);
    assert.equal(child.exitCode, null);
    assert.equal((await probeLock(disk)).ofd.canWrite, false, 'the lock was dropped');
    await client.release('', disk, 0);
    await client.close();
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a state document left for another pid is set aside at start-up, with a warning, and the daemon starts afresh', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-foreign-'));
  try {
    const sample = readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'state-documents', 'virtlockd-sample.json'), 'utf8');
    writeFileSync(join(dir, 'holdfastd-restart-exec.json'), sample); // magic "7514": not us
    const daemon = await startHoldfast({ dir });
    try {
      assert.match(daemon.logs(), /belongs to pid 7514/);
      assert.ok(readdirSync(dir).some((f) => f.startsWith('holdfastd-restart-exec.json.rejected-')));
      const client = await LockClient.connect(daemon.socket);
      await client.createLockspace('');
      await client.close();
    } finally {
      await daemon.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
