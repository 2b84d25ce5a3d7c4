// The lockspace registry on real directories: the default lockspace, NEW (add) and CREATE_LOCKSPACE
// (ensure), lookups, and what it refuses.
import assert from 'node:assert/strict';
import { existsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';
import { Lockspace } from '../../src/worker/lock/lockspace';
import { LockspaceRegistry } from '../../src/worker/lock/registry';
import { ACQUIRE_AUTOCREATE } from '../../src/shared/custody/records/resource-record';
import { scratchDir, seenFromOutside, virError } from './model-fixtures';

test('"" is the default lockspace, always there; an unknown path is an internal error', () => {
  const registry = new LockspaceRegistry();
  assert.equal(registry.lookup(''), registry.defaultLockspace);
  assert.equal(registry.defaultLockspace.directory, null);
  assert.equal(registry.has(''), true);
  assert.equal(registry.has('/nowhere'), false);
  assert.throws(() => registry.lookup('/nowhere'), virError(VirErrorCode.INTERNAL_ERROR, VirErrorDomain.RPC, /Lockspace for path \/nowhere does not exist/));
  assert.deepEqual(registry.all(), [registry.defaultLockspace]);
});

test('add creates the directory once; a second add of the same path, or of "", is refused', () => {
  const { dir, cleanup } = scratchDir('registry-add');
  try {
    const registry = new LockspaceRegistry();
    const path = join(dir, 'ls');
    const lockspace = registry.add(path);
    assert.equal(statSync(path).isDirectory(), true);
    assert.equal(registry.lookup(path), lockspace);
    assert.throws(() => registry.add(path), virError(VirErrorCode.INTERNAL_ERROR, VirErrorDomain.RPC, /already exists/));
    assert.throws(() => registry.add(''), virError(VirErrorCode.OPERATION_INVALID, VirErrorDomain.RPC));
    assert.equal(registry.lookup(path), lockspace, 'the refused add replaced nothing');
  } finally {
    cleanup();
  }
});

test('ensure is idempotent and keeps the lockspace (and its held locks) it already has', async () => {
  const { dir, cleanup } = scratchDir('registry-ensure');
  const registry = new LockspaceRegistry();
  try {
    assert.equal(registry.ensure(''), registry.defaultLockspace);
    const path = join(dir, 'ls');
    const lockspace = registry.ensure(path);
    lockspace.acquire('disk', 1, ACQUIRE_AUTOCREATE);
    assert.equal(registry.ensure(path), lockspace);
    assert.equal(registry.lookup(path).size, 1);
    assert.equal(await seenFromOutside(join(path, 'disk')), 'exclusive');
    assert.deepEqual(registry.all(), [registry.defaultLockspace, lockspace], 'default first');
  } finally {
    for (const lockspace of registry.all()) lockspace.releaseAllOf(1);
    cleanup();
  }
});

test('a path with a NUL byte, a file, or a symlink is refused and not registered', () => {
  const { dir, cleanup } = scratchDir('registry-refused');
  try {
    const registry = new LockspaceRegistry();
    assert.throws(() => registry.add(`${dir}/x\0y`), virError(VirErrorCode.INVALID_ARG, VirErrorDomain.LOCKSPACE));
    const file = join(dir, 'file');
    writeFileSync(file, '');
    assert.throws(() => registry.ensure(file), virError(VirErrorCode.INTERNAL_ERROR, VirErrorDomain.LOCKSPACE));
    const link = join(dir, 'link');
    symlinkSync(join(dir, 'elsewhere'), link);
    assert.throws(() => registry.add(link), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE));
    assert.equal(existsSync(join(dir, 'elsewhere')), false, 'nothing created through the link');
    for (const path of [file, link]) assert.equal(registry.has(path), false);
    assert.deepEqual(registry.all(), [registry.defaultLockspace]);
  } finally {
    cleanup();
  }
});

test('adopt registers a restored lockspace without touching the disk; the default one cannot be adopted', () => {
  const registry = new LockspaceRegistry();
  const restored = new Lockspace('/restored/not/on/disk');
  registry.adopt(restored);
  assert.equal(registry.lookup('/restored/not/on/disk'), restored);
  assert.equal(existsSync('/restored/not/on/disk'), false);
  assert.throws(() => registry.adopt(new Lockspace(null)), /cannot be adopted/);
});
