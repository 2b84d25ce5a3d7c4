// PROTOCOL.md §5, per-call semantics: REGISTER, RESTRICT, NEW / CREATE_LOCKSPACE, CREATE/DELETE_RESOURCE,
// ACQUIRE/RELEASE (conflicts, shared owners, AUTOCREATE) and ownership by owner pid.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { ConformanceContext, expectError } from './context';
import * as E from './expected-errors';
import { holdLock } from '../fixtures/lock-prober';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';

const { SHARED, AUTOCREATE } = AcquireFlags;

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

export function defineSemanticsChecks(ctx: ConformanceContext): void {
  describe('§5 REGISTER and RESTRICT', () => {
    ctx.check('§5 REGISTER twice on one connection → OK, the second owner replaces the first', async () => {
      const lockspace = await ctx.lockspace('register-twice');
      const first = ctx.fakePid();
      const second = ctx.fakePid();
      const client = await ctx.registered(first);
      await client.register({ uuid: Buffer.alloc(16, 7), name: 'second', id: 2, pid: second });
      await client.acquire(lockspace, 'res', AUTOCREATE);
      // The lock belongs to the second pid: only a connection registered as that pid can release it.
      const asFirst = await ctx.registered(first);
      await expectError(asFirst.release(lockspace, 'res'), E.notOwner(first));
      const asSecond = await ctx.registered(second);
      await asSecond.release(lockspace, 'res');
    });

    ctx.check('§5 RESTRICT: held locks stay, and every later call on that connection is refused', async () => {
      const lockspace = await ctx.lockspace('restrict-keeps');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res', AUTOCREATE);
      await client.restrict();
      await expectError(client.release(lockspace, 'res'), E.restricted);
      const other = await ctx.registered();
      await expectError(other.acquire(lockspace, 'res', AUTOCREATE), E.isLocked('res'));
    });
  });

  describe('§5 NEW and CREATE_LOCKSPACE', () => {
    ctx.check('§5 NEW creates the directory (mkdir -p, mode 0700)', async () => {
      const client = await ctx.registered();
      const dir = join(ctx.freshPath('new-mkdir'), 'a', 'b');
      await client.newLockspace(dir);
      assert.ok(statSync(dir).isDirectory());
      assert.equal(mode(dir).toString(8), '700');
      await client.acquire(dir, 'res', AUTOCREATE);
      assert.ok(existsSync(join(dir, 'res')), 'a directory lockspace resource is the file <dir>/<name>');
    });

    ctx.check('§5 NEW on an existing directory that is not yet a lockspace → OK', async () => {
      const client = await ctx.registered();
      const dir = ctx.freshDir('new-existing-dir');
      await client.newLockspace(dir);
      await client.acquire(dir, 'res', AUTOCREATE);
    });

    ctx.check('§5 CREATE_LOCKSPACE: no REGISTER needed, creates the directory, idempotent, "" → OK', async () => {
      const client = await ctx.connect();
      const dir = join(ctx.freshPath('create-lockspace'), 'nested');
      await client.createLockspace(dir);
      assert.ok(statSync(dir).isDirectory());
      await client.createLockspace(dir);
      await client.createLockspace('');
      const user = await ctx.registered();
      await user.acquire(dir, 'res', AUTOCREATE);
    });
  });

  describe('§5 CREATE_RESOURCE and DELETE_RESOURCE', () => {
    ctx.check('§5 CREATE_RESOURCE touches the file with mode 0600 (an existing file keeps its content)', async () => {
      const lockspace = await ctx.lockspace('create-resource');
      const client = await ctx.registered();
      await client.createResource(lockspace, 'fresh');
      assert.equal(mode(join(lockspace, 'fresh')).toString(8), '600');
      writeFileSync(join(lockspace, 'kept'), 'content');
      await client.createResource(lockspace, 'kept');
      assert.equal(readFileSync(join(lockspace, 'kept'), 'utf8'), 'content');
    });

    ctx.check('§5 CREATE_RESOURCE, directory missing → 38/0 cannot create file \'%s\': No such file or directory', async () => {
      const client = await ctx.registered();
      const path = join(ctx.freshPath('create-missing-dir'), 'res');
      await expectError(client.createResource('', path), E.cannotCreateFile(path));
      await ctx.assertUsable(client);
    });

    ctx.check('§5 CREATE_RESOURCE / DELETE_RESOURCE of a held resource → 87/51 is locked', async (t) => {
      const lockspace = await ctx.lockspace('held-create-delete');
      const holder = await ctx.registered();
      await holder.acquire(lockspace, 'res', AUTOCREATE);
      const client = await ctx.registered();
      await t.test('CREATE_RESOURCE', async () => {
        await expectError(client.createResource(lockspace, 'res'), E.isLocked('res'));
        await ctx.assertUsable(client);
      });
      await t.test('DELETE_RESOURCE', async () => {
        await expectError(client.deleteResource(lockspace, 'res'), E.isLocked('res'));
        assert.ok(existsSync(join(lockspace, 'res')), 'a refused DELETE leaves the file');
        await ctx.assertUsable(client);
      });
      await t.test('the holder itself is refused too', async () => {
        await expectError(holder.deleteResource(lockspace, 'res'), E.isLocked('res'));
      });
    });

    ctx.check('§5 DELETE_RESOURCE unlinks the file; a missing file → OK', async () => {
      const lockspace = await ctx.lockspace('delete');
      const client = await ctx.registered();
      await client.createResource(lockspace, 'res');
      await client.deleteResource(lockspace, 'res');
      assert.equal(existsSync(join(lockspace, 'res')), false);
      await client.deleteResource(lockspace, 'res');
    });

    ctx.check('§5 DELETE_RESOURCE of a directory → 38/51 Unable to delete lockspace resource %s: Is a directory', async () => {
      const lockspace = await ctx.lockspace('delete-dir');
      mkdirSync(join(lockspace, 'subdir'));
      const client = await ctx.registered();
      await expectError(client.deleteResource(lockspace, 'subdir'), E.cannotDeleteDirectory(join(lockspace, 'subdir')));
      await ctx.assertUsable(client);
    });
  });

  describe('§5 ACQUIRE and RELEASE', () => {
    ctx.check('§5 exclusive/shared conflicts across owners → 87/51 resource busy: Lockspace resource \'%s\' is locked', async (t) => {
      const lockspace = await ctx.lockspace('conflicts');
      const a = await ctx.registered();
      const b = await ctx.registered();
      const cases: Array<[string, number, number]> = [
        ['exclusive held, exclusive wanted', 0, 0],
        ['exclusive held, shared wanted', 0, SHARED],
        ['shared held, exclusive wanted', SHARED, 0],
      ];
      for (const [label, held, wanted] of cases) {
        await t.test(label, async () => {
          const name = label.replace(/[^a-z]+/g, '-');
          await a.acquire(lockspace, name, held | AUTOCREATE);
          await expectError(b.acquire(lockspace, name, wanted | AUTOCREATE), E.isLocked(name));
          await ctx.assertUsable(b);
          await a.release(lockspace, name);
        });
      }
    });

    ctx.check('§5 same owner re-acquiring exclusively → 87/51 is locked (also exclusive after its own shared)', async (t) => {
      const lockspace = await ctx.lockspace('reacquire');
      const a = await ctx.registered();
      await t.test('exclusive then exclusive', async () => {
        await a.acquire(lockspace, 'x', AUTOCREATE);
        await expectError(a.acquire(lockspace, 'x', AUTOCREATE), E.isLocked('x'));
        await a.release(lockspace, 'x');
      });
      await t.test('exclusive then shared', async () => {
        await a.acquire(lockspace, 'y', AUTOCREATE);
        await expectError(a.acquire(lockspace, 'y', SHARED | AUTOCREATE), E.isLocked('y'));
        await a.release(lockspace, 'y');
      });
      await t.test('shared then exclusive', async () => {
        await a.acquire(lockspace, 'z', SHARED | AUTOCREATE);
        await expectError(a.acquire(lockspace, 'z', AUTOCREATE), E.isLocked('z'));
        await a.release(lockspace, 'z');
      });
    });

    ctx.check('§5 shared: several owners, and duplicates of one owner, each need their own RELEASE', async () => {
      const lockspace = await ctx.lockspace('shared-dups');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await a.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await a.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await b.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      const c = await ctx.registered();
      await a.release(lockspace, 'res');
      await b.release(lockspace, 'res');
      await expectError(c.acquire(lockspace, 'res', AUTOCREATE), E.isLocked('res'));
      await a.release(lockspace, 'res');
      await c.acquire(lockspace, 'res', AUTOCREATE);
      await c.release(lockspace, 'res');
    });

    ctx.check('§5 default lockspace "": the resource name is the file path', async () => {
      const dir = ctx.freshDir('default-lockspace');
      const path = join(dir, 'disk.img');
      writeFileSync(path, '');
      const a = await ctx.registered();
      await a.acquire('', path);
      const b = await ctx.registered();
      await expectError(b.acquire('', path), E.isLocked(path));
      await a.release('', path);
      assert.ok(existsSync(path), 'a resource acquired without AUTOCREATE is never unlinked');
    });

    ctx.check('§5 ACQUIRE of a missing file without AUTOCREATE → 38/51 Unable to open resource %s: No such file or directory', async (t) => {
      const client = await ctx.registered();
      await t.test('directory lockspace (%s = <dir>/<name>)', async () => {
        const lockspace = await ctx.lockspace('acquire-missing');
        await expectError(client.acquire(lockspace, 'nope'), E.cannotOpen(join(lockspace, 'nope')));
        await ctx.assertUsable(client);
      });
      await t.test('default lockspace', async () => {
        const path = join(ctx.freshDir('acquire-missing-default'), 'nope');
        await expectError(client.acquire('', path, SHARED), E.cannotOpen(path));
        await ctx.assertUsable(client);
      });
    });

    ctx.check('§5 ACQUIRE AUTOCREATE, directory missing → 38/51 Unable to open/create resource %s: No such file or directory', async () => {
      const client = await ctx.registered();
      const path = join(ctx.freshPath('autocreate-no-dir'), 'res');
      await expectError(client.acquire('', path, AUTOCREATE), E.cannotOpenCreate(path));
      await ctx.assertUsable(client);
    });

    ctx.check('§5 ACQUIRE AUTOCREATE creates the file with mode 0600', async () => {
      const lockspace = await ctx.lockspace('autocreate-mode');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res', AUTOCREATE);
      assert.equal(mode(join(lockspace, 'res')).toString(8), '600');
    });

    ctx.check('§5 AUTOCREATE file is unlinked on release (exclusive)', async () => {
      const lockspace = await ctx.lockspace('autocreate-unlink');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res', AUTOCREATE);
      await client.release(lockspace, 'res');
      assert.equal(existsSync(join(lockspace, 'res')), false);
    });

    ctx.check('§5 AUTOCREATE shared file is unlinked only after the last owner releases', async () => {
      const lockspace = await ctx.lockspace('autocreate-shared');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await a.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await b.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      await a.release(lockspace, 'res');
      assert.ok(existsSync(join(lockspace, 'res')), 'still held by the second owner');
      await b.release(lockspace, 'res');
      assert.equal(existsSync(join(lockspace, 'res')), false);
    });

    ctx.check('§5 AUTOCREATE unlink follows the first acquirer\'s flags', async (t) => {
      const lockspace = await ctx.lockspace('autocreate-first');
      const a = await ctx.registered();
      const b = await ctx.registered();
      await t.test('first without AUTOCREATE, second with → file kept', async () => {
        writeFileSync(join(lockspace, 'kept'), '');
        await a.acquire(lockspace, 'kept', SHARED);
        await b.acquire(lockspace, 'kept', SHARED | AUTOCREATE);
        await b.release(lockspace, 'kept');
        await a.release(lockspace, 'kept');
        assert.ok(existsSync(join(lockspace, 'kept')));
      });
      await t.test('first with AUTOCREATE, second without → file unlinked', async () => {
        await a.acquire(lockspace, 'gone', SHARED | AUTOCREATE);
        await b.acquire(lockspace, 'gone', SHARED);
        await a.release(lockspace, 'gone');
        await b.release(lockspace, 'gone');
        assert.equal(existsSync(join(lockspace, 'gone')), false);
      });
    });

    ctx.check('§5 AUTOCREATE shared file is not unlinked while another process still holds a read lock (upgrade to F_WRLCK fails)', async () => {
      const lockspace = await ctx.lockspace('autocreate-upgrade');
      const path = join(lockspace, 'res');
      const client = await ctx.registered();
      await client.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      const reader = await holdLock(path, 'posix', 'read');
      try {
        await client.release(lockspace, 'res');
        assert.ok(existsSync(path), 'another reader still locks byte 0');
      } finally {
        await reader.release();
      }
    });

    ctx.check('§5 RELEASE of a resource nobody holds → 87/51 resource busy: Lockspace resource \'%s\' is not locked', async () => {
      const lockspace = await ctx.lockspace('release-unlocked');
      const client = await ctx.registered();
      await expectError(client.release(lockspace, 'never'), E.notLocked('never'));
      await ctx.assertUsable(client);
      await client.acquire(lockspace, 'once', AUTOCREATE);
      await client.release(lockspace, 'once');
      await expectError(client.release(lockspace, 'once'), E.notLocked('once'));
    });

    ctx.check('§5 RELEASE by an owner pid not among the owners → 1/51 internal error: owner %d does not hold the resource lock', async () => {
      const lockspace = await ctx.lockspace('release-not-owner');
      const holder = await ctx.registered();
      await holder.acquire(lockspace, 'res', SHARED | AUTOCREATE);
      const strangerPid = ctx.fakePid();
      const stranger = await ctx.registered(strangerPid);
      await expectError(stranger.release(lockspace, 'res'), E.notOwner(strangerPid));
      await ctx.assertUsable(stranger);
      await holder.release(lockspace, 'res');
    });

    ctx.check('§5 ownership is by owner pid: another connection REGISTERing the same pid can release', async () => {
      const lockspace = await ctx.lockspace('ownership');
      const pid = ctx.fakePid();
      const acquirer = await ctx.registered(pid);
      await acquirer.acquire(lockspace, 'res', AUTOCREATE);
      const sibling = await ctx.registered(pid);
      await sibling.release(lockspace, 'res');
      await expectError(acquirer.release(lockspace, 'res'), E.notLocked('res'));
    });

    ctx.check('§5 a lock held by another process on byte 0 makes ACQUIRE busy (87/51 is locked)', async (t) => {
      const lockspace = await ctx.lockspace('external-holder');
      const client = await ctx.registered();
      for (const kind of ['posix', 'ofd'] as const) {
        await t.test(`${kind} write lock held outside the daemon`, async () => {
          const name = `held-by-${kind}`;
          writeFileSync(join(lockspace, name), '');
          const holder = await holdLock(join(lockspace, name), kind, 'write');
          try {
            await expectError(client.acquire(lockspace, name), E.isLocked(name));
            await expectError(client.acquire(lockspace, name, SHARED), E.isLocked(name));
          } finally {
            await holder.release();
          }
          // The failed attempts left nothing behind in the daemon's table.
          await client.acquire(lockspace, name);
          await client.release(lockspace, name);
        });
      }
    });
  });
}
