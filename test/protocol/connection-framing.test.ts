// The worker's Connection on a real unix stream socket: how it cuts the byte stream into frames (several
// in one read, one split across many, lengths it refuses), one request at a time, frames it peeks and
// leaves queued for the supervisor to consume, big frames read the consuming way within the frame budget,
// and the frame deadline.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import * as native from '../../src/shared/platform/native';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure } from '../../src/shared/protocol/lock-program';
import { MAX_FRAME_SIZE, MIN_FRAME_SIZE, MessageStatus, MessageType, encodeMessage, type MessageHeader } from '../../src/shared/protocol/message';
import { Connection, PEEK_LIMIT, type CloseReason } from '../../src/worker/rpc/connection';
import { FrameBudget, type FrameLimits } from '../../src/worker/rpc/frame-budget';
import { unixConnection, type UnixConnection } from '../fixtures/unix-connection';
import { calledOnce, sleep, waitFor, within } from '../fixtures/deadline';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'holdfast-connection-'));
const watcher = new native.EdgeWatcher();
after(() => {
  watcher.close();
  rmSync(dir, { recursive: true, force: true });
});

const LIMITS: FrameLimits = { maxBytesPerClient: 1024 * 1024, maxBytesTotal: 4 * 1024 * 1024, deadlineMs: 10_000 };

function call(serial: number, payload = Buffer.alloc(0)): Buffer {
  return encodeMessage({ prog: LOCK_PROGRAM, vers: LOCK_PROGRAM_VERSION, proc: LockProcedure.ACQUIRE_RESOURCE, type: MessageType.CALL, serial, status: MessageStatus.OK }, payload);
}

function lengthWord(length: number): Buffer {
  const word = Buffer.alloc(4);
  word.writeUInt32BE(length >>> 0, 0);
  return word;
}

interface Handed {
  header: MessageHeader;
  frame: Buffer;
  consume: number;
}

/**
 * A Connection on the accepted side of a real connection. It plays the supervisor too: what a handed-on
 * frame leaves queued (`consume`) is owed, and consumed from the socket when the connection asks for a
 * barrier, as custody does before a worker reads a socket from its head.
 */
interface Rig {
  conn: UnixConnection;
  connection: Connection;
  handed: Handed[];
  closed: Promise<CloseReason>;
  onClose: ReturnType<typeof calledOnce<[Connection, CloseReason]>>;
  budget: FrameBudget;
  barriers: number;
  /** Makes the handler return this promise for the next frame (one request at a time). */
  holdNext(until: Promise<void>): void;
  /** Consumes what the handed-on frames left queued (what custody does when it applies their commits). */
  consumeOwed(): void;
  /** Forgets what is owed: those requests were never committed (as if their worker died first). */
  forgetOwed(): void;
  end(): void;
}

async function rig(limits: FrameLimits = LIMITS): Promise<Rig> {
  const conn = await unixConnection(dir);
  const handed: Handed[] = [];
  let owed = 0;
  let hold: Promise<void> | null = null;
  let resolveClosed!: (reason: CloseReason) => void;
  const closed = new Promise<CloseReason>((resolve) => (resolveClosed = resolve));
  const onClose = calledOnce('onClose', (_c: Connection, reason: CloseReason) => resolveClosed(reason));
  const budget = new FrameBudget(limits);
  const consumeOwed = (): void => {
    const scratch = Buffer.alloc(64 * 1024);
    while (owed > 0) {
      const n = native.recv(conn.fd, scratch, 0, Math.min(owed, scratch.length), false);
      if (n === null || n === 0) throw new Error(`${owed} owed bytes are not in the socket`);
      owed -= n;
    }
  };
  const r: Rig = {
    conn,
    handed,
    closed,
    onClose,
    budget,
    barriers: 0,
    holdNext: (until) => (hold = until),
    consumeOwed,
    forgetOwed: () => (owed = 0),
    end: () => {
      if (!connection.closed) connection.close('server');
      conn.close();
    },
    connection: undefined as unknown as Connection,
  };
  const connection = new Connection(1, conn.fd, { pid: process.pid, uid: 0, gid: 0 }, Date.now(), {
    watcher,
    barrier: async () => {
      r.barriers++;
      consumeOwed();
    },
    onFrame: (_c, header, frame, consume) => {
      handed.push({ header, frame: Buffer.from(frame), consume });
      owed += consume;
      const h = hold;
      hold = null;
      return h ?? undefined;
    },
    onClose,
    budget,
    log,
  });
  r.connection = connection;
  connection.start();
  return r;
}

