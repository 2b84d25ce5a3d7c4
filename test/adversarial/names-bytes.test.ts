// Issue 12 case 6: names are bytes. A name holdfast cannot carry exactly (not UTF-8, or with a NUL) is refused
// with VIR_ERR_INVALID_ARG on every entry point; it never stands for a different file or directory.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient, LockError } from '../../src/client/lock-client';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { fileId, locksOn } from '../fixtures/proc-locks';

// Every case takes well under a second; a hang fails it instead of stalling the run.
const TEST_TIMEOUT_MS = 20_000;

const AUTOCREATE = 2;
// Above PID_MAX_LIMIT: no process has it, so nobody is ever signalled.
const FAKE_OWNER = 4_190_001;

let dir: string;
let daemon: HoldfastHandle;
let client: LockClient;

/** `<dir>/` + raw bytes, as a Buffer path (what a hostile client puts on the wire). */
function bytesPath(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat([Buffer.from(`${dir}/`), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))]);
}

async function expectInvalidArg(call: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof LockError, `${what}: expected a LockError, got ${String(err)}`);
    assert.equal(err.code, VirErrorCode.INVALID_ARG, `${what}: ${err.message}`);
    return true;
  }, `${what} must be refused`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-names-'));
  daemon = await startHoldfast({ dir });
  client = await LockClient.connect(daemon.socket);
  await client.register({ uuid: '11111111-2222-3333-4444-555555555555', name: 'vm', id: 1, pid: FAKE_OWNER });
});

after(async () => {
  await client?.close();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('ACQUIRE AUTOCREATE of a non-UTF-8 path is refused; neither it nor a U+FFFD look-alike is created or locked', { timeout: TEST_TIMEOUT_MS }, async () => {
  await expectInvalidArg(client.acquire('', bytesPath('disk', Buffer.from([0xff]), '.img'), AUTOCREATE), 'disk\\xff.img');
  await expectInvalidArg(client.acquire('', bytesPath('disk', Buffer.from([0xfe]), '.img'), AUTOCREATE), 'disk\\xfe.img');
  assert.ok(!existsSync(join(dir, 'disk\ufffd.img')), 'no U+FFFD look-alike was created');
  assert.ok(!existsSync(bytesPath('disk', Buffer.from([0xff]), '.img')), 'the refused name was not created either');
});

test('ACQUIRE of an existing non-UTF-8 file is refused, and its look-alike is not locked instead', { timeout: TEST_TIMEOUT_MS }, async () => {
  const real = bytesPath('real', Buffer.from([0xff]), '.img');
  writeFileSync(real, '');
  const lookAlike = join(dir, 'real\ufffd.img');
  writeFileSync(lookAlike, '');
  await expectInvalidArg(client.acquire('', real), 'real\\xff.img');
  assert.deepEqual(locksOn(fileId(lookAlike)), [], 'the look-alike is not locked');
});

test('a NUL inside a name is refused, not cut to the bytes before it', { timeout: TEST_TIMEOUT_MS }, async () => {
  await expectInvalidArg(client.acquire('', bytesPath('cut.img', Buffer.from([0]), 'tail'), AUTOCREATE), 'cut.img\\0tail');
  assert.ok(!existsSync(join(dir, 'cut.img')), 'cut.img was not created');
  await expectInvalidArg(client.createLockspace(bytesPath('ls-nul', Buffer.from([0]), 'x')), 'CREATE_LOCKSPACE with a NUL');
  assert.ok(!existsSync(join(dir, 'ls-nul')));
});

test('CREATE_LOCKSPACE and NEW with a non-UTF-8 path are refused; no look-alike directory appears', { timeout: TEST_TIMEOUT_MS }, async () => {
  await expectInvalidArg(client.createLockspace(bytesPath('ls', Buffer.from([0xff]))), 'CREATE_LOCKSPACE ls\\xff');
  await expectInvalidArg(client.newLockspace(bytesPath('nls', Buffer.from([0xfe]))), 'NEW nls\\xfe');
  const entries = readdirSync(dir);
  assert.ok(!entries.some((e) => e.startsWith('ls') || e.startsWith('nls')), `no lockspace directory made: ${entries.join(', ')}`);
});

test('resource names that are not UTF-8 are refused in a directory lockspace; DELETE does not remove the look-alike', { timeout: TEST_TIMEOUT_MS }, async () => {
  const lockspace = join(dir, 'space');
  await client.createLockspace(lockspace);
  const lookAlike = join(lockspace, 'vol\ufffd');
  writeFileSync(lookAlike, 'keep');
  const name = Buffer.concat([Buffer.from('vol'), Buffer.from([0xff])]);
  await expectInvalidArg(client.createResource(lockspace, name), 'CREATE_RESOURCE');
  await expectInvalidArg(client.deleteResource(lockspace, name), 'DELETE_RESOURCE');
  await expectInvalidArg(client.acquire(lockspace, name, AUTOCREATE), 'ACQUIRE_RESOURCE');
  await expectInvalidArg(client.release(lockspace, name), 'RELEASE_RESOURCE');
  assert.ok(existsSync(lookAlike), 'vol\\uFFFD is still there');
  assert.deepEqual(locksOn(fileId(lookAlike)), []);
  // A non-UTF-8 lockspace path in a resource call is refused the same way.
  await expectInvalidArg(client.acquire(bytesPath('space', Buffer.from([0xff])), 'x', AUTOCREATE), 'ACQUIRE in lockspace space\\xff');
});

test('REGISTER with a non-UTF-8 owner name is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const other = await LockClient.connect(daemon.socket);
  try {
    const name = Buffer.concat([Buffer.from('vm-'), Buffer.from([0xc3, 0x28])]);
    await expectInvalidArg(other.register({ uuid: '11111111-2222-3333-4444-555555555556', name, id: 1, pid: FAKE_OWNER + 1 }), 'REGISTER');
  } finally {
    await other.close();
  }
});

test('a valid UTF-8 name with non-ASCII characters is locked under exactly its own bytes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sub = join(dir, 'utf8');
  mkdirSync(sub);
  const path = join(sub, 'disk-é-\u{1F512}.img');
  await client.acquire('', path, AUTOCREATE);
  assert.deepEqual(readdirSync(sub, { encoding: 'buffer' }), [Buffer.from('disk-é-\u{1F512}.img')]);
  assert.equal(locksOn(fileId(path)).length, 1, 'the file with those exact bytes is locked');
  await client.release('', path);
  assert.ok(!existsSync(path), 'AUTOCREATE file unlinked on release');
});
