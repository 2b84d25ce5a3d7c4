// The lock model on real files in a real directory, in the manner of libvirt's virlockspacetest: a
// lockspace's directory, resource files created and deleted, exclusive and shared locks, AUTOCREATE, the
// release rules, and refusals. Every lock the model says it holds is checked from another process, and
// every conflict is made by a real lock another process holds.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, renameSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VirError, VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';
import { Lockspace } from '../../src/worker/lock/lockspace';
import { ACQUIRE_AUTOCREATE, ACQUIRE_SHARED } from '../../src/shared/custody/records/resource-record';
import { holdLock } from '../fixtures/lock-prober';
import { ownFdCount, scratchDir, seenFromOutside, virError } from './model-fixtures';

const OWNER_A = 4101;
const OWNER_B = 4102;
const OWNER_C = 4103;
const ENOENT = 2;
const isRoot = process.geteuid?.() === 0;

/** Runs `body` with a directory lockspace in a fresh scratch dir; every resource it holds is freed after. */
async function withLockspace(body: (lockspace: Lockspace, directory: string, scratch: string) => Promise<void> | void): Promise<void> {
  const { dir, cleanup } = scratchDir('ls');
  const directory = join(dir, 'lockspace');
  const lockspace = Lockspace.create(directory);
  try {
    await body(lockspace, directory, dir);
  } finally {
    for (const resource of [...lockspace.resources.values()]) {
      for (const owner of new Set(resource.owners)) lockspace.releaseAllOf(owner);
    }
    cleanup();
  }
}

describe('a lockspace directory', () => {
  test('create makes the directory (and its parents) mode 0700', () => {
    const { dir, cleanup } = scratchDir('create');
    try {
      const directory = join(dir, 'a', 'b', 'lockspace');
      const lockspace = Lockspace.create(directory);
      assert.equal(lockspace.directory, directory);
      const st = statSync(directory);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o700);
      assert.equal(lockspace.size, 0);
    } finally {
      cleanup();
    }
  });

  test('create on an existing directory of ours keeps it and what is in it', () => {
    const { dir, cleanup } = scratchDir('existing');
    try {
      writeFileSync(join(dir, 'kept'), 'x');
      Lockspace.create(dir);
      assert.equal(existsSync(join(dir, 'kept')), true);
    } finally {
      cleanup();
    }
  });

  test('create refuses a file, a symlink and a directory others may write to', () => {
    const { dir, cleanup } = scratchDir('refused');
    try {
      const file = join(dir, 'file');
      writeFileSync(file, '');
      assert.throws(() => Lockspace.create(file), virError(VirErrorCode.INTERNAL_ERROR, VirErrorDomain.LOCKSPACE, /exists, but is not a directory/));

      const real = join(dir, 'real');
      mkdirSync(real, { mode: 0o700 });
      const link = join(dir, 'link');
      symlinkSync(real, link);
      assert.throws(() => Lockspace.create(link), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE, /is a symbolic link/));

      const open = join(dir, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      assert.throws(() => Lockspace.create(open), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE, /writable by group or others/));
    } finally {
      cleanup();
    }
  });

  test('create refuses a directory owned by another uid', { skip: isRoot ? false : 'needs root to chown' }, () => {
    const { dir, cleanup } = scratchDir('foreign');
    try {
      const foreign = join(dir, 'foreign');
      mkdirSync(foreign, { mode: 0o700 });
      chownSync(foreign, 65534, 65534);
      assert.throws(() => Lockspace.create(foreign), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE, /owned by uid 65534/));
    } finally {
      cleanup();
    }
  });

  test('a directory made writable by others after create refuses every operation that touches it', async () => {
    await withLockspace((lockspace, directory) => {
      chmodSync(directory, 0o777);
      assert.throws(() => lockspace.createResource('r'), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE));
      assert.throws(() => lockspace.acquire('r', OWNER_A, ACQUIRE_AUTOCREATE), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE));
      assert.equal(existsSync(join(directory, 'r')), false, 'nothing created through a refused directory');
      assert.equal(lockspace.size, 0);
    });
  });
});

