// The worker's side of custody over a real control channel (a SEQPACKET socketpair), a real reply pipe
// and real client sockets: what a commit carries, batching, acknowledgements, and the reply path's order —
// a reply reaches its client only once the commit that files its effect is in the supervisor's queue.
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { ControlChannel } from '../../src/shared/custody/channel';
import {
  isSupervisorMessage, isWorkerMessage, type CommitMessage, type SupervisorMessage, type WorkerMessage,
} from '../../src/shared/custody/messages';
import { clientKey } from '../../src/shared/custody/records/client-record';
import { resourceKey, type ResourceRecord } from '../../src/shared/custody/records/resource-record';
import * as native from '../../src/shared/platform/native';
import { CustodyLink, type ReplyPipe, type ReplyTarget } from '../../src/worker/custody-link';
import { sleep, waitFor, within } from '../fixtures/deadline';
import { unixConnection, type UnixConnection } from '../fixtures/unix-connection';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'holdfast-custody-link-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PIPE_REPLY_MAX = 16 * 1024;

/** Both ends of a control channel: the worker's (driving a CustodyLink) and the supervisor's (recording). */
interface Rig {
  link: CustodyLink;
  worker: ControlChannel<SupervisorMessage, WorkerMessage>;
  supervisor: ControlChannel<WorkerMessage, SupervisorMessage>;
  supervisorFd: number;
  /** Commits the supervisor received, with the fds that came with each. */
  commits: Array<{ message: CommitMessage; fds: number[] }>;
  pipe: ReplyPipe;
  close(): void;
}

function rig(withPipe = true): Rig {
  const [workerFd, supervisorFd] = native.socketpairSeqpacket();
  const commits: Rig['commits'] = [];
  const supervisor = new ControlChannel<WorkerMessage, SupervisorMessage>(supervisorFd, isWorkerMessage, {
    message: (message, fds) => {
      if (message.type === 'commit') commits.push({ message, fds });
      else fds.forEach((fd) => native.close(fd));
    },
    close: () => undefined,
  }, log);
  let link: CustodyLink | null = null;
  // The worker's router: a `committed` goes to the link, as in the worker's main loop.
  const worker = new ControlChannel<SupervisorMessage, WorkerMessage>(workerFd, isSupervisorMessage, {
    message: (message) => {
      if (message.type === 'committed') link!.acknowledge(message.seqs);
    },
    close: () => undefined,
  }, log);
  link = new CustodyLink(worker, log);
  const pipe = native.pipe(64 * 1024);
  if (withPipe) link.usePipe(pipe);
  return {
    link, worker, supervisor, supervisorFd, commits, pipe,
    close: () => {
      for (const c of commits) c.fds.forEach((fd) => native.close(fd));
      worker.close();
      supervisor.close();
      native.close(pipe.read);
      native.close(pipe.write);
    },
  };
}

function target(conn: UnixConnection, id: number, consume = 0): ReplyTarget {
  return { client: clientKey('virtlockd', id), fd: conn.fd, consume, output: { outputSinceCheck: 0 } };
}

function resource(name: string): ResourceRecord {
  return { kind: 'resource', lockspace: '', name, path: name, flags: 0, owners: [1], acquiredAt: 1, lockKind: 'ofd' };
}

/** Resolves-flag of a promise, to see whether it has settled yet. */
function settled(promise: Promise<unknown>): () => boolean {
  let done = false;
  void promise.then(() => (done = true));
  return () => done;
}

test('a commit carries its changes and fds; the supervisor gets its own working copy of each fd', async () => {
  const r = rig();
  const file = join(dir, 'held');
  writeFileSync(file, '');
  const fd = openSync(file, 'r+');
  try {
    await within(5_000, 'commit', r.link.commit([
      { op: 'put', record: resource('a'), fd },
      { op: 'put', record: resource('b'), fd: null },
      { op: 'join', key: resourceKey('', 'b'), pid: 2 },
      { op: 'drop', key: resourceKey('', 'c') },
    ], null, null));
    await waitFor(() => r.commits.length === 1, 5_000, 'the commit at the supervisor');
    const { message, fds } = r.commits[0]!;
    assert.equal(message.batch, null, 'no reply, no pipe batch');
    assert.equal(message.entries.length, 1);
    assert.deepEqual(message.entries[0]!.ops, [
      { op: 'put', record: resource('a'), fdIndex: 0 },
      { op: 'put', record: resource('b'), fdIndex: null },
      { op: 'join', key: resourceKey('', 'b'), pid: 2 },
      { op: 'drop', key: resourceKey('', 'c') },
    ]);
    assert.equal(message.entries[0]!.reply, null);
    assert.equal(message.entries[0]!.ack, false);
    assert.equal(fds.length, 1);
    assert.notEqual(fds[0], fd, 'a copy, not our number');
    assert.equal(fstatSync(fds[0]!).ino, fstatSync(fd).ino, 'the same file');
  } finally {
    closeSync(fd);
    r.close();
  }
});

