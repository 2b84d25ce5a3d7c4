// SO_PEERCRED rules, with real users: a root daemon serves only uid 0, a non-root daemon only its own uid.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { settleWithin } from '../fixtures/deadline';
import { ONE_CALL_FLAG, type OneCallOutcome } from '../fixtures/one-call';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';

const ONE_CALL = join(__dirname, '..', 'fixtures', 'one-call.js');
const NOBODY_UID = Number(execFileSync('id', ['-u', 'nobody']).toString());
const NOBODY_GID = Number(execFileSync('id', ['-g', 'nobody']).toString());

function asUser(uid: number, gid: number, command: string[]): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...command];
}

function oneCall(socket: string, user?: { uid: number; gid: number }): Promise<OneCallOutcome> {
  const command = [process.execPath, ONE_CALL, ONE_CALL_FLAG, socket];
  const argv = user ? asUser(user.uid, user.gid, command) : command;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim()) as OneCallOutcome);
      } catch {
        reject(new Error(`one-call printed ${JSON.stringify(out)}`));
      }
    });
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-uid-'));
  // The run dirs must be reachable by nobody for the cases where a peer gets as far as connect().
  chmodSync(dir, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('root daemon: its socket is mode 0700, so other users cannot even connect', async () => {
  const run = mkdtempSync(join(dir, 'root-'));
  chmodSync(run, 0o755);
  const daemon = await startHoldfast({ dir: run });
  try {
    const result = await oneCall(daemon.socket, { uid: NOBODY_UID, gid: NOBODY_GID });
    assert.deepEqual(result, { outcome: 'connect-error', code: 'EACCES' });
    assert.deepEqual(await oneCall(daemon.socket), { outcome: 'reply', status: 0 });
  } finally {
    await daemon.stop();
  }
});

test('root daemon: a peer with uid != 0 that does connect is refused without an answer, and logged', async () => {
  const run = mkdtempSync(join(dir, 'root-open-'));
  chmodSync(run, 0o755);
  const daemon: HoldfastHandle = await startHoldfast({ dir: run });
  try {
    chmodSync(daemon.socket, 0o777); // a mistaken permission must not open the door
    const result = await oneCall(daemon.socket, { uid: NOBODY_UID, gid: NOBODY_GID });
    assert.deepEqual(result, { outcome: 'closed' });
    assert.match(daemon.logs(), new RegExp(`Disallowing client with uid ${NOBODY_UID}`));
    // The daemon keeps serving root.
    assert.deepEqual(await oneCall(daemon.socket), { outcome: 'reply', status: 0 });
  } finally {
    await daemon.stop();
  }
});

test('non-root daemon serves its own uid and refuses root', async () => {
  const run = mkdtempSync(join(dir, 'nobody-'));
  chownSync(run, NOBODY_UID, NOBODY_GID);
  const child = spawn(
    asUser(NOBODY_UID, NOBODY_GID, [process.execPath, join(__dirname, '..', '..', 'src', 'cli', 'holdfastd.js'), '--run-dir', run])[0]!,
    asUser(NOBODY_UID, NOBODY_GID, [process.execPath, join(__dirname, '..', '..', 'src', 'cli', 'holdfastd.js'), '--run-dir', run]).slice(1),
    { cwd: run, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: run, XDG_CONFIG_HOME: run } },
  );
  let logs = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  const socket = join(run, 'holdfastd-sock');
  try {
    let first: OneCallOutcome | null = null;
    await settleWithin(async () => (first = await oneCall(socket, { uid: NOBODY_UID, gid: NOBODY_GID })).outcome === 'reply', 15_000, 50);
    assert.deepEqual(first, { outcome: 'reply', status: 0 }, logs);
    // Root can connect (root ignores file modes) but is not the daemon's uid.
    assert.deepEqual(await oneCall(socket), { outcome: 'closed' });
    assert.match(logs, /Disallowing client with uid 0/);
  } finally {
    // A daemon that failed to start has exited already: its exit event will not come again.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }
});