describe('resource files', () => {
  test('createResource makes an empty 0600 file, deleteResource removes it, deleting a missing one is no error', async () => {
    await withLockspace((lockspace, directory) => {
      const file = join(directory, 'disk');
      lockspace.createResource('disk');
      const st = statSync(file);
      assert.equal(st.size, 0);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(lockspace.size, 0, 'creating a resource takes no lock');
      lockspace.deleteResource('disk');
      assert.equal(existsSync(file), false);
      lockspace.deleteResource('disk');
    });
  });

  test('createResource keeps an existing file\'s content', async () => {
    await withLockspace((lockspace, directory) => {
      writeFileSync(join(directory, 'disk'), 'data');
      lockspace.createResource('disk');
      assert.equal(statSync(join(directory, 'disk')).size, 4);
    });
  });

  test('neither create nor delete touches a locked resource', async () => {
    await withLockspace((lockspace, directory) => {
      lockspace.createResource('disk');
      lockspace.acquire('disk', OWNER_A, 0);
      assert.throws(() => lockspace.createResource('disk'), virError(VirErrorCode.RESOURCE_BUSY, VirErrorDomain.LOCKSPACE, /is locked/));
      assert.throws(() => lockspace.deleteResource('disk'), virError(VirErrorCode.RESOURCE_BUSY, VirErrorDomain.LOCKSPACE, /is locked/));
      assert.equal(existsSync(join(directory, 'disk')), true);
      lockspace.release('disk', OWNER_A);
      lockspace.deleteResource('disk');
      assert.equal(existsSync(join(directory, 'disk')), false);
    });
  });
});

describe('exclusive locks', () => {
  test('an exclusive lock excludes every other process and every other owner; release frees it, the file stays', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'disk');
      lockspace.createResource('disk');
      const resource = lockspace.acquire('disk', OWNER_A, 0);
      assert.equal(resource.shared, false);
      assert.deepEqual(resource.owners, [OWNER_A]);
      assert.equal(resource.path, file);
      assert.equal(await seenFromOutside(file), 'exclusive');

      assert.throws(() => lockspace.acquire('disk', OWNER_B, 0), virError(VirErrorCode.RESOURCE_BUSY, VirErrorDomain.LOCKSPACE, /'disk' is locked/));
      assert.throws(() => lockspace.acquire('disk', OWNER_B, ACQUIRE_SHARED), virError(VirErrorCode.RESOURCE_BUSY));
      assert.throws(() => lockspace.acquire('disk', OWNER_A, 0), virError(VirErrorCode.RESOURCE_BUSY), 'the same owner twice is refused too');

      const outcome = lockspace.release('disk', OWNER_A);
      assert.equal(outcome.freed, true);
      assert.equal(resource.fd, -1, 'the fd is closed');
      assert.equal(resource.lockHeld, false);
      assert.equal(lockspace.size, 0);
      assert.equal(await seenFromOutside(file), 'free');
      assert.equal(existsSync(file), true, 'without AUTOCREATE the file outlives the lock');
    });
  });

  test('a missing file without AUTOCREATE is a system error (ENOENT) and nothing is held', async () => {
    await withLockspace((lockspace, directory) => {
      const before = ownFdCount();
      assert.throws(
        () => lockspace.acquire('absent', OWNER_A, 0),
        (err: unknown) => virError(VirErrorCode.SYSTEM_ERROR, VirErrorDomain.LOCKSPACE, new RegExp(`Unable to open resource ${directory}/absent`))(err) && (err as { int1: number }).int1 === ENOENT,
      );
      assert.equal(lockspace.size, 0);
      assert.equal(existsSync(join(directory, 'absent')), false, 'nothing was created');
      assert.equal(ownFdCount(), before, 'no fd left open');
    });
  });

  for (const kind of ['ofd', 'posix'] as const) {
    for (const type of ['write', 'read'] as const) {
      test(`a ${kind} ${type} lock another process holds makes an exclusive acquire busy, leaving nothing open`, async () => {
        await withLockspace(async (lockspace, directory) => {
          const file = join(directory, 'disk');
          lockspace.createResource('disk');
          const holder = await holdLock(file, kind, type);
          try {
            const before = ownFdCount();
            assert.throws(() => lockspace.acquire('disk', OWNER_A, 0), virError(VirErrorCode.RESOURCE_BUSY, VirErrorDomain.LOCKSPACE, /'disk' is locked/));
            assert.equal(lockspace.size, 0, 'a refused acquire is not in the table');
            assert.equal(ownFdCount(), before, 'the refused acquire closed its fd');
          } finally {
            await holder.release();
          }
          // Once the other process let go, the same acquire succeeds.
          lockspace.acquire('disk', OWNER_A, 0);
          assert.equal(await seenFromOutside(file), 'exclusive');
        });
      });
    }
  }
});

