// Bounded fuzzing of the worker's framing and decoding: random and half-valid frames from hostile
// connections must never crash or stall the daemon, drop a lock, or leak an fd.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { LockClient } from '../../src/client/lock-client';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure, encodeResourceArgs } from '../../src/shared/protocol/lock-program';
import { MessageStatus, MessageType, encodeMessage } from '../../src/shared/protocol/message';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { settleFdCount, steadyFdCount, workerPid } from '../fixtures/process-info';

const RUNS = Number(process.env.HOLDFAST_FUZZ_RUNS ?? 400);
const SEED = Number(process.env.HOLDFAST_FUZZ_SEED ?? Date.now() % 2 ** 31);

let dir: string;
let daemon: HoldfastHandle;
let keeper: LockClient;
let disk: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-fuzz-'));
  daemon = await startHoldfast({ dir });
  disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  keeper = await LockClient.connect(daemon.socket);
  // A pid that is not ours, so nothing is ever killed; the lock must simply stay.
  await keeper.register({ uuid: '00000000-0000-4000-8000-0000000f0220', name: 'keeper', id: 1, pid: 0x7ffff100 });
  await keeper.acquire('', disk, 0);
});

after(async () => {
  await keeper?.close();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });

/** A header whose fields are each sometimes right, sometimes wrong. */
const header = fc.record({
  prog: fc.oneof(fc.constant(LOCK_PROGRAM), u32),
  vers: fc.oneof(fc.constant(LOCK_PROGRAM_VERSION), u32),
  proc: fc.oneof(fc.integer({ min: -2, max: 12 }), i32),
  type: fc.oneof(fc.constant(MessageType.CALL), fc.integer({ min: 0, max: 8 }), i32),
  serial: u32,
  status: fc.oneof(fc.constant(MessageStatus.OK), fc.integer({ min: 0, max: 3 }), i32),
});

const relativePath = fc.string({ maxLength: 40 }).map((s) => s.replace(/\.\./g, '').replace(/^\/+/, ''));

const payload = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  // A well-formed ACQUIRE payload, so some frames get as far as the handlers.
  // Paths stay relative and below the daemon's cwd (the temp dir): CREATE_LOCKSPACE makes directories.
  fc.tuple(relativePath, fc.string({ maxLength: 40 }), u32).map(([path, name, flags]) => encodeResourceArgs({ path, name, flags })),
  // A string whose declared length runs past the end.
  fc.tuple(u32, fc.uint8Array({ maxLength: 16 })).map(([len, rest]) => {
    const b = Buffer.alloc(4 + rest.length);
    b.writeUInt32BE(len, 0);
    Buffer.from(rest).copy(b, 4);
    return b;
  }),
);

/** Bytes one hostile connection sends, possibly in several writes. */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 256 }).map((a) => [Buffer.from(a)]),
  fc.tuple(header, payload).map(([h, p]) => [encodeMessage(h, p)]),
  // Lying length words: too small, too large, or longer than what follows.
  fc.tuple(fc.oneof(fc.integer({ min: 0, max: 27 }), fc.integer({ min: 16 * 1024 * 1024, max: 0xffffffff }), fc.integer({ min: 28, max: 4096 })), header, payload).map(([len, h, p]) => {
    const frame = encodeMessage(h, p);
    frame.writeUInt32BE(len >>> 0, 0);
    return [frame];
  }),
  // A valid call split at random points, followed by garbage.
  fc.tuple(header, payload, fc.array(fc.nat(), { maxLength: 4 }), fc.uint8Array({ maxLength: 32 })).map(([h, p, cuts, tail]) => {
    const frame = Buffer.concat([encodeMessage(h, p), Buffer.from(tail)]);
    const points = [...new Set(cuts.map((c) => c % (frame.length + 1)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let at = 0;
    for (const point of points) {
      parts.push(frame.subarray(at, point));
      at = point;
    }
    parts.push(frame.subarray(at));
    return parts.filter((part) => part.length > 0);
  }),
);

/** Sends the parts, half-closes, and waits until the daemon closes its side (it must, on EOF). */
function sendHostile(socket: string, parts: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error('daemon did not close a hostile connection after EOF within 5 s'));
    }, 5000);
    conn.on('data', () => undefined);
    conn.on('error', () => undefined);
    conn.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    conn.on('connect', async () => {
      for (const part of parts) {
        if (!conn.writable) break;
        conn.write(part);
        await new Promise((r) => setImmediate(r));
      }
      conn.end();
    });
  });
}

test(`malformed frames (${RUNS} runs, seed ${SEED}) leave the worker serving, the lock held and no fd leaked`, async (t) => {
  const worker = await workerPid(daemon.pid);
  const baseline = await steadyFdCount(worker);
  t.diagnostic(`worker ${worker}: ${baseline} fds before fuzzing; replay with HOLDFAST_FUZZ_SEED=${SEED}`);

  await fc.assert(
    fc.asyncProperty(hostileBytes, async (parts) => {
      await sendHostile(daemon.socket, parts);
    }),
    { numRuns: RUNS, seed: SEED },
  );

  // The same worker still answers a well-formed request on a connection opened before the storm.
  assert.equal(await workerPid(daemon.pid), worker, 'the worker was replaced: it crashed');
  await keeper.createLockspace('');
  // Another well-formed request on a fresh connection.
  const fresh = await LockClient.connect(daemon.socket);
  await fresh.register({ uuid: '00000000-0000-4000-8000-0000000f0221', name: 'fresh', id: 2, pid: 0x7ffff101 });
  await assert.rejects(fresh.acquire('', disk, 0), (err: { code?: number }) => err.code === 87, 'the lock must still be held');
  await fresh.close();

  const probe = await probeLock(disk);
  assert.equal(probe.ofd.canWrite, false, 'another process could take a write lock: the lock was dropped');
  assert.equal(probe.posix.canWrite, false, 'a POSIX lock could be taken: the lock was dropped');

  const settled = await settleFdCount(worker, baseline);
  assert.equal(settled, baseline, `worker has ${settled} fds after fuzzing, ${baseline} before`);
});

test('an oversized length word gets the connection dropped, not a stalled daemon', async () => {
  const frame = encodeMessage(
    { prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc: LockProcedure.ACQUIRE_RESOURCE, type: MessageType.CALL, serial: 1, status: MessageStatus.OK },
    Buffer.alloc(0),
  );
  frame.writeUInt32BE(0xffffffff, 0);
  const closed = await new Promise<boolean>((resolve) => {
    const conn = net.connect(daemon.socket, () => conn.write(frame));
    conn.on('error', () => undefined);
    conn.on('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000);
  });
  assert.ok(closed, 'daemon kept a connection that announced a 4 GiB frame');
  await keeper.createLockspace('');
});
