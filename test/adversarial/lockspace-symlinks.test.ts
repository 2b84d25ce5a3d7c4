// Issue 12 case 8: directory lockspaces and symlinks. A lockspace directory must be the daemon's own and not
// group/world-writable; resources are opened inside it without following symlinks, so a root daemon never
// creates, locks or deletes a file outside the lockspace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { fileId, locksOn } from '../fixtures/proc-locks';

// Every case takes well under a second; a hang fails it instead of stalling the run.
const TEST_TIMEOUT_MS = 20_000;

const AUTOCREATE = 2;
const NOBODY_UID = Number(execFileSync('id', ['-u', 'nobody']).toString());
const NOBODY_GID = Number(execFileSync('id', ['-g', 'nobody']).toString());
const FAKE_OWNER = 4_190_101;

let root: string;
let outside: string;
let daemon: HoldfastHandle;
let client: LockClient;

/** Runs a shell command as nobody: what an unprivileged attacker can do. */
function asNobody(script: string): void {
  execFileSync('setpriv', [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_GID}`, '--clear-groups', '--', 'sh', '-c', script], { timeout: 5000 });
}

async function refused(call: Promise<unknown>, what: string, message?: RegExp): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof LockError, `${what}: expected a LockError, got ${String(err)}`);
    if (message) assert.match(err.message, message, what);
    return true;
  }, `${what} must be refused`);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'holdfast-lockspace-symlinks-'));
  chmodSync(root, 0o755); // nobody must reach its own directories below
  outside = join(root, 'outside');
  mkdirSync(outside);
  const run = join(root, 'run');
  mkdirSync(run, { mode: 0o700 });
  daemon = await startHoldfast({ dir: run });
  client = await LockClient.connect(daemon.socket);
  await client.register({ uuid: '21111111-2222-3333-4444-555555555555', name: 'vm', id: 1, pid: FAKE_OWNER });
});

after(async () => {
  await client?.close();
  await daemon?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('a lockspace directory made by another user is refused; a symlink planted in it creates nothing outside', { timeout: TEST_TIMEOUT_MS }, async () => {
  const home = join(root, 'nobody-home');
  mkdirSync(home);
  chownSync(home, NOBODY_UID, NOBODY_GID);
  const lockspace = join(home, 'space');
  asNobody(`mkdir -m 0755 ${lockspace} && ln -s ${join(outside, 'made-by-root')} ${join(lockspace, 'disk')}`);
  await refused(client.createLockspace(lockspace), 'CREATE_LOCKSPACE of a nobody-owned directory', new RegExp(`${lockspace}.*owned by uid ${NOBODY_UID}`));
  await refused(client.newLockspace(lockspace), 'NEW of a nobody-owned directory', /owned by uid/);
  await refused(client.acquire(lockspace, 'disk', AUTOCREATE), 'ACQUIRE in it');
  await client.release(lockspace, 'disk').catch(() => undefined);
  assert.ok(!existsSync(join(outside, 'made-by-root')), 'no file was created outside the lockspace');
});

test('a group- or world-writable lockspace directory is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (const mode of [0o770, 0o777, 0o1777]) {
    const lockspace = join(root, `writable-${mode.toString(8)}`);
    mkdirSync(lockspace);
    chmodSync(lockspace, mode);
    await refused(client.createLockspace(lockspace), `CREATE_LOCKSPACE of a ${mode.toString(8)} directory`, /writable by group or others/);
  }
});

test('a symlink inside the daemon\'s own lockspace: ACQUIRE neither creates nor locks its target', { timeout: TEST_TIMEOUT_MS }, async () => {
  const lockspace = join(root, 'own-space');
  await client.createLockspace(lockspace);
  const victim = join(outside, 'victim.img');
  writeFileSync(victim, 'data');
  symlinkSync(victim, join(lockspace, 'linked'));
  symlinkSync(join(outside, 'created.img'), join(lockspace, 'dangling'));
  await refused(client.acquire(lockspace, 'linked'), 'ACQUIRE of a symlink', /symbolic link/);
  assert.deepEqual(locksOn(fileId(victim)), [], 'the symlink target is not locked');
  await refused(client.acquire(lockspace, 'dangling', AUTOCREATE), 'ACQUIRE AUTOCREATE of a dangling symlink', /symbolic link/);
  assert.ok(!existsSync(join(outside, 'created.img')), 'nothing was created outside the lockspace');
  await refused(client.createResource(lockspace, 'dangling'), 'CREATE_RESOURCE of a dangling symlink', /symbolic link/);
  assert.ok(!existsSync(join(outside, 'created.img')), 'CREATE_RESOURCE created nothing outside');
  // The lockspace still works for a plain name.
  await client.acquire(lockspace, 'plain', AUTOCREATE);
  assert.equal(locksOn(fileId(join(lockspace, 'plain'))).length, 1);
  await client.release(lockspace, 'plain');
});

test('a lockspace swapped for a symlink to another directory: CREATE/DELETE_RESOURCE do not act in the target', { timeout: TEST_TIMEOUT_MS }, async () => {
  const parent = join(root, 'nobody-parent');
  mkdirSync(parent);
  chownSync(parent, NOBODY_UID, NOBODY_GID);
  const lockspace = join(parent, 'space');
  await client.createLockspace(lockspace); // made by the daemon: its own, mode 0700
  await client.acquire(lockspace, 'held.img', AUTOCREATE); // unlinked on release: where?
  const target = join(root, 'swap-target');
  mkdirSync(target);
  writeFileSync(join(target, 'keep.img'), 'keep');
  writeFileSync(join(target, 'held.img'), 'keep too');
  // The owner of the parent directory moves the lockspace away and puts a symlink in its place.
  asNobody(`mv ${lockspace} ${lockspace}.old && ln -s ${target} ${lockspace}`);
  await refused(client.createResource(lockspace, 'planted.img'), 'CREATE_RESOURCE through the symlink');
  await refused(client.deleteResource(lockspace, 'keep.img'), 'DELETE_RESOURCE through the symlink');
  await refused(client.acquire(lockspace, 'auto.img', AUTOCREATE), 'ACQUIRE AUTOCREATE through the symlink');
  assert.ok(!existsSync(join(target, 'planted.img')), 'CREATE_RESOURCE created nothing in the target');
  assert.ok(!existsSync(join(target, 'auto.img')), 'ACQUIRE created nothing in the target');
  assert.equal(readFileSync(join(target, 'keep.img'), 'utf8'), 'keep', 'DELETE_RESOURCE removed nothing in the target');
  await client.release(lockspace, 'held.img'); // the lock goes; the AUTOCREATE unlink must not land in the target
  assert.equal(readFileSync(join(target, 'held.img'), 'utf8'), 'keep too', 'the release unlinked nothing in the target');
  assert.ok(existsSync(join(`${lockspace}.old`, 'held.img')), 'the file it held is left where it was (its directory went away)');
  // Put things back so later cases are unaffected.
  rmSync(lockspace);
  renameSync(`${lockspace}.old`, lockspace);
});

test('a lockspace made group/world-writable after it was created: refused from then on', { timeout: TEST_TIMEOUT_MS }, async () => {
  const lockspace = join(root, 'later-writable');
  await client.createLockspace(lockspace);
  chmodSync(lockspace, 0o777);
  await refused(client.acquire(lockspace, 'disk', AUTOCREATE), 'ACQUIRE', /writable by group or others/);
  await refused(client.createResource(lockspace, 'disk'), 'CREATE_RESOURCE', /writable by group or others/);
  assert.ok(!existsSync(join(lockspace, 'disk')));
  chmodSync(lockspace, 0o700);
});

test('an AUTOCREATE file replaced under the lock is not unlinked on release', { timeout: TEST_TIMEOUT_MS }, async () => {
  const lockspace = join(root, 'replaced');
  await client.createLockspace(lockspace);
  await client.acquire(lockspace, 'disk', AUTOCREATE);
  renameSync(join(lockspace, 'disk'), join(lockspace, 'disk.moved'));
  writeFileSync(join(lockspace, 'disk'), 'someone else\'s');
  await client.release(lockspace, 'disk');
  assert.equal(readFileSync(join(lockspace, 'disk'), 'utf8'), 'someone else\'s', 'the file now under that name stays');
});

test('the direct lockspace keeps virtlockd\'s behaviour: a symlinked disk path locks the file it names', { timeout: TEST_TIMEOUT_MS }, async () => {
  const disk = join(outside, 'disk.img');
  writeFileSync(disk, '');
  const link = join(root, 'disk-link.img');
  symlinkSync(disk, link);
  await client.acquire('', link);
  assert.equal(locksOn(fileId(disk)).length, 1, 'the symlink target carries the lock');
  await client.release('', link);
});