describe('shared locks', () => {
  test('owners share a shared lock; an exclusive one is refused until the last of them releases', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'disk');
      lockspace.createResource('disk');
      const resource = lockspace.acquire('disk', OWNER_A, ACQUIRE_SHARED);
      assert.equal(lockspace.acquire('disk', OWNER_B, ACQUIRE_SHARED), resource, 'one resource, two owners');
      assert.deepEqual(resource.owners, [OWNER_A, OWNER_B]);
      assert.equal(await seenFromOutside(file), 'shared');
      assert.throws(() => lockspace.acquire('disk', OWNER_C, 0), virError(VirErrorCode.RESOURCE_BUSY));
      assert.throws(() => lockspace.deleteResource('disk'), virError(VirErrorCode.RESOURCE_BUSY));

      assert.deepEqual(lockspace.release('disk', OWNER_A), { resource, freed: false, left: OWNER_A });
      assert.equal(await seenFromOutside(file), 'shared', 'still held for the other owner');
      assert.deepEqual(lockspace.release('disk', OWNER_B), { resource, freed: true });
      assert.equal(await seenFromOutside(file), 'free');
      lockspace.acquire('disk', OWNER_C, 0);
      assert.equal(await seenFromOutside(file), 'exclusive');
    });
  });

  test('a shared acquire beside another process\'s read lock succeeds; beside its write lock it is busy', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'disk');
      lockspace.createResource('disk');
      const reader = await holdLock(file, 'posix', 'read');
      try {
        lockspace.acquire('disk', OWNER_A, ACQUIRE_SHARED);
        lockspace.release('disk', OWNER_A);
      } finally {
        await reader.release();
      }
      const writer = await holdLock(file, 'ofd', 'write');
      try {
        assert.throws(() => lockspace.acquire('disk', OWNER_A, ACQUIRE_SHARED), virError(VirErrorCode.RESOURCE_BUSY));
      } finally {
        await writer.release();
      }
    });
  });
});

describe('AUTOCREATE', () => {
  test('an exclusive AUTOCREATE lock creates a 0600 file and unlinks it on release', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'auto');
      lockspace.acquire('auto', OWNER_A, ACQUIRE_AUTOCREATE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(await seenFromOutside(file), 'exclusive');
      assert.equal(lockspace.release('auto', OWNER_A).freed, true);
      assert.equal(existsSync(file), false, 'the last release unlinks an AUTOCREATE file');
    });
  });

  test('a shared AUTOCREATE file goes only with the last owner', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'auto');
      lockspace.acquire('auto', OWNER_A, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
      lockspace.acquire('auto', OWNER_B, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
      lockspace.release('auto', OWNER_A);
      assert.equal(existsSync(file), true, 'still one owner');
      assert.equal(await seenFromOutside(file), 'shared');
      lockspace.release('auto', OWNER_B);
      assert.equal(existsSync(file), false);
    });
  });

  test('a shared AUTOCREATE file another process still reads is not unlinked by the last release', async () => {
    await withLockspace(async (lockspace, directory) => {
      const file = join(directory, 'auto');
      lockspace.acquire('auto', OWNER_A, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
      const reader = await holdLock(file, 'ofd', 'read');
      try {
        assert.equal(lockspace.release('auto', OWNER_A).freed, true);
        assert.equal(existsSync(file), true, 'someone else still holds it: the file stays');
        assert.equal(await seenFromOutside(file), 'shared', 'only the other reader\'s lock is left');
      } finally {
        await reader.release();
      }
    });
  });

  test('AUTOCREATE on an existing file locks it, and the last release still unlinks it', async () => {
    await withLockspace((lockspace, directory) => {
      const file = join(directory, 'auto');
      writeFileSync(file, 'data');
      lockspace.acquire('auto', OWNER_A, ACQUIRE_AUTOCREATE);
      assert.equal(statSync(file).size, 4, 'content kept');
      lockspace.release('auto', OWNER_A);
      assert.equal(existsSync(file), false);
    });
  });

  test('a file put in an AUTOCREATE resource\'s place is not unlinked by its release', async () => {
    await withLockspace(async (lockspace, directory, scratch) => {
      const file = join(directory, 'auto');
      lockspace.acquire('auto', OWNER_A, ACQUIRE_AUTOCREATE);
      const impostor = join(scratch, 'impostor');
      writeFileSync(impostor, 'someone else\'s');
      renameSync(impostor, file);
      assert.equal(lockspace.release('auto', OWNER_A).freed, true);
      assert.equal(existsSync(file), true, 'the file now under the name is not ours to unlink');
      assert.equal(await seenFromOutside(file), 'free');
    });
  });
});

