// holdfastd as an operator meets it: flags, config errors, the pid file, clean stop, -d, worker respawn.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { settleWithin, sleep, within } from '../fixtures/deadline';
import { HOLDFASTD, startHoldfast } from '../fixtures/holdfast-daemon';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'holdfast-cli-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

function holdfastd(args: string[], cwd = dir) {
  return spawnSync(process.execPath, [HOLDFASTD, ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
}

test('-V prints the version', () => {
  const version = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version as string;
  const result = holdfastd(['-V']);
  assert.equal(result.status, 0);
  assert.equal(result.stdout.split('\n')[0], `holdfastd (holdfast) ${version}`);
});

test('a config error stops the start with the file and line', () => {
  const run = mkdtempSync(join(dir, 'badconf-'));
  const conf = join(run, 'bad.conf');
  writeFileSync(conf, 'log_level = 3\n\nmax_client = 10\n');
  const result = holdfastd(['--run-dir', run, '-f', conf]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /bad\.conf:3: .*max_client.*max_clients/);
  assert.equal(existsSync(join(run, 'holdfastd-sock')), false, 'no socket may be bound after a config error');
});

test('a named config file that is missing stops the start', () => {
  const result = holdfastd(['--run-dir', dir, '-f', join(dir, 'nope.conf')]);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /nope\.conf/);
});

test('a second daemon on the same run dir is refused and the first keeps serving', async () => {
  const run = mkdtempSync(join(dir, 'twice-'));
  const first = await startHoldfast({ dir: run });
  try {
    const second = holdfastd(['--run-dir', run]);
    assert.equal(second.status, 2);
    assert.match(second.stderr, /pid file|in use/);
    const client = await LockClient.connect(first.socket);
    await client.createLockspace('');
    await client.close();
  } finally {
    await first.stop();
  }
});

test('SIGTERM stops cleanly: exit 0, socket and pid file removed', async () => {
  const run = mkdtempSync(join(dir, 'stop-'));
  const daemon = await startHoldfast({ dir: run });
  assert.ok(existsSync(join(run, 'holdfastd.pid')));
  assert.equal(readFileSync(join(run, 'holdfastd.pid'), 'utf8').trim(), String(daemon.pid));
  await daemon.stop();
  assert.deepEqual(await daemon.exited, { code: 0, signal: null });
  assert.equal(existsSync(daemon.socket), false);
  assert.equal(existsSync(join(run, 'holdfastd.pid')), false);
});

test('-d returns once the background daemon serves; it stops on SIGTERM', async () => {
  const run = mkdtempSync(join(dir, 'daemon-'));
  const result = holdfastd(['--run-dir', run, '-d']);
  assert.equal(result.status, 0, result.stderr);
  const pid = Number(readFileSync(join(run, 'holdfastd.pid'), 'utf8'));
  const client = await LockClient.connect(join(run, 'holdfastd-sock'));
  await client.createLockspace('');
  await client.close();
  process.kill(pid, 'SIGTERM');
  await settleWithin(() => !existsSync(join(run, 'holdfastd.pid')), 5_000, 25);
  assert.equal(existsSync(join(run, 'holdfastd.pid')), false, 'the background daemon did not stop');
});

test('a killed worker is replaced and the daemon keeps serving', async () => {
  const run = mkdtempSync(join(dir, 'respawn-'));
  const daemon = await startHoldfast({ dir: run });
  try {
    const first = await workerPid(daemon.pid);
    process.kill(first, 'SIGKILL');
    let second = first;
    await settleWithin(async () => (second = await workerPid(daemon.pid, 100).catch(() => first)) !== first, 5_000, 25);
    assert.notEqual(second, first, 'no new worker');
    const client = await LockClient.connect(daemon.socket);
    await client.createLockspace('');
    await client.close();
    assert.match(daemon.logs(), /worker died/);
  } finally {
    await daemon.stop();
  }
});

test('holdfast swap-worker swaps the serving worker of the daemon found by its --run-dir', async () => {
  const run = mkdtempSync(join(dir, 'swap-cli-'));
  const daemon = await startHoldfast({ dir: run, extraArgs: ['-v'] });
  try {
    const before = await workerPid(daemon.pid);
    const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js'), '--run-dir', run, 'swap-worker'], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`pid ${daemon.pid}`));
    const after = await nextWorkerPid(daemon.pid, before);
    assert.notEqual(after, before);
    const client = await LockClient.connect(daemon.socket);
    await client.createLockspace('');
    await client.close();
  } finally {
    await daemon.stop();
  }
});

test('holdfast swap-worker without a daemon says so in one line and fails', () => {
  const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js'), '--run-dir', join(dir, 'nothing-here'), 'swap-worker'], { encoding: 'utf8' });
  // 2: a connection error (1 is `who`'s "held" and a refused upgrade or swap).
  assert.equal(cli.status, 2);
  assert.equal(cli.stderr.trim().split('\n').length, 1);
  assert.match(cli.stderr, /is holdfastd running\?/);
});

test('-t exits after the idle timeout, but not while a client is connected', async () => {
  const run = mkdtempSync(join(dir, 'idle-'));
  const daemon = await startHoldfast({ dir: run, extraArgs: ['-t', '1'] });
  const client = await LockClient.connect(daemon.socket);
  await client.createLockspace('');
  // Twice the 1 s idle timeout: an idle check that ignored the client would have stopped the daemon by now.
  await sleep(2000);
  assert.equal(daemon.process.exitCode, null, 'exited while a client was connected');
  await client.close();
  assert.deepEqual(await within(30_000, 'the idle daemon to exit', daemon.exited), { code: 0, signal: null });
});
