// Issue 12 case 7: the daemon's own files. A root holdfastd never writes, truncates, chmods or unlinks through a
// symlink planted at its pid file or socket paths, and refuses a run directory another user can write.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { settleWithin, within } from '../fixtures/deadline';
import { HOLDFASTD } from '../fixtures/holdfast-daemon';

// Every case takes well under a second; a hang fails it instead of stalling the run.
const TEST_TIMEOUT_MS = 20_000;

const NOBODY_UID = Number(execFileSync('id', ['-u', 'nobody']).toString());
const NOBODY_GID = Number(execFileSync('id', ['-g', 'nobody']).toString());
const START_DEADLINE_MS = 8000;

let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'holdfast-symlink-files-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

interface StartOutcome {
  /** Exit code when the daemon gave up by itself; null when it came up (and was stopped by us). */
  code: number | null;
  logs: string;
}

/** Runs holdfastd on `args` until it exits or its socket answers; a daemon that came up is stopped. */
async function tryStart(runDir: string, args: string[] = []): Promise<StartOutcome> {
  const child = spawn(process.execPath, [HOLDFASTD, '--run-dir', runDir, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (c: Buffer) => (logs += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  await settleWithin(async () => gone !== undefined || (await LockClient.answers(join(runDir, 'holdfastd-sock'))), START_DEADLINE_MS, 25);
  if (gone !== undefined) return { code: gone, logs };
  child.kill('SIGTERM');
  await within(30_000, 'holdfastd to stop', exited);
  return { code: null, logs };
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

test('a pid file path that is a symlink: start refused, the target is neither truncated nor overwritten', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = mkdtempSync(join(root, 'pid-'));
  const victim = join(root, 'precious-pid-target');
  writeFileSync(victim, 'precious contents\n');
  symlinkSync(victim, join(run, 'holdfastd.pid'));
  const outcome = await tryStart(run);
  assert.equal(readFileSync(victim, 'utf8'), 'precious contents\n', `the symlink's target is untouched\n${outcome.logs}`);
  assert.notEqual(outcome.code, null, 'the daemon refused to start');
  assert.match(outcome.logs, /pid file .*symbolic link|symlink/i);
});

test('a socket path that is a symlink: start refused; the link and its target stay as they were', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = mkdtempSync(join(root, 'sock-'));
  const victim = join(root, 'precious-sock-target');
  writeFileSync(victim, 'keep');
  chmodSync(victim, 0o644);
  symlinkSync(victim, join(run, 'holdfastd-sock'));
  const outcome = await tryStart(run);
  assert.equal(readFileSync(victim, 'utf8'), 'keep');
  assert.equal(statSync(victim).mode & 0o777, 0o644, 'the target was not chmod-ed');
  assert.ok(lstatSync(join(run, 'holdfastd-sock')).isSymbolicLink(), 'the link was not silently replaced');
  assert.notEqual(outcome.code, null, `the daemon refused to start\n${outcome.logs}`);
  assert.match(outcome.logs, /holdfastd-sock.*symbolic link/i);
});

test('a run directory writable by group/others is refused at start-up', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = join(root, 'world-writable');
  mkdirSync(run);
  chmodSync(run, 0o777);
  const outcome = await tryStart(run);
  assert.notEqual(outcome.code, null, `the daemon refused to start\n${outcome.logs}`);
  assert.match(outcome.logs, /world-writable.*(writable by|not owned)|writable by (group|others)/i);
  assert.ok(!lstatExists(join(run, 'holdfastd.pid')), 'no pid file was written there');
});

test('a run directory owned by another user is refused at start-up', { timeout: TEST_TIMEOUT_MS }, async () => {
  const run = join(root, 'nobody-owned');
  mkdirSync(run);
  chownSync(run, NOBODY_UID, NOBODY_GID);
  chmodSync(run, 0o755);
  const outcome = await tryStart(run);
  assert.notEqual(outcome.code, null, `the daemon refused to start\n${outcome.logs}`);
  assert.match(outcome.logs, new RegExp(`nobody-owned.*owned by uid ${NOBODY_UID}`));
  assert.ok(!lstatExists(join(run, 'holdfastd.pid')), 'no pid file was written there');
});