describe('release rules', () => {
  test('releasing a name nobody holds is busy ("not locked"); releasing by a non-owner is an internal error', async () => {
    await withLockspace((lockspace) => {
      assert.throws(() => lockspace.release('nothing', OWNER_A), virError(VirErrorCode.RESOURCE_BUSY, undefined, /'nothing' is not locked/));
      lockspace.acquire('disk', OWNER_A, ACQUIRE_AUTOCREATE);
      assert.throws(() => lockspace.release('disk', OWNER_B), virError(VirErrorCode.INTERNAL_ERROR, VirErrorDomain.LOCKSPACE, /owner 4102 does not hold/));
      assert.equal(lockspace.size, 1, 'a refused release changes nothing');
    });
  });

  test('an owner holding a shared lock twice needs two releases; releaseAllOf drops one ownership per resource', async () => {
    await withLockspace(async (lockspace, directory) => {
      lockspace.acquire('twice', OWNER_A, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
      lockspace.acquire('twice', OWNER_A, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
      lockspace.acquire('once', OWNER_A, ACQUIRE_AUTOCREATE);
      lockspace.acquire('other', OWNER_B, ACQUIRE_AUTOCREATE);

      const outcomes = lockspace.releaseAllOf(OWNER_A);
      assert.deepEqual(outcomes.map((o) => [o.resource.name, o.freed]).sort(), [['once', true], ['twice', false]]);
      assert.deepEqual(lockspace.resources.get('twice')?.owners, [OWNER_A]);
      assert.equal(existsSync(join(directory, 'once')), false);
      assert.equal(await seenFromOutside(join(directory, 'twice')), 'shared');
      assert.equal(await seenFromOutside(join(directory, 'other')), 'exclusive', 'another owner\'s lock is untouched');

      assert.equal(lockspace.releaseAllOf(OWNER_A)[0]?.freed, true);
      assert.deepEqual([...lockspace.resources.keys()], ['other']);
      assert.deepEqual(lockspace.releaseAllOf(OWNER_A), [], 'nothing left of that owner');
    });
  });
});

describe('names', () => {
  test('a directory lockspace refuses names that are not a plain file name in it', async () => {
    await withLockspace((lockspace, directory, scratch) => {
      writeFileSync(join(scratch, 'outside'), '');
      for (const name of ['', '.', '..', '../outside', 'a/b', '/etc/passwd', 'nul\0byte']) {
        assert.throws(() => lockspace.resourcePath(name), virError(VirErrorCode.INVALID_ARG, VirErrorDomain.LOCKSPACE), JSON.stringify(name));
        assert.throws(() => lockspace.acquire(name, OWNER_A, ACQUIRE_AUTOCREATE), virError(VirErrorCode.INVALID_ARG), JSON.stringify(name));
        assert.throws(() => lockspace.createResource(name), virError(VirErrorCode.INVALID_ARG), JSON.stringify(name));
        assert.throws(() => lockspace.deleteResource(name), virError(VirErrorCode.INVALID_ARG), JSON.stringify(name));
      }
      assert.equal(lockspace.size, 0);
      assert.equal(existsSync(join(scratch, 'outside')), true, 'nothing outside the lockspace was deleted');
      // Odd but plain names are fine, and joined literally.
      assert.equal(lockspace.resourcePath('...'), `${directory}/...`);
      assert.equal(lockspace.resourcePath(' x '), `${directory}/ x `);
    });
  });

  test('the default lockspace takes a name as the path itself (absolute paths anywhere); only NUL is refused', async () => {
    const { dir, cleanup } = scratchDir('default');
    const lockspace = new Lockspace(null);
    try {
      const file = join(dir, 'deep', 'disk.img');
      mkdirSync(join(dir, 'deep'));
      assert.equal(lockspace.resourcePath(file), file);
      assert.throws(() => lockspace.resourcePath(`${file}\0`), virError(VirErrorCode.INVALID_ARG, VirErrorDomain.LOCKSPACE));
      assert.throws(() => lockspace.openDirectory(), /no directory/);

      lockspace.acquire(file, OWNER_A, ACQUIRE_AUTOCREATE);
      assert.equal(await seenFromOutside(file), 'exclusive');
      assert.equal(lockspace.resources.get(file)?.path, file);
      lockspace.release(file, OWNER_A);
      assert.equal(existsSync(file), false);

      lockspace.createResource(file);
      assert.equal(existsSync(file), true);
      lockspace.deleteResource(file);
      assert.equal(existsSync(file), false);
    } finally {
      for (const owner of [OWNER_A]) lockspace.releaseAllOf(owner);
      cleanup();
    }
  });
});

describe('symlinks', () => {
  test('a directory lockspace never follows a symlink: acquire and create are refused, delete removes the link', async () => {
    await withLockspace(async (lockspace, directory, scratch) => {
      const target = join(scratch, 'target');
      writeFileSync(target, 'precious');
      symlinkSync(target, join(directory, 'link'));
      for (const flags of [0, ACQUIRE_SHARED, ACQUIRE_AUTOCREATE]) {
        assert.throws(() => lockspace.acquire('link', OWNER_A, flags), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE, /is a symbolic link/));
      }
      assert.throws(() => lockspace.createResource('link'), virError(VirErrorCode.OPERATION_DENIED, VirErrorDomain.LOCKSPACE, /is a symbolic link/));
      assert.equal(lockspace.size, 0);
      assert.equal(await seenFromOutside(target), 'free', 'the target was never locked');

      lockspace.deleteResource('link');
      assert.throws(() => lstatSync(join(directory, 'link')), /ENOENT/);
      assert.equal(existsSync(target), true, 'the target survives');
    });
  });

  test('a lockspace directory swapped for a symlink after create is refused, and nothing is made through it', async () => {
    const { dir, cleanup } = scratchDir('dirlink');
    try {
      const directory = join(dir, 'lockspace');
      const lockspace = Lockspace.create(directory);
      const elsewhere = join(dir, 'elsewhere');
      mkdirSync(elsewhere, { mode: 0o700 });
      rmdirSync(directory);
      symlinkSync(elsewhere, directory);
      // Refused either way; the kernel answers O_NOFOLLOW|O_DIRECTORY on a symlink with ENOTDIR, not ELOOP,
      // so the refusal is the open's system error rather than the "is a symbolic link" denial.
      const refused = (err: unknown): boolean => err instanceof VirError && err.domain === VirErrorDomain.LOCKSPACE;
      assert.throws(() => lockspace.openDirectory(), refused);
      assert.throws(() => lockspace.acquire('disk', OWNER_A, ACQUIRE_AUTOCREATE), refused);
      assert.throws(() => lockspace.createResource('disk'), refused);
      assert.equal(existsSync(join(elsewhere, 'disk')), false, 'nothing created through the symlink');
      assert.equal(lockspace.size, 0);
    } finally {
      cleanup();
    }
  });

  test('the default lockspace follows a symlink, as virtlockd does: the lock is on the target', async () => {
    const { dir, cleanup } = scratchDir('default-link');
    const lockspace = new Lockspace(null);
    try {
      const target = join(dir, 'target');
      writeFileSync(target, '');
      const link = join(dir, 'link');
      symlinkSync(target, link);
      lockspace.acquire(link, OWNER_A, 0);
      assert.equal(await seenFromOutside(target), 'exclusive');
      lockspace.release(link, OWNER_A);
      assert.equal(await seenFromOutside(target), 'free');
    } finally {
      lockspace.releaseAllOf(OWNER_A);
      cleanup();
    }
  });
});