test('several frames in one write are handed on one by one, in order, each left queued for the supervisor', async () => {
  const r = await rig();
  try {
    const frames = [call(1), call(2, Buffer.alloc(8, 0xaa)), call(3, Buffer.alloc(100, 0xbb))];
    r.conn.peer.write(Buffer.concat(frames));
    await waitFor(() => r.handed.length === 3, 5_000, 'three frames');
    assert.deepEqual(r.handed.map((h) => h.header.serial), [1, 2, 3]);
    r.handed.forEach((h, i) => {
      assert.deepEqual(h.frame, frames[i], `frame ${i + 1} byte for byte`);
      assert.equal(h.consume, frames[i]!.length, 'peeked, not consumed: all of it is still queued');
    });
    assert.equal(native.queuedIn(r.conn.fd), frames.reduce((n, f) => n + f.length, 0), 'the worker consumed nothing');
  } finally {
    r.end();
  }
});

test('a frame split across many writes (inside the length word, the header and the payload) is handed on once, whole', async () => {
  const r = await rig();
  try {
    const frame = call(7, Buffer.alloc(300, 0xcd));
    const next = call(8);
    const cuts = [1, 3, 4, 10, 27, 28, 29, 200, frame.length - 1, frame.length];
    let from = 0;
    for (const cut of cuts) {
      r.conn.peer.write(frame.subarray(from, cut));
      from = cut;
      // Gives the connection a chance to read each piece on its own.
      await sleep(5);
    }
    r.conn.peer.write(next);
    await waitFor(() => r.handed.length === 2, 5_000, 'the split frame and the next');
    assert.deepEqual(r.handed[0]!.frame, frame, 'never handed on in part');
    assert.deepEqual(r.handed[1]!.frame, next);
    assert.equal(r.connection.closed, false);
  } finally {
    r.end();
  }
});

test('the next frame waits until the handler of the current one has finished', async () => {
  const r = await rig();
  try {
    let finish!: () => void;
    r.holdNext(new Promise<void>((resolve) => (finish = resolve)));
    const frames = [call(1), call(2)];
    r.conn.peer.write(Buffer.concat(frames));
    await waitFor(() => r.handed.length === 1, 5_000, 'the first frame');
    await waitFor(() => native.queuedIn(r.conn.fd) === frames[0]!.length + frames[1]!.length, 5_000, 'both frames queued');
    assert.equal(r.connection.busy, true);
    // The second frame is in the socket already and was read with the first: the connection would hand it on
    // in the same turn if it did not wait. 50 ms is many turns.
    await sleep(50);
    assert.equal(r.handed.length, 1, 'one request at a time');
    finish();
    await waitFor(() => r.handed.length === 2, 5_000, 'the second frame after the first finished');
    assert.equal(r.connection.busy, false);
  } finally {
    r.end();
  }
});

test('after a pause, start reads again from the head: what was handed on but not consumed comes again', async () => {
  const r = await rig();
  try {
    const first = call(1);
    r.conn.peer.write(first);
    await waitFor(() => r.handed.length === 1, 5_000, 'the frame');
    r.forgetOwed();
    r.connection.pause();
    r.connection.start();
    await waitFor(() => r.handed.length === 2, 5_000, 'the unconsumed frame again');
    assert.deepEqual(r.handed[1]!.frame, first);

    // Once consumed (its commit applied), it is gone for good: the next start sees only new frames.
    r.consumeOwed();
    r.connection.pause();
    r.connection.start();
    const second = call(2);
    r.conn.peer.write(second);
    await waitFor(() => r.handed.length === 3, 5_000, 'the new frame');
    assert.equal(r.handed[2]!.header.serial, 2);
  } finally {
    r.end();
  }
});

