// The worker's one-call turn (native/turn.c) on real sockets and a real pipe: the reply batch goes into the
// pipe, the commit onto the control channel, and only a commit the kernel queued lets any reply leave.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as native from '../../src/shared/platform/native';
import { encodeBatchHeader, REPLY_BATCH_HEADER_BYTES } from '../../src/shared/custody/reply-batch';
import { sleep, waitFor } from '../fixtures/deadline';
import { unixConnection, type UnixConnection } from '../fixtures/unix-connection';

const dir = mkdtempSync(join(tmpdir(), 'holdfast-commit-turn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EAGAIN = 11;

interface Turn {
  control: number;
  peer: number;
  pipe: { read: number; write: number; capacity: number };
  close(): void;
}

function turnRig(): Turn {
  const [control, peer] = native.socketpairSeqpacket();
  const pipe = native.pipe(64 * 1024);
  return {
    control, peer, pipe,
    close: () => [control, peer, pipe.read, pipe.write].forEach((fd) => native.close(fd)),
  };
}

/** Runs one turn that sends `replies` to `conns` (in order) behind batch `batch`, committing `frame` with `fds`. */
function commitTurn(t: Turn, conns: UnixConnection[], replies: Buffer[], frame: Buffer, fds: number[] = [], outcomes = new Int32Array(replies.length)): true | null {
  const total = replies.reduce((n, r) => n + r.length, 0);
  const targets = new Int32Array(2 * replies.length);
  replies.forEach((r, i) => {
    targets[2 * i] = conns[i]!.fd;
    targets[2 * i + 1] = r.length;
  });
  const batch = replies.length > 0 ? [encodeBatchHeader(7, total, replies.length), ...replies] : [];
  return native.commitTurn(t.pipe.write, t.pipe.read, t.control, batch, batch.length > 0 ? REPLY_BATCH_HEADER_BYTES : 0, frame, fds, targets, replies.length, outcomes);
}

/** Every datagram queued for `fd`, with the fds that came along (closed here). */
function drain(fd: number): Array<{ data: string; fds: number }> {
  const out: Array<{ data: string; fds: number }> = [];
  for (let m = native.recvWithFds(fd, 256 * 1024); m !== null; m = native.recvWithFds(fd, 256 * 1024)) {
    out.push({ data: m.data.toString(), fds: m.fds.length });
    m.fds.forEach((f) => native.close(f));
  }
  return out;
}

test('a queued commit lets every reply leave: header skipped, replies spliced in order, the pipe left empty', async () => {
  const t = turnRig();
  const a = await unixConnection(dir);
  const b = await unixConnection(dir);
  try {
    const passed = native.dupCloexec(a.fd);
    const outcomes = new Int32Array([-1, -1]);
    assert.equal(commitTurn(t, [a, b, a], [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')], Buffer.from('commit'), [passed], new Int32Array(3).fill(-1)), true);
    native.close(passed);
    assert.deepEqual(drain(t.peer), [{ data: 'commit', fds: 1 }]);
    await waitFor(() => a.received().toString() === 'onethree' && b.received().toString() === 'two', 5_000, 'the replies at their clients');
    assert.equal(native.queuedIn(t.pipe.read), 0, 'nothing left in the pipe');
    // Without replies it is a plain commit.
    assert.equal(commitTurn(t, [], [], Buffer.from('bare'), [], outcomes), true);
    assert.deepEqual(drain(t.peer), [{ data: 'bare', fds: 0 }]);
  } finally {
    for (const c of [a, b]) {
      c.close();
      native.close(c.fd);
    }
    t.close();
  }
});

test('a commit the control channel cannot take now sends no reply: the pipe keeps the whole batch', async () => {
  const t = turnRig();
  const a = await unixConnection(dir);
  try {
    // The supervisor does not read: fill its queue until sendmsg would block.
    let filler = 0;
    while (native.sendWithFds(t.control, Buffer.from('filler'), []) !== null && filler < 1_000_000) filler++;
    assert.ok(filler < 1_000_000, 'the queue never filled');
    const replies = [Buffer.from('held back'), Buffer.from('and this')];
    const outcomes = new Int32Array([-5, -5]);
    assert.equal(commitTurn(t, [a, a], replies, Buffer.from('commit')), null);
    assert.deepEqual([...outcomes], [-5, -5], 'no outcome reported for a turn that sent nothing');
    await sleep(50);
    assert.equal(a.received().length, 0, 'no reply before its commit is queued');
    const left = Buffer.alloc(64 * 1024);
    const n = native.read(t.pipe.read, left, 0, left.length)!;
    assert.deepEqual(left.subarray(0, n), Buffer.concat([encodeBatchHeader(7, 17, 2), ...replies]), 'the pipe holds the batch, header first');
    const queued = drain(t.peer);
    assert.equal(queued.length, filler, 'the commit did not reach the queue');
    assert.ok(queued.every((m) => m.data === 'filler'));
  } finally {
    a.close();
    native.close(a.fd);
    t.close();
  }
});

test('a client that is gone loses only its own reply, whose bytes leave the pipe; one with a full socket the same', async () => {
  const t = turnRig();
  const gone = await unixConnection(dir);
  const full = await unixConnection(dir);
  const live = await unixConnection(dir);
  try {
    gone.close();
    // A client that reads nothing: fill its socket until a write would block.
    full.peer.pause();
    const chunk = Buffer.alloc(64 * 1024);
    while (native.write(full.fd, chunk, 0, chunk.length) !== null);
    const outcomes = new Int32Array(3).fill(-1);
    assert.equal(commitTurn(t, [gone, full, live], [Buffer.from('lost'), Buffer.from('stuck'), Buffer.from('kept')], Buffer.from('commit'), [], outcomes), true);
    assert.notEqual(outcomes[0], 0, 'the departed client is reported');
    assert.notEqual(outcomes[0], EAGAIN);
    assert.equal(outcomes[1], EAGAIN, 'the full socket is reported as such');
    assert.equal(outcomes[2], 0);
    await waitFor(() => live.received().toString() === 'kept', 5_000, 'the live client\'s reply');
    assert.equal(native.queuedIn(t.pipe.read), 0, 'the undelivered bytes left the pipe too');
  } finally {
    for (const c of [gone, full, live]) {
      c.close();
      native.close(c.fd);
    }
    t.close();
  }
});

test('a batch whose replies do not add up is refused before anything is written or sent', async () => {
  const t = turnRig();
  const a = await unixConnection(dir);
  try {
    const header = encodeBatchHeader(1, 3, 1);
    assert.throws(
      () => native.commitTurn(t.pipe.write, t.pipe.read, t.control, [header, Buffer.from('abc')], REPLY_BATCH_HEADER_BYTES, Buffer.from('c'), [], new Int32Array([a.fd, 4]), 1, new Int32Array(1)),
      (err: native.SyscallError) => err.code === 'EINVAL',
    );
    assert.equal(native.queuedIn(t.pipe.read), 0);
    assert.deepEqual(drain(t.peer), []);
  } finally {
    a.close();
    native.close(a.fd);
    t.close();
  }
});