test('commits of one turn go as one datagram, entries in order; a barrier resolves only on its acknowledgement', async () => {
  const r = rig();
  try {
    const first = r.link.commit([{ op: 'put', record: resource('a'), fd: null }], null, null);
    const second = r.link.commit([{ op: 'put', record: resource('b'), fd: null }], null, null);
    const barrier = r.link.barrier();
    const barrierDone = settled(barrier);
    await within(5_000, 'the two commits', Promise.all([first, second]));
    await waitFor(() => r.commits.length === 1, 5_000, 'the batch at the supervisor');
    const entries = r.commits[0]!.message.entries;
    assert.deepEqual(entries.map((e) => e.ack), [false, false, true]);
    assert.ok(entries[0]!.seq < entries[1]!.seq && entries[1]!.seq < entries[2]!.seq, 'sequence numbers rise');
    assert.equal(r.link.inFlight, 1, 'the barrier waits for its acknowledgement');

    // An acknowledgement of another entry resolves nothing; the right one resolves the barrier.
    r.supervisor.send({ type: 'committed', seqs: [entries[0]!.seq + 1000] });
    r.supervisor.send({ type: 'committed', seqs: [entries[2]!.seq] });
    await within(5_000, 'the barrier', barrier);
    assert.equal(barrierDone(), true);
    assert.equal(r.link.inFlight, 0);
  } finally {
    r.close();
  }
});

test('a small reply goes through the pipe and reaches its client once the commit is in the supervisor\'s queue', async () => {
  const r = rig();
  const conn = await unixConnection(dir);
  try {
    // While the supervisor does not read, its queue still takes the commit: the reply may go.
    r.supervisor.pauseReading();
    const reply = Buffer.from('reply bytes');
    await within(5_000, 'the reply delivered', r.link.commit([{ op: 'put', record: resource('a'), fd: null }], reply, target(conn, 1, 28)));
    assert.ok(native.queuedIn(r.supervisorFd) > 0, 'the commit sits in the supervisor\'s queue');
    await waitFor(() => conn.received().equals(reply), 5_000, 'the reply at the client');
    assert.equal(native.read(r.pipe.read, Buffer.alloc(1), 0, 1), null, 'the pipe is empty again');

    r.supervisor.resumeReading();
    await waitFor(() => r.commits.length === 1, 5_000, 'the commit');
    const { message } = r.commits[0]!;
    assert.equal(typeof message.batch, 'number');
    assert.deepEqual(message.entries[0]!.reply, { client: clientKey('virtlockd', 1), consume: 28, piped: reply.length, data: '' });
    assert.equal(message.entries[0]!.ack, false);
  } finally {
    conn.close();
    native.close(conn.fd);
    r.close();
  }
});

/**
 * With the supervisor not reading and its queue filled by `fill`, a committed reply stays back; once the
 * supervisor reads, the reply follows its commit and the batch leaves the pipe.
 */
async function replyWaitsForTheSupervisor(fill: (r: Rig) => number): Promise<void> {
  const r = rig();
  const conn = await unixConnection(dir);
  try {
    r.supervisor.pauseReading();
    assert.ok(fill(r) < 100_000, 'the queue never filled');
    const delivered = r.link.commit([], Buffer.from('held back'), target(conn, 2));
    const deliveredYet = settled(delivered);
    // The link delivers in the turn after a commit lands in the kernel; 200 ms is many turns, and nothing
    // drains the supervisor's queue meanwhile.
    await sleep(200);
    assert.equal(deliveredYet(), false);
    assert.equal(conn.received().length, 0, 'no reply before its commit is queued');

    r.supervisor.resumeReading();
    await within(5_000, 'the reply once the supervisor reads', delivered);
    await waitFor(() => conn.received().toString() === 'held back', 5_000, 'the reply at the client');
    await waitFor(() => r.commits.length === 1, 5_000, 'the commit');
    assert.equal(native.queuedIn(r.pipe.read), 0, 'the batch left the pipe, header included');
  } finally {
    conn.close();
    native.close(conn.fd);
    r.close();
  }
}

