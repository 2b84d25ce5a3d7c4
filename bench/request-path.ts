// The worker's request path in-process, without sockets or custody: header, dispatch through the lock
// program's table, the lock itself (open, OFD lock, unlock, close: the syscalls are most of it), the
// custody changes and the reply. CPU µs per request, best of five rounds of ACQUIRE+RELEASE of one file in
// the default lockspace. Runnable alone: `node dist/bench/request-path.js [cycles]`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure, encodeRegisterArgs, encodeResourceArgs } from '../src/shared/protocol/lock-program';
import { MessageStatus, MessageType, decodeHeader, encodeMessage } from '../src/shared/protocol/message';
import type { Connection } from '../src/worker/rpc/connection';
import { dispatchFrame, type DispatchOutcome } from '../src/worker/rpc/program';
import { LockService } from '../src/worker/lock/lock-service';

const CYCLES = Number(process.argv[2] ?? 100_000);

function call(proc: LockProcedure, payload: Buffer, serial: number): Buffer {
  return encodeMessage({ prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc, type: MessageType.CALL, serial, status: MessageStatus.OK }, payload);
}

function main(): void {
  const log = pino({ level: 'silent' });
  const lock = new LockService({ termGraceMs: 1000, giveUpMs: 1000 }, log);
  const connection = { id: 1, fd: -1, peer: { pid: process.pid, uid: 0, gid: 0 }, connectedAt: Date.now() } as unknown as Connection;
  lock.open(connection);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-request-path-'));
  const file = join(dir, 'disk');
  writeFileSync(file, '');
  const programs = [lock.program];
  const outcome: DispatchOutcome = { reply: null, procedure: '', ok: false };
  const one = (frame: Buffer): void => {
    const request = lock.request(connection);
    dispatchFrame(programs, decodeHeader(frame), frame, request, log, outcome);
    request.take();
    if (!outcome.ok) throw new Error(`${outcome.procedure} failed`);
  };
  try {
    one(call(LockProcedure.REGISTER, encodeRegisterArgs({ owner: { uuid: Buffer.alloc(16, 1), name: 'vm', id: 1, pid: process.pid }, flags: 0 }), 1));
    const acquire = call(LockProcedure.ACQUIRE_RESOURCE, encodeResourceArgs({ path: '', name: file, flags: 0 }), 2);
    const release = call(LockProcedure.RELEASE_RESOURCE, encodeResourceArgs({ path: '', name: file, flags: 0 }), 3);
    for (let i = 0; i < 20_000; i++) one(acquire), one(release);
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const before = process.cpuUsage();
      for (let i = 0; i < CYCLES; i++) one(acquire), one(release);
      const used = process.cpuUsage(before);
      best = Math.min(best, (used.user + used.system) / CYCLES / 2);
    }
    process.stdout.write(`request path in-process: ${best.toFixed(2)} CPU µs per request (best of 5 rounds of ${CYCLES} ACQUIRE+RELEASE)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
