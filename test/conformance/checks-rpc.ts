// PROTOCOL.md §2 and §4 and the RPC-level rows of §5: reply framing, the error payload's shape, unknown
// procedure, unknown program/version, undecodable arguments. Raw calls through the client library.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { RawReply } from '../../src/client/lock-client';
import {
  LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure, encodeCreateLockspaceArgs, encodeRegisterArgs,
} from '../../src/shared/protocol/lock-program';
import { MessageStatus, MessageType } from '../../src/shared/protocol/message';
import { VirError } from '../../src/shared/protocol/vir-error';
import { XdrReader, XdrWriter } from '../../src/shared/protocol/xdr';
import { assertVirError, ConformanceContext } from './context';
import * as E from './expected-errors';

/** An ERROR reply: header echoes the call, payload is a virNetMessageError matching `expected`. */
function assertErrorReply(reply: RawReply, call: { prog: number; vers: number; proc: number }, expected: E.ExpectedError): void {
  assert.deepEqual(
    { prog: reply.header.prog, vers: reply.header.vers, proc: reply.header.proc, type: reply.header.type, status: reply.header.status },
    { ...call, type: MessageType.REPLY, status: MessageStatus.ERROR },
  );
  assertVirError(VirError.decode(reply.payload), expected);
}

/** Raw bytes of a REGISTER args struct, to be cut or corrupted. */
function registerPayload(): Buffer {
  return encodeRegisterArgs({ owner: { uuid: Buffer.alloc(16), name: 'vm', id: 1, pid: 4_200_000 }, flags: 0 });
}

export function defineRpcChecks(ctx: ConformanceContext): void {
  describe('§2/§4 framing and the error payload', () => {
    ctx.check('§2 OK reply: same prog/vers/proc/serial, type REPLY, status OK, empty payload', async () => {
      const client = await ctx.connect();
      const serial = 0xfffffff0;
      const reply = await client.call(LockProcedure.CREATE_LOCKSPACE, encodeCreateLockspaceArgs({ path: '' }), { serial });
      assert.deepEqual(reply.header, {
        prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc: LockProcedure.CREATE_LOCKSPACE,
        type: MessageType.REPLY, serial, status: MessageStatus.OK,
      });
      assert.equal(reply.payload.length, 0);
    });

    ctx.check('§4 ERROR reply payload: level 2; dom, str3 and net absent; nothing after net', async () => {
      const client = await ctx.connect();
      const reply = await client.call(LockProcedure.RESTRICT, new XdrWriter().u32(0).finish());
      assert.equal(reply.header.status, MessageStatus.ERROR);
      const r = new XdrReader(reply.payload);
      const fields = {
        code: r.i32(),
        domain: r.i32(),
        message: r.optional((x) => x.string(65536)),
        level: r.i32(),
        domPresent: r.u32(),
        str1: r.optional((x) => x.string(65536)),
        str2: r.optional((x) => x.string(65536)),
        str3Present: r.u32(),
        int1: r.i32(),
        int2: r.i32(),
        netPresent: r.u32(),
        trailing: 0,
      };
      fields.trailing = r.remaining;
      assert.deepEqual(fields, {
        code: E.notRegistered.code, domain: E.notRegistered.domain, message: E.notRegistered.message, level: 2,
        domPresent: 0, str1: E.notRegistered.str1, str2: E.notRegistered.str2, str3Present: 0, int1: -1, int2: -1,
        netPresent: 0, trailing: 0,
      });
    });
  });

  describe('§5 RPC-level errors', () => {
    ctx.check('§5 unknown proc N → 39/7 unknown procedure: N', async (t) => {
      const client = await ctx.connect();
      for (const proc of [0, 9, 1000, -1]) {
        await t.test(`proc ${proc}`, async () => {
          const reply = await client.call(proc, Buffer.alloc(0));
          assertErrorReply(reply, { prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc }, E.unknownProcedure(proc));
          await ctx.assertUsable(client);
        });
      }
    });

    ctx.check('§5 unknown prog/vers → 39/7 Cannot find program P version V (the reply header carries that prog/vers)', async (t) => {
      const client = await ctx.connect();
      const cases: Array<[number, number]> = [[0x12345678, 1], [LOCK_PROGRAM, 2], [LOCK_PROGRAM, 0]];
      for (const [prog, vers] of cases) {
        await t.test(`prog 0x${prog.toString(16)} version ${vers}`, async () => {
          const reply = await client.call(LockProcedure.REGISTER, registerPayload(), { prog, vers });
          assertErrorReply(reply, { prog, vers, proc: LockProcedure.REGISTER }, E.unknownProgram(prog, vers));
          await ctx.assertUsable(client);
        });
      }
    });

    ctx.check('§5 undecodable args → 39/7 Unable to decode message payload', async (t) => {
      const client = await ctx.connect();
      const whole = registerPayload();
      const tooLong = new XdrWriter().fixedOpaque(Buffer.alloc(16)).u32(65537).fixedOpaque(Buffer.alloc(65540, 0x61))
        .u32(1).u32(4_200_000).u32(0).finish();
      const cases: Array<[string, number, Buffer]> = [
        ['REGISTER cut short (3 bytes)', LockProcedure.REGISTER, whole.subarray(0, 3)],
        ['REGISTER missing its flags word', LockProcedure.REGISTER, whole.subarray(0, whole.length - 4)],
        ['REGISTER name longer than 65536 bytes', LockProcedure.REGISTER, tooLong],
        ['ACQUIRE with an empty payload', LockProcedure.ACQUIRE_RESOURCE, Buffer.alloc(0)],
        ['CREATE_LOCKSPACE string length past the end', LockProcedure.CREATE_LOCKSPACE, new XdrWriter().u32(100).finish()],
      ];
      for (const [label, proc, payload] of cases) {
        await t.test(label, async () => {
          const reply = await client.call(proc, payload);
          assertErrorReply(reply, { prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc }, E.undecodable);
          await ctx.assertUsable(client);
        });
      }
      await t.test('a name of exactly 65536 bytes decodes', async () => {
        const longest = encodeRegisterArgs({ owner: { uuid: Buffer.alloc(16), name: 'a'.repeat(65536), id: 1, pid: ctx.fakePid() }, flags: 0 });
        const reply = await client.call(LockProcedure.REGISTER, longest);
        assert.equal(reply.header.status, MessageStatus.OK);
      });
    });
  });
}
