// PROTOCOL.md §5: the per-procedure error rows (flags, restricted, registered, lockspace lookup) and the
// order in which a handler checks them. Resource-level errors live in checks-semantics.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { ConformanceContext, expectError } from './context';
import * as E from './expected-errors';
import { ALLOWED_FLAGS, invoke, PROCEDURES, type ProcArgs } from './procedures';

/** A few bad flag values per procedure: the lowest bad bit, the top bit (u32 formatting), and bad mixed with good. */
function badFlagValues(allowed: number): number[] {
  return allowed === 0 ? [0x1, 0x80000000] : [0x4, 0x7, 0xffffffff];
}

export function defineErrorChecks(ctx: ConformanceContext): void {
  describe('§5 error rows', () => {
    ctx.check('§5 unknown flag bits → 8/7 unsupported flags (0x%x) in function virLockSpaceProtocolDispatch<Name>', async (t) => {
      const lockspace = await ctx.lockspace('flags');
      for (const [proc, allowed] of Object.entries(ALLOWED_FLAGS) as Array<[E.FlaggedProc, number]>) {
        for (const flags of badFlagValues(allowed)) {
          await t.test(`${proc} flags 0x${flags.toString(16)}`, async () => {
            const client = await ctx.registered();
            const args: ProcArgs = { lockspace, name: 'res', path: ctx.freshPath('flags-new'), pid: ctx.fakePid() };
            await expectError(invoke(client, proc, args, flags), E.unsupportedFlags(proc, (flags & ~allowed) >>> 0));
            await ctx.assertUsable(client);
          });
        }
      }
    });

    ctx.check('§5 connection restricted → 29/7 operation forbidden (every procedure incl. REGISTER, RESTRICT, CREATE_LOCKSPACE)', async (t) => {
      const lockspace = await ctx.lockspace('restricted');
      const client = await ctx.registered();
      await client.restrict();
      for (const proc of PROCEDURES) {
        await t.test(proc, async () => {
          const args: ProcArgs = { lockspace, name: 'res', path: ctx.freshPath('restricted-new'), pid: ctx.fakePid() };
          // The same connection answers every time: an error reply leaves it usable.
          await expectError(invoke(client, proc, args), E.restricted);
        });
      }
    });

    ctx.check('§5 not registered → 55/7 lock owner details have not been registered (RESTRICT, NEW, CREATE, DELETE, ACQUIRE, RELEASE)', async (t) => {
      const lockspace = await ctx.lockspace('unregistered');
      const client = await ctx.connect();
      for (const proc of ['RESTRICT', 'NEW', 'CREATE_RESOURCE', 'DELETE_RESOURCE', 'ACQUIRE_RESOURCE', 'RELEASE_RESOURCE'] as const) {
        await t.test(proc, async () => {
          const args: ProcArgs = { lockspace, name: 'res', path: ctx.freshPath('unregistered-new'), pid: ctx.fakePid() };
          await expectError(invoke(client, proc, args), E.notRegistered);
          await ctx.assertUsable(client);
        });
      }
    });

    ctx.check('§5 REGISTER with owner.id 0 → 55/7 not registered, and the connection stays unregistered', async () => {
      const client = await ctx.connect();
      await expectError(invoke(client, 'REGISTER', { lockspace: '', name: '', path: '', pid: ctx.fakePid(), id: 0 }), E.notRegistered);
      await expectError(client.restrict(), E.notRegistered);
      await ctx.assertUsable(client);
    });

    ctx.check('§5 "registered" means owner.id != 0, not pid: REGISTER with pid 0 and id 1 registers', async () => {
      const client = await ctx.connect();
      await invoke(client, 'REGISTER', { lockspace: '', name: '', path: '', pid: 0, id: 1 });
      await client.newLockspace(ctx.freshPath('pid0'));
    });

    ctx.check('§5 unknown lockspace path → 1/7 Lockspace for path %s does not exist (CREATE, DELETE, ACQUIRE, RELEASE)', async (t) => {
      const client = await ctx.registered();
      // An existing directory that nobody declared a lockspace: the table decides, not the filesystem.
      const missing = ctx.freshDir('not-a-lockspace');
      for (const proc of ['CREATE_RESOURCE', 'DELETE_RESOURCE', 'ACQUIRE_RESOURCE', 'RELEASE_RESOURCE'] as const) {
        await t.test(proc, async () => {
          await expectError(invoke(client, proc, { lockspace: missing, name: 'res', path: '', pid: 0 }), E.noLockspace(missing));
          await ctx.assertUsable(client);
        });
      }
    });
  });

  describe('§5 check order: flags → restricted → registered → lockspace lookup → operation', () => {
    ctx.check('§5 check order: flags before restricted (restricted connection, bad flags → 8/7)', async (t) => {
      const lockspace = await ctx.lockspace('order-flags-restricted');
      const client = await ctx.registered();
      await client.restrict();
      for (const [proc, allowed] of Object.entries(ALLOWED_FLAGS) as Array<[E.FlaggedProc, number]>) {
        await t.test(proc, async () => {
          const bad = allowed === 0 ? 1 : 4;
          const args: ProcArgs = { lockspace, name: 'res', path: ctx.freshPath('order-new'), pid: ctx.fakePid() };
          await expectError(invoke(client, proc, args, bad), E.unsupportedFlags(proc, bad));
        });
      }
    });

    ctx.check('§5 check order: flags before registered (unregistered connection, bad flags → 8/7)', async (t) => {
      const client = await ctx.connect();
      for (const [proc, allowed] of Object.entries(ALLOWED_FLAGS) as Array<[E.FlaggedProc, number]>) {
        await t.test(proc, async () => {
          const bad = allowed === 0 ? 1 : 4;
          const args: ProcArgs = { lockspace: '/nonexistent-lockspace', name: 'res', path: '', pid: ctx.fakePid(), id: 0 };
          await expectError(invoke(client, proc, args, bad), E.unsupportedFlags(proc, bad));
        });
      }
    });

    ctx.check('§5 check order: restricted before the owner check (restricted connection, REGISTER with id 0 → 29/7)', async () => {
      const client = await ctx.registered();
      await client.restrict();
      await expectError(invoke(client, 'REGISTER', { lockspace: '', name: '', path: '', pid: ctx.fakePid(), id: 0 }), E.restricted);
    });

    ctx.check('§5 check order: registered before lockspace lookup (unregistered, unknown lockspace → 55/7)', async (t) => {
      const client = await ctx.connect();
      const missing = ctx.freshPath('order-missing');
      for (const proc of ['CREATE_RESOURCE', 'DELETE_RESOURCE', 'ACQUIRE_RESOURCE', 'RELEASE_RESOURCE'] as const) {
        await t.test(proc, async () => {
          await expectError(invoke(client, proc, { lockspace: missing, name: 'res', path: '', pid: 0 }), E.notRegistered);
        });
      }
      await t.test('NEW ""', async () => {
        await expectError(client.newLockspace(''), E.notRegistered);
      });
    });

    ctx.check('§5 check order: lockspace lookup before the operation (unknown lockspace → 1/7, not busy/not-locked/ENOENT)', async (t) => {
      const client = await ctx.registered();
      const missing = ctx.freshPath('order-lookup');
      await t.test('RELEASE of a never-acquired name', async () => {
        await expectError(client.release(missing, 'res'), E.noLockspace(missing));
      });
      await t.test('ACQUIRE of a missing file', async () => {
        await expectError(client.acquire(missing, 'res'), E.noLockspace(missing));
      });
      await t.test('CREATE_RESOURCE in a missing directory', async () => {
        await expectError(client.createResource(missing, 'res'), E.noLockspace(missing));
      });
    });
  });

  describe('§5 lockspaces', () => {
    // Also an order check: "" is refused before the lookup, which would find the default lockspace (1/7).
    ctx.check('§5 NEW "" → 55/7 the default lockspace already exists', async () => {
      const client = await ctx.registered();
      await expectError(client.newLockspace(''), E.defaultLockspaceExists);
      await ctx.assertUsable(client);
    });

    ctx.check('§5 NEW existing lockspace → 1/7 Lockspace for path %s already exists (after NEW and after CREATE_LOCKSPACE)', async () => {
      const client = await ctx.registered();
      const viaNew = ctx.freshPath('new-twice');
      await client.newLockspace(viaNew);
      await expectError(client.newLockspace(viaNew), E.lockspaceExists(viaNew));
      const viaCreate = ctx.freshPath('create-then-new');
      await client.createLockspace(viaCreate);
      await expectError(client.newLockspace(viaCreate), E.lockspaceExists(viaCreate));
      await ctx.assertUsable(client);
    });

    ctx.check('§5 CREATE_LOCKSPACE on a non-directory → 1/51 Lockspace location %s exists, but is not a directory', async () => {
      const client = await ctx.connect();
      const file = join(ctx.freshDir('not-dir'), 'plain-file');
      writeFileSync(file, '');
      await expectError(client.createLockspace(file), E.notADirectory(file));
      await ctx.assertUsable(client);
    });
  });
}