for (const [what, length] of [
  ['zero', 0],
  ['a bare length word (4)', 4],
  ['one byte short of a header (27)', MIN_FRAME_SIZE - 1],
  ['past the 32 MiB maximum', MAX_FRAME_SIZE + 1],
  ['0xffffffff', 0xffffffff],
  ['over max_frame_bytes_per_client', LIMITS.maxBytesPerClient + 1],
] as const) {
  test(`a length word of ${what} closes the connection as a protocol error, handing nothing on`, async () => {
    const r = await rig();
    try {
      r.conn.peer.write(Buffer.concat([lengthWord(length), Buffer.alloc(64, 1)]));
      assert.equal(await within(5_000, 'the close', r.closed), 'protocol');
      r.onClose.assertOnce();
      assert.equal(r.handed.length, 0);
      assert.equal(r.budget.held, 0);
      // Our fd is closed: the client sees the end of the connection.
      await within(5_000, 'the client to see the end', new Promise((resolve) => (r.conn.peer.closed ? resolve(null) : r.conn.peer.once('close', resolve))));
    } finally {
      r.end();
    }
  });
}

test('a header-only frame (the 28-byte minimum) is a frame', async () => {
  const r = await rig();
  try {
    const frame = call(5);
    assert.equal(frame.length, MIN_FRAME_SIZE);
    r.conn.peer.write(frame);
    await waitFor(() => r.handed.length === 1, 5_000, 'the frame');
    assert.equal(r.handed[0]!.header.serial, 5);
  } finally {
    r.end();
  }
});

test('the peer ending the stream mid-frame closes the connection as eof, handing nothing on', async () => {
  const r = await rig();
  try {
    const frame = call(9, Buffer.alloc(50));
    r.conn.peer.end(frame.subarray(0, 30));
    assert.equal(await within(5_000, 'the close', r.closed), 'eof');
    r.onClose.assertOnce();
    assert.equal(r.handed.length, 0);
  } finally {
    r.end();
  }
});

test('frames before the end of the stream are handed on, then the connection closes as eof', async () => {
  const r = await rig();
  try {
    r.conn.peer.end(Buffer.concat([call(1), call(2)]));
    assert.equal(await within(5_000, 'the close', r.closed), 'eof');
    assert.deepEqual(r.handed.map((h) => h.header.serial), [1, 2]);
  } finally {
    r.end();
  }
});

test('a started frame not completed within the frame deadline closes the connection', async () => {
  const deadlineMs = 200;
  const r = await rig({ ...LIMITS, deadlineMs });
  try {
    const started = Date.now();
    r.conn.peer.write(call(1, Buffer.alloc(40)).subarray(0, 20));
    assert.equal(await within(5_000, 'the close', r.closed), 'protocol');
    assert.ok(Date.now() - started >= deadlineMs - 20, `closed after ${Date.now() - started} ms, before the ${deadlineMs} ms deadline`);
    assert.equal(r.handed.length, 0);
  } finally {
    r.end();
  }
});

test('a frame bigger than the peek limit is read the consuming way after a barrier, inside the frame budget', async () => {
  const r = await rig();
  try {
    const small = call(1);
    const big = call(2, Buffer.alloc(PEEK_LIMIT + 1000, 0x5a));
    r.conn.peer.write(Buffer.concat([small, big]));
    await waitFor(() => r.handed.length === 2, 10_000, 'both frames');
    assert.equal(r.handed[0]!.consume, small.length, 'the small one is peeked');
    assert.deepEqual(r.handed[1]!.frame, big, 'the big one whole');
    assert.equal(r.handed[1]!.consume, 0, 'the big one is already consumed');
    assert.ok(r.barriers >= 1, 'the earlier request was consumed before the big frame was');
    assert.equal(r.budget.held, 0, 'its budget is given back');
    assert.equal(native.queuedIn(r.conn.fd), 0);
  } finally {
    r.end();
  }
});

test('a big frame that does not fit the total frame budget closes the connection', async () => {
  const r = await rig({ ...LIMITS, maxBytesTotal: PEEK_LIMIT });
  try {
    r.conn.peer.write(call(1, Buffer.alloc(PEEK_LIMIT + 1000)).subarray(0, 64));
    assert.equal(await within(5_000, 'the close', r.closed), 'protocol');
    assert.equal(r.budget.held, 0);
    assert.equal(r.handed.length, 0);
  } finally {
    r.end();
  }
});

test('close closes the fd once and tells the server once, whatever follows', async () => {
  const r = await rig();
  try {
    r.connection.close('server');
    assert.throws(() => native.getCloexec(r.conn.fd), /EBADF/, 'our fd is closed');
    r.connection.close('error');
    assert.equal(await within(5_000, 'the close', r.closed), 'server');
    r.onClose.assertOnce();
    r.connection.start();
    r.onClose.assertOnce();
  } finally {
    r.end();
  }
});