test('no reply leaves while the commit cannot reach the supervisor\'s queue', async () => {
  // Fill the supervisor's queue until the worker's channel has to hold messages back.
  await replyWaitsForTheSupervisor((r) => {
    let filler = 0;
    while (r.worker.send({ type: 'pong' }) && filler < 100_000) filler++;
    return filler;
  });
});

test('no reply leaves while the kernel refuses the commit of a one-call turn; it follows once the supervisor reads', async () => {
  // Fill the supervisor's socket queue behind the channel's back: the channel itself holds nothing, so the
  // turn goes out in one native call, whose sendmsg then finds no room.
  await replyWaitsForTheSupervisor((r) => {
    const pong = Buffer.from(JSON.stringify({ type: 'pong' }));
    let filler = 0;
    while (native.sendWithFds(r.worker.fd, pong, []) !== null && filler < 100_000) filler++;
    return filler;
  });
});

test('submit calls back once the reply is out, without a Promise', async () => {
  const r = rig();
  const conn = await unixConnection(dir);
  try {
    let calls = 0;
    r.link.submit([], Buffer.from('answer'), target(conn, 5), () => calls++);
    r.link.submit([], null, null);
    await waitFor(() => calls === 1 && conn.received().toString() === 'answer', 5_000, 'the reply and its callback');
    await waitFor(() => r.commits.length === 1, 5_000, 'one commit for both');
    assert.equal(r.commits[0]!.message.entries.length, 2);
  } finally {
    conn.close();
    native.close(conn.fd);
    r.close();
  }
});

test('a reply too big for the pipe, or any reply without a pipe, is sent inline and waits for its acknowledgement', async () => {
  for (const withPipe of [true, false]) {
    const r = rig(withPipe);
    const conn = await unixConnection(dir);
    try {
      const reply = Buffer.alloc(withPipe ? PIPE_REPLY_MAX + 1 : 10, 9);
      const done = r.link.commit([], reply, target(conn, 3, 4));
      const doneYet = settled(done);
      await waitFor(() => r.commits.length === 1, 5_000, 'the commit');
      const entry = r.commits[0]!.message.entries[0]!;
      assert.equal(r.commits[0]!.message.batch, null, `nothing piped (pipe: ${withPipe})`);
      assert.deepEqual(entry.reply, { client: clientKey('virtlockd', 3), consume: 4, piped: 0, data: reply.toString('base64') });
      assert.equal(entry.ack, true, 'the supervisor writes it: the worker waits for its word');
      assert.equal(doneYet(), false);
      assert.equal(conn.received().length, 0, 'the worker itself sends nothing');
      r.supervisor.send({ type: 'committed', seqs: [entry.seq] });
      await within(5_000, 'the acknowledged commit', done);
    } finally {
      conn.close();
      native.close(conn.fd);
      r.close();
    }
  }
});

test('replies of one batch reach each client in order; a client that is gone loses only its own reply', async () => {
  const r = rig();
  const a = await unixConnection(dir);
  const gone = await unixConnection(dir);
  const b = await unixConnection(dir);
  try {
    gone.close();
    await waitFor(() => native.recv(gone.fd, Buffer.alloc(1), 0, 1, true) === 0, 5_000, 'the hang-up seen by the daemon side');
    const all = Promise.all([
      r.link.commit([], Buffer.from('a1,'), target(a, 10)),
      r.link.commit([], Buffer.from('lost'), target(gone, 11)),
      r.link.commit([], Buffer.from('b1'), target(b, 12)),
      r.link.commit([], Buffer.from('a2'), target(a, 10)),
    ]);
    await within(5_000, 'every reply settled', all);
    await waitFor(() => a.received().toString() === 'a1,a2' && b.received().toString() === 'b1', 5_000,
      () => `the replies (a: ${JSON.stringify(a.received().toString())}, b: ${JSON.stringify(b.received().toString())})`);
    assert.equal(native.read(r.pipe.read, Buffer.alloc(1), 0, 1), null, 'the lost reply left the pipe too');
    await waitFor(() => r.commits.length === 1, 5_000, 'the commit');
    const { message } = r.commits[0]!;
    assert.equal(typeof message.batch, 'number', 'one pipe batch');
    assert.deepEqual(message.entries.map((e) => [e.reply?.client, e.reply?.piped]), [
      [clientKey('virtlockd', 10), 3], [clientKey('virtlockd', 11), 4], [clientKey('virtlockd', 12), 2], [clientKey('virtlockd', 10), 2],
    ]);
  } finally {
    for (const c of [a, gone, b]) {
      c.close();
      native.close(c.fd);
    }
    r.close();
  }
});
